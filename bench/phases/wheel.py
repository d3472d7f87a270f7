"""Phase "wheel": one cached ~18 MB wheel from the mirror, the peers and nginx serving the same bytes.

``bench/peers/bench_wheel.sh`` (one cold, then WHEEL_N single downloads, sha256 checked), then CONCURRENT
curl downloads at once (each checked: 200, full size) and wrk with CONCURRENT connections for DURATION.
"""

from __future__ import annotations

import json
import os
import re
import statistics
from typing import Any

from bench.context import Context
from bench.net import http_get, loopback
from bench.numbers import fmt_num, kv, wrk_mbps
from bench.procs import tail
from bench.servers import Nginx
from bench.tools import file_url


def bench_wheel(ctx: Context, label: str, base: str, project: str, filename: str) -> dict[str, str] | None:
    s = ctx.settings
    ctx.say(f"wheel: {label} ({project}/{filename}), 1 cold + {s.wheel_n} warm downloads")
    ran = ctx.procs.run(f"wheel.{label}".replace(" ", "_"),
                        ["bash", str(s.peers / "bench_wheel.sh"), loopback(base), project, filename],
                        seconds=ctx.budget.limit(300), env=dict(os.environ, N=str(s.wheel_n)))
    lines = [line for line in ran.out.splitlines() if line.startswith("RESULT ")]
    if ran.rc != 0 or not lines:
        ctx.note(f"wheel {label}: bench_wheel.sh failed (exit {ran.rc})\n{tail(ran.err)}")
        return None
    res = kv(lines[-1])
    ctx.say(f"  {label}: cold {res.get('cold_s')}s, warm median {res.get('warm_median_s')}s = "
            f"{res.get('warm_MBps')} MB/s, sha256 ok: {res.get('sha256_ok')}")
    return res


def concurrent_downloads(ctx: Context, label: str, url: str, size: int) -> dict[str, Any]:
    """CONCURRENT curl downloads at once (every response checked: 200 and full size), CONCURRENT_ROUNDS
    times, then wrk with CONCURRENT connections for DURATION (sustained throughput)."""
    s = ctx.settings
    script = 'for i in $(seq "$N"); do curl -s -o /dev/null -w "%{http_code} %{size_download}\\n" "$URL" & done; wait'
    rates, bad = [], 0
    for rnd in range(s.concurrent_rounds):
        ran = ctx.procs.run(f"concurrent.{label}.{rnd}".replace(" ", "_"), ["bash", "-c", script],
                            seconds=ctx.budget.limit(180), env=dict(os.environ, N=str(s.concurrent), URL=loopback(url)))
        ok = sum(1 for line in ran.out.splitlines() if line.split() == ["200", str(size)])
        bad += s.concurrent - ok
        if ran.rc == 0 and ok == s.concurrent:
            rates.append(s.concurrent * size / 1e6 / ran.seconds)
    res: dict[str, Any] = {"burst_MBps": statistics.median(rates) if rates else None, "failed": bad}
    if bad:
        ctx.note(f"{s.concurrent} concurrent downloads from {label}: {bad} incomplete or failed downloads")
    ran = ctx.procs.run(f"wrkfile.{label}".replace(" ", "_"),
                        ["wrk", f"-t{s.threads}", f"-c{s.concurrent}", f"-d{s.dur_s}s", loopback(url)],
                        seconds=ctx.budget.limit(s.dur_s + 60))
    res["wrk_MBps"] = wrk_mbps(ran.out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", ran.out)
    if non2xx:
        ctx.note(f"wrk c={s.concurrent} on the wheel from {label}: {non2xx.group(1)} non-2xx responses")
        res["wrk_MBps"] = None
    ctx.say(f"  {label}: {s.concurrent} curl at once: {fmt_num(res['burst_MBps'])} MB/s aggregate; "
            f"wrk c={s.concurrent}: {fmt_num(res['wrk_MBps'])} MB/s")
    return res


def _nginx_copy(ctx: Context, nginx: Nginx, url: str, sha256: str, size: int) -> None:
    """nginx serves the same bytes, with a one-file PEP 691 page for bench_wheel.sh."""
    s = ctx.settings
    project, filename = s.wheel_project, s.wheel_file
    d = nginx.www / project
    d.mkdir(exist_ok=True)
    resp = http_get(url, timeout=120)
    if resp.status != 200 or len(resp.body) != size:
        return
    (d / filename).write_bytes(resp.body)
    page = {"meta": {"api-version": "1.1"}, "name": project, "versions": [],
            "files": [{"filename": filename, "url": filename, "hashes": {"sha256": sha256}, "size": size}]}
    (d / "index.json").write_text(json.dumps(page))
    (d / "index.html").write_text(f'<a href="{filename}#sha256={sha256}">{filename}</a>\n')
    nres = bench_wheel(ctx, "nginx", nginx.base, project, filename)
    if nres:
        ctx.results.wheel["nginx"] = {"single": nres, "concurrent": concurrent_downloads(
            ctx, "nginx", f"{nginx.base}{project}/{filename}", size)}


def run(ctx: Context, servers: list[tuple[str, str]], nginx: Nginx | None) -> None:
    """bench_wheel.sh and concurrent downloads of one wheel from each (label, simple base)."""
    s, r = ctx.settings, ctx.results
    for label, base in servers:
        res = bench_wheel(ctx, label, base, s.wheel_project, s.wheel_file)
        if res is None:
            continue
        entry: dict[str, Any] = {"single": res}
        found = file_url(base, s.wheel_project, s.wheel_file)
        size = int(res.get("size", "0"))
        if found:
            entry["concurrent"] = concurrent_downloads(ctx, label, found[0], size)
        r.wheel[label] = entry
        if label.startswith("mirror") and nginx is not None and nginx.running and "nginx" not in r.wheel:
            if found and size:
                _nginx_copy(ctx, nginx, found[0], found[1], size)
