"""Phase "profile" (``PROFILE=1``): where the mirror's time goes.

py-spy on the mirror during wrk on the big page and on the wheel; ``bench/sendfile_probe.py`` (a bare
aiohttp ``FileResponse`` of the wheel under asyncio's loop and under uvloop); ``bench/profile_prepare.py``
(filter / render / gzip / ETag of the big project's pages, in process, with cProfile).
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from bench.context import Context
from bench.net import HTML_ACCEPT, http_get, loopback
from bench.numbers import fmt_num, fmt_ratio, num, ratio, wrk_mbps
from bench.procs import tail
from bench.profiling import Spy, ensure_py_spy
from bench.servers import Mirror
from bench.settings import REPO
from bench.tools import file_url


def spy_wrk(ctx: Context, mirror: Mirror, title: str, url: str, headers: list[str]) -> None:
    """wrk on ``url`` for DURATION under py-spy."""
    s, r = ctx.settings, ctx.results
    argv = ["wrk", f"-t{s.threads}", f"-c{s.conns}", f"-d{s.dur_s}s"]
    for h in headers:
        argv += ["-H", h]
    spy = Spy(ctx, mirror, f"wrk c={s.conns} on {title} for {s.duration}")
    with spy:
        ran = ctx.procs.run(f"profile.wrk.{len(r.profiles)}", argv + [loopback(url)],
                            seconds=ctx.budget.limit(s.dur_s + 60))
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", ran.out)
    if spy.recs and r.profiles:
        r.profiles[-1] = r.profiles[-1].replace(":**", f": {fmt_num(num(rps.group(1)) if rps else None)} req/s, "
                                                f"{wrk_mbps(ran.out) or 0:.0f} MB/s under the profiler:**", 1)


def sendfile_probe(ctx: Context, path: Path) -> None:
    """wrk c=CONCURRENT on a bare aiohttp FileResponse of the wheel, with asyncio's loop and with uvloop."""
    s, r = ctx.settings, ctx.results
    rows = []
    # uvloop is not a dependency of the mirror (it disables aiohttp's sendfile): compare only if present.
    has_uvloop = subprocess.run([ctx.python, "-c", "import uvloop"], capture_output=True).returncode == 0
    for loop in ("asyncio", "uvloop") if has_uvloop else ("asyncio",):
        port = ctx.free_port(s.mirror_port + 50)
        proc = ctx.procs.spawn(f"sendfile-probe.{loop}", [ctx.python, "-m", "bench.sendfile_probe", loop, str(path),
                                                          str(port)], seconds=ctx.budget.limit(s.dur_s + 90), cwd=REPO)
        url = f"http://127.0.0.1:{port}/file"
        try:
            for _ in range(100):
                try:
                    if http_get(url, timeout=5).status == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.1)
            ran = ctx.procs.run(f"sendfile-probe.wrk.{loop}", ["wrk", f"-t{s.threads}", f"-c{s.concurrent}",
                                                               f"-d{s.dur_s}s", loopback(url)],
                                seconds=ctx.budget.limit(s.dur_s + 60))
            rows.append((loop, wrk_mbps(ran.out)))
        finally:
            ctx.procs.stop_group(proc.pid, 5, ctx.say)
    ng = ((r.wheel.get("nginx") or {}).get("concurrent") or {}).get("wrk_MBps")
    text = ["**The event loop and file serving** (`bench/sendfile_probe.py`: a bare aiohttp `FileResponse` of the "
            f"same wheel, wrk c={s.concurrent} for {s.duration}):", "", "| loop | MB/s | ×nginx (its run above) |",
            "|---|---:|---:|"]
    for loop, mbps in rows:
        text.append(f"| {loop} | {fmt_num(mbps)} | {fmt_ratio(ratio(mbps, ng))} |")
    r.profiles.append("\n".join(text))


def run(ctx: Context, mirror: Mirror) -> None:
    """py-spy during wrk on the big page and on the wheel; the prepare-time breakdown of the big page."""
    s, r = ctx.settings, ctx.results
    big = max(s.projects, key=lambda p: r.page_files.get(p, 0))
    if ensure_py_spy(ctx):
        spy_wrk(ctx, mirror, f"/all/simple/{big}/ (HTML)", f"{mirror.index('all')}{big}/", [f"Accept: {HTML_ACCEPT}"])
        if s.has("wheel"):
            found = file_url(mirror.index("all"), s.wheel_project, s.wheel_file)
            if found:
                spy_wrk(ctx, mirror, f"the cached wheel ({s.wheel_file})", found[0], [])
    wheel = ctx.tmp / "nginx" / "www" / s.wheel_project / s.wheel_file
    if s.has("wheel") and wheel.exists():
        sendfile_probe(ctx, wheel)
    page = ctx.tmp / "shapes" / f"{big}.json"
    if page.exists():
        ran = ctx.procs.run("profile_prepare", [ctx.python, "-m", "bench.profile_prepare", str(page),
                                                str(mirror.policies), "--project", big],
                            seconds=ctx.budget.limit(180), cwd=REPO)
        if ran.rc == 0:
            r.profiles.append(f"**Preparing the pages of {big}, in process (`bench/profile_prepare.py`, "
                              "medians; the filter is not part of `Server-Timing: prepare`):**\n\n" + ran.out.strip())
        else:
            ctx.note(f"profile_prepare.py failed: {tail(ran.err)}")
