"""Phase "warm-under-cold": latency of warm requests while the mirror prepares cold big pages.

One client sends sequential requests for a small, warm page (``small0``, SMALL_FILES files, PEP 691
JSON, `all` tier) on one kept-alive connection: first WUC_WARM_N requests alone, then, in each of
WUC_ROUNDS rounds, for as long as COLD_LOAD distinct never-seen BIG_FILES-file pages, requested all at
once, are being fetched and prepared. p50 / p99 of both series come from the same run and mirror.
"""

from __future__ import annotations

import threading

from bench.context import Context
from bench.net import JSON_ACCEPT, KeepAlive, http_get
from bench.numbers import fmt_num
from bench.phases.common import big_names, synthetic_mirror
from bench.results import LatencyStats, WarmUnderCold
from bench.tools import fetch_page

_SMALL = "small0"


def _cold_wave(base: str, names: list[str], out: list[tuple[int, float]]) -> list[threading.Thread]:
    """Threads that GET each page at once (after a common start signal); results appended to ``out``."""
    go = threading.Event()
    lock = threading.Lock()

    def fetch(name: str) -> None:
        go.wait()
        try:
            resp = http_get(f"{base}/all/simple/{name}/", {"Accept": JSON_ACCEPT}, timeout=300)
            result = (resp.status, resp.seconds)
        except OSError:
            result = (0, 0.0)
        with lock:
            out.append(result)

    threads = [threading.Thread(target=fetch, args=(name,), daemon=True) for name in names]
    for t in threads:
        t.start()
    go.set()
    return threads


def run(ctx: Context) -> None:
    s = ctx.settings
    names = big_names(10_000, s.wuc_rounds * s.cold_load)
    ctx.say(f"warm-under-cold: {s.wuc_warm_n} warm requests alone, then {s.wuc_rounds} round(s) of {s.cold_load} "
            f"cold {s.big_files}-file pages at once")
    with synthetic_mirror(ctx, "warm under cold", workers=s.workers[0]) as servers:
        if servers is None:
            return
        _fake, mirror = servers
        path = f"/all/simple/{_SMALL}/"
        headers = {"Accept": JSON_ACCEPT}
        for _ in range(3):
            fetch_page(mirror.base, "all", _SMALL, JSON_ACCEPT)
        client = KeepAlive(mirror.base)
        failed = 0
        alone: list[float] = []
        loaded: list[float] = []
        cold: list[tuple[int, float]] = []
        try:
            for _ in range(s.wuc_warm_n):
                status, secs = client.get(path, headers)
                failed += status != 200
                alone.append(secs)
            for rnd in range(s.wuc_rounds):
                wave = names[rnd * s.cold_load:(rnd + 1) * s.cold_load]
                threads = _cold_wave(mirror.base, wave, cold)
                while any(t.is_alive() for t in threads):
                    status, secs = client.get(path, headers)
                    failed += status != 200
                    loaded.append(secs)
                for t in threads:
                    t.join()
        finally:
            client.close()
        failed += sum(1 for status, _ in cold if status != 200)
        result = WarmUnderCold(small_files=s.small_files, big_files=s.big_files, cold_pages=s.cold_load,
                               rounds=s.wuc_rounds, alone=LatencyStats.of(alone), loaded=LatencyStats.of(loaded),
                               cold=LatencyStats.of([secs for status, secs in cold if status == 200]), failed=failed)
        ctx.results.warm_under_cold = result
        if failed:
            ctx.note(f"warm-under-cold: {failed} requests did not answer 200")
        ctx.say(f"  warm alone p50 {fmt_num(result.alone.p50_ms, 2)} / p99 {fmt_num(result.alone.p99_ms, 2)} ms; "
                f"under cold load p50 {fmt_num(result.loaded.p50_ms, 2)} / p99 {fmt_num(result.loaded.p99_ms, 2)} ms "
                f"({result.loaded.n} requests); cold pages p50 {fmt_num(result.cold.p50_ms)} ms")
