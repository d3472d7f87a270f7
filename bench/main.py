"""``python -m bench``: parse the knobs, check prerequisites, run the selected phases, print the report.

Every server listens on 127.0.0.1; all load goes to loopback. Every step runs under a time limit in its
own process group, and everything started is stopped on exit (end, error, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bench import about, report
from bench.context import Context, say
from bench.phases import (
    cold,
    install,
    nodes,
    prepare_big,
    profile,
    project_list,
    soak,
    warm,
    warm_under_cold,
    wheel,
)
from bench.policies import write_policies
from bench.procs import Fatal
from bench.results import RunInfo
from bench.servers import Mirror, Nginx, Peer, devpi, proxpi
from bench.settings import REPO, Settings, SettingsError

#: The phases that start their own servers, in the order they run (after the main-mirror phases).
INDEPENDENT: dict[str, Callable[[Context], None]] = {
    "prepare-big": prepare_big.run, "warm-under-cold": warm_under_cold.run,
    "project-list": project_list.run, "install": install.run, "nodes": nodes.run,
}


def preflight(ctx: Context) -> None:
    """Fatal, before anything starts, when a tool or file a selected phase needs is missing."""
    s = ctx.settings
    tools = ["curl", "timeout", "ps", "bash"]
    if s.main_mirror or s.has("nodes"):
        tools.append("wrk")
    for tool in tools:
        if shutil.which(tool) is None:
            ctx.die(f"'{tool}' is not installed" + (" (apt-get install -y wrk)" if tool == "wrk" else ""))
    scripts = ["start_proxpi.sh", "start_devpi.sh"] if s.main_mirror or s.has("cold") else []
    if s.main_mirror:
        scripts += ["bench_simple.sh", "bench_wheel.sh"]
    for script in scripts:
        if not (s.peers / script).is_file():
            ctx.die(f"{s.peers / script} is missing (PEERS_DIR is {s.peers})")
    if s.with_nginx and s.main_mirror and shutil.which("nginx") is None:
        ctx.die("WITH_NGINX=1 but nginx is not installed: apt-get install -y nginx")
    if s.has("install") and not s.install_set.is_file():
        ctx.die(f"{s.install_set} is missing")
    ran = subprocess.run([ctx.python, "-m", "mirror", "serve", "--help"], cwd=REPO, capture_output=True, timeout=60)
    if ran.returncode != 0:
        ctx.die(f"'{ctx.python} -m mirror serve --help' fails: set PYTHON to the project's venv python")


def main_mirror_phases(ctx: Context) -> None:
    """warm, wheel, profile and soak on one mirror per WORKERS count (same storage), against the real
    upstream; the peers and nginx run next to the first one only. Fatal when a mirror does not start."""
    s = ctx.settings
    peers: list[Peer] = []
    px, dp = proxpi(ctx), devpi(ctx)
    nginx = Nginx(ctx) if s.with_nginx and (s.has("warm") or s.has("wheel")) else None
    storage, policies = ctx.tmp / "main" / "storage", ctx.tmp / "main" / "policies"
    write_policies(policies, s.projects)
    upstream_env = None if s.upstream == "pypi" else s.upstream
    mirror: Mirror | None = None
    try:
        for i, workers in enumerate(s.workers):
            first, last = i == 0, i == len(s.workers) - 1
            mirror = Mirror(ctx, f"w{workers}", workers=workers, upstream=s.upstream, storage=storage,
                            policies=policies)
            mirror.start()
            if first and (s.has("warm") or s.has("wheel")):
                for flag, peer in ((s.with_proxpi, px), (s.with_devpi, dp)):
                    if flag:
                        peer.start(upstream=upstream_env)
                        peers.append(peer)
                if nginx is not None:
                    nginx.start()
            if s.has("warm"):
                pins = warm.run(ctx, mirror, s.tiers if first else s.more_workers_tiers, peers, nginx, first, policies)
                if first:
                    big = max(s.projects, key=lambda p: ctx.results.page_versions.get(p, 0))
                    warm.policy_change_check(ctx, mirror, policies, pins, big)
            if s.has("wheel"):
                servers = [(f"mirror w{workers}", mirror.index("all"))]
                if first:
                    servers += [(p.name, p.base) for p in peers if p.base]
                wheel.run(ctx, servers, nginx)
            if s.has("profile") and first:
                profile.run(ctx, mirror)
            if s.has("soak") and last:
                soak.run(ctx, mirror)
            if first:  # the peers' part is over: free their memory and CPU
                for p in peers:
                    p.stop()
                if nginx is not None:
                    nginx.stop()
            mirror.stop()
            mirror = None
    finally:
        if mirror is not None:
            mirror.stop()
        for p in (px, dp):
            p.stop()
        if nginx is not None:
            nginx.stop()


def _independent(ctx: Context, name: str, fn: Callable[[], None]) -> None:
    """Run a phase that starts its own servers; a failure is a note, and the next phase still runs."""
    try:
        fn()
    except (Fatal, OSError) as exc:
        ctx.note(f"phase {name} failed: {exc}")


def _run(ctx: Context) -> int:
    s = ctx.settings
    started = time.monotonic()
    load_start = about.load_average()
    try:
        preflight(ctx)
        ctx.rss.start()
        say(f"phases: {' '.join(s.phases)} | projects: {' '.join(s.projects)} | tiers: {' '.join(s.tiers)} | "
            f"workers: {' '.join(map(str, s.workers))} | wrk c={s.conns} t={s.threads} d={s.duration} | "
            f"capped at {s.max_runtime}s | logs: {ctx.tmp}")
        if s.main_mirror:
            main_mirror_phases(ctx)
    except Fatal as exc:
        say(f"ERROR: {exc}")
        return 1
    if s.has("cold"):
        _independent(ctx, "cold", functools.partial(cold.run, ctx, proxpi(ctx) if s.with_proxpi else None))
    for name, fn in INDEPENDENT.items():
        if s.has(name):
            _independent(ctx, name, functools.partial(fn, ctx))
    ctx.rss.stopped.set()
    ctx.results.rss_peak_mb.update(ctx.rss.peaks_mb())
    info = RunInfo(date=f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC}", machine=platform.machine(), cores=os.cpu_count(),
                   versions=about.versions(ctx), load_start=load_start, load_end=about.load_average(),
                   elapsed_s=time.monotonic() - started)
    text = report.document(ctx.results, s, info)
    print()
    print(text, flush=True)
    if s.record:
        if not s.results_file.exists() or not s.results_file.read_text().strip():
            s.results_file.write_text("# Benchmark results\n\nAppended by `RECORD=1 bench/run.sh` (see README.md). "
                                      "Compare ratios within one run, not absolute numbers across runs.\n")
        with open(s.results_file, "a") as fh:
            fh.write("\n" + text)
        say(f"appended to {s.results_file}")
    return 1 if report.missing_phases(ctx.results, s.phases) else 0


def _on_signal(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """The exit code: 0 when every selected phase measured something, 1 otherwise, 2 on a bad knob."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0],
                                     epilog="Every knob is an environment variable: see bench/README.md.")
    parser.parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        say(f"ERROR: {exc}")
        return 2
    signal.signal(signal.SIGTERM, _on_signal)
    ctx = Context.create(settings)
    try:
        return _run(ctx)
    except KeyboardInterrupt as exc:
        say(f"interrupted ({exc})")
        return 130
    finally:
        ctx.close()
