"""Phase "soak": wrk for SOAK seconds over every page, tier, format and encoding (``bench/soak.lua``,
1 in 16 requests for one of 500 absent names) while the RSS sampler watches the mirror."""

from __future__ import annotations

import os
import re
import statistics
import time

from bench.context import Context
from bench.numbers import num
from bench.servers import Mirror
from bench.settings import BENCH_DIR


def run(ctx: Context, mirror: Mirror) -> None:
    s = ctx.settings
    paths = [f"/{tier}/simple/{p}/" for p in s.projects for tier in s.tiers]
    ctx.say(f"soak: {s.soak}s of wrk over {len(paths)} pages (+1/16 absent names), RSS every second")
    env = dict(os.environ, SOAK_PATHS=" ".join(paths),
               SOAK_ABSENT_TIER="reviewed" if "reviewed" in s.tiers else "vetted")
    t0 = time.monotonic()
    ran = ctx.procs.run("soak", ["wrk", f"-t{s.threads}", f"-c{s.conns}", f"-d{s.soak}s", "-s",
                                 str(BENCH_DIR / "soak.lua"), mirror.base + "/"],
                        seconds=ctx.budget.limit(s.soak + 60), env=env)
    t1 = time.monotonic()
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", ran.out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", ran.out)
    total = re.search(r"(\d+) requests in", ran.out)
    series = ctx.rss.window(mirror.rss_label, t0, t1)
    if len(series) < 6:
        ctx.note("soak: too few RSS samples")
        return
    k = max(3, len(series) // 10)
    warm = series[k: 2 * k]  # skip the first tenth (buffers growing to their working size)
    last = series[-k:]
    first_mb, last_mb = statistics.median(warm) / 1024, statistics.median(last) / 1024
    ctx.results.soak = {
        "seconds": s.soak, "rps": num(rps.group(1)) if rps else None,
        "requests": int(total.group(1)) if total else None, "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "first_mb": first_mb, "last_mb": last_mb, "max_mb": max(series) / 1024, "min_mb": min(series) / 1024,
        "samples": len(series), "label": mirror.label}
    ctx.say(f"  soak: {ctx.results.soak['rps']} req/s, RSS {first_mb:.1f} → {last_mb:.1f} MB "
            f"(max {ctx.results.soak['max_mb']:.1f})")
