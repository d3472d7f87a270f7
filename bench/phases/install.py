"""Phase "install" (also "cold-install"): ``pip install`` and ``uv pip install`` of INSTALL_SET directly
from the upstream index, then through a fresh mirror (cold cache), again (warm) and once more.

Each install: a fresh ``--target`` dir and no installer cache, ``PIP_CONFIG_FILE=/dev/null``,
``UV_NO_CONFIG=1``, no ``PIP_*``/``UV_*`` variables, ``--index-url`` the only index. The cold install is
measured once more through a mirror with the page prefetch on (off by default), to show what prefetching would buy,
and once more under py-spy (not counted), to show which parts of the mirror its time goes to.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

from bench.context import Context
from bench.net import JSON_ACCEPT
from bench.numbers import prepare_ms
from bench.procs import tail, tree_cpu
from bench.profiling import Spy, summarize_parts
from bench.servers import Mirror
from bench.tools import clean_env, direct_index, fetch_page, uv_bin


def install(ctx: Context, tool: str, index_url: str, label: str, mirror: Mirror | None = None) -> dict[str, Any] | None:
    """One isolated install of the set into a fresh target dir, with no installer cache.

    Returns wall seconds, the installer's CPU seconds and (through a mirror) the mirror's CPU seconds;
    None (and a note) when it fails or installs fewer packages than the set holds.
    """
    s = ctx.settings
    target = ctx.tmp / "installs" / label
    cache = ctx.tmp / "installs" / f"{label}.uv-cache"
    shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    target.parent.mkdir(exist_ok=True)
    if tool == "pip":
        argv = [ctx.python, "-m", "pip", "install", "--no-cache-dir", "--no-input", "--no-warn-conflicts",
                "--target", str(target), "--index-url", index_url, "-r", str(s.install_set)]
    else:
        uv = uv_bin(ctx.python)
        if uv is None:
            ctx.note("uv not found (pip install uv): uv installs skipped")
            return None
        argv = [uv, "pip", "install", "--cache-dir", str(cache), "--target", str(target), "--python", ctx.python,
                "--index-url", index_url, "-r", str(s.install_set)]
    ctx.say(f"install: {label}")
    root = mirror.root_pid() if mirror is not None else None
    server_before = tree_cpu(root) if root else 0.0
    ran = ctx.procs.run(f"install.{label}", argv, seconds=ctx.budget.limit(s.install_timeout), env=clean_env())
    server_cpu = tree_cpu(root) - server_before if root else None
    wanted = len(set_projects(ctx))
    got = len(list(target.glob("*.dist-info"))) if target.is_dir() else 0
    shutil.rmtree(cache, ignore_errors=True)
    if ran.rc != 0 or got != wanted:
        ctx.note(f"install {label} failed (exit {ran.rc}, {got}/{wanted} packages)\n{tail(ran.err or ran.out)}")
        return None
    ctx.say(f"  {label}: {ran.seconds:.2f}s (installer CPU {ran.cpu:.2f}s"
            + (f", mirror CPU {server_cpu:.2f}s)" if server_cpu is not None else ")"))
    return {"s": ran.seconds, "cpu": ran.cpu, "server_cpu": server_cpu}


def set_projects(ctx: Context) -> list[str]:
    """The normalized names of the requirements of INSTALL_SET."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    names: list[str] = []
    for line in ctx.settings.install_set.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(canonicalize_name(Requirement(line).name))
    return names


def set_pages(ctx: Context, mirror: Mirror, label: str) -> None:
    """Server-Timing of the JSON page of each project of the set, as the installer got it: the time the
    mirror spent preparing the page version it served (pip and uv ask for PEP 691 JSON)."""
    rows = []
    for project in set_projects(ctx):
        resp = fetch_page(mirror.base, "all", project, JSON_ACCEPT)
        if resp.status == 200:
            try:
                files = len(json.loads(resp.body)["files"])
            except (ValueError, KeyError):
                files = 0
            rows.append((project, files, prepare_ms(resp.headers) or 0.0))
    ctx.results.install_pages[label] = rows


def _mirror(ctx: Context, label: str, folder: str, extra: tuple[str, ...] = ()) -> Mirror:
    s = ctx.settings
    mirror = Mirror(ctx, label, workers=s.install_workers, upstream=s.upstream,
                    storage=ctx.tmp / folder / "storage", policies=ctx.tmp / folder / "policies", extra=extra)
    (ctx.tmp / folder / "policies").mkdir(parents=True)
    mirror.start()
    return mirror


def run(ctx: Context) -> None:
    s, r = ctx.settings, ctx.results
    direct = direct_index(s.upstream)
    if not direct:
        ctx.note("pypi_simple is not installed: installs skipped")
        return
    r.install["pip direct"] = install(ctx, "pip", direct, "pip-direct")
    r.install["uv direct"] = install(ctx, "uv", direct, "uv-direct")
    for tool in ("pip", "uv"):
        mirror = _mirror(ctx, f"install {tool}", f"install-{tool}")
        try:
            for run_name in ("cold", "warm", "warm again"):
                r.install[f"{tool} mirror {run_name}"] = install(
                    ctx, tool, mirror.index("all"), f"{tool}-{run_name.replace(' ', '-')}", mirror)
            set_pages(ctx, mirror, f"{tool} mirror warm again")  # only now: a request prepares pages too
        finally:
            mirror.stop()
        # The same cold install with the page prefetch on ([upstream] prefetch_concurrency = 4; off by default):
        # what it would buy.
        mirror = _mirror(ctx, f"install {tool}, prefetch on", f"install-{tool}-prefetch",
                         ("prefetch_concurrency = 4",))
        try:
            r.install[f"{tool} mirror cold prefetch on"] = install(ctx, tool, mirror.index("all"),
                                                                   f"{tool}-cold-prefetch", mirror)
        finally:
            mirror.stop()
    # Where a cold install's time goes in the mirror: one more cold uv install, under py-spy (not counted above).
    mirror = _mirror(ctx, "install uv, cold, profiled", "install-cold-profiled")
    try:
        with Spy(ctx, mirror, "a cold `uv pip install` of the set (not counted above), by part of the mirror",
                 always=True, gil=True, summary=summarize_parts):
            install(ctx, "uv", mirror.index("all"), "uv-cold-profiled", mirror)
    finally:
        mirror.stop()
    if s.profile:  # the same cold + warm sequence once more, the warm install under py-spy (not counted)
        mirror = _mirror(ctx, "install uv, profiled", "install-profiled")
        try:
            if install(ctx, "uv", mirror.index("all"), "uv-cold-for-profile", mirror):
                with Spy(ctx, mirror, "the first warm `uv pip install` of the set after a cold one (not counted above)",
                         rate=500):
                    install(ctx, "uv", mirror.index("all"), "uv-warm-profiled", mirror)
        finally:
            mirror.stop()
