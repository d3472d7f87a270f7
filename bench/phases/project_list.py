"""Phase "project-list": the cold ``GET /all/simple/`` of a synthetic LIST_SIZE-name upstream project list
(700,000 by default, as big as the public index's), as HTML and as PEP 691 JSON, each through a fresh
mirror, next to the direct fetch of the same list in the same format; and the mirror's RSS before,
at its peak during the request (sampled every 0.2 s) and after it.
"""

from __future__ import annotations

import threading
import time

from bench.context import Context
from bench.net import FORMATS, http_get
from bench.numbers import fmt_num, median, ms
from bench.phases.common import synthetic_mirror
from bench.procs import tree_rss_kb
from bench.results import ListRow


class _PeakRss(threading.Thread):
    """The highest RSS of a process tree, sampled every ``interval`` seconds until stopped."""

    def __init__(self, root: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True, name="list-rss")
        self.root, self.interval = root, interval
        self.peak_kb = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            kb = tree_rss_kb(self.root)
            if kb is not None:
                self.peak_kb = max(self.peak_kb, kb)
            self.stopped.wait(self.interval)

    def stop(self) -> int:
        self.stopped.set()
        self.join(10)
        return self.peak_kb


def _mb(kb: int | None) -> float | None:
    return None if kb is None else kb / 1024


def run(ctx: Context) -> None:
    s = ctx.settings
    ctx.say(f"project-list: a {s.list_size:,}-name upstream list, cold through a fresh mirror, html and json")
    for fmt, accept in FORMATS:
        with synthetic_mirror(ctx, f"list {fmt}", list_size=s.list_size) as servers:
            if servers is None:
                return
            fake, mirror = servers
            direct = [http_get(fake.url, {"Accept": accept}, timeout=300) for _ in range(s.list_n)]
            root = mirror.root_pid()
            assert root is not None
            before = tree_rss_kb(root)
            sampler = _PeakRss(root)
            sampler.start()
            t0 = time.monotonic()
            try:
                cold = http_get(mirror.index("all"), {"Accept": accept}, timeout=600)
            finally:
                peak = sampler.stop()
            after = tree_rss_kb(root)
            peak = max([peak, before or 0, after or 0, *ctx.rss.window(mirror.rss_label, t0, time.monotonic())])
            warm = http_get(mirror.index("all"), {"Accept": accept}, timeout=600) if cold.status == 200 else None
            row = ListRow(fmt=fmt, names=s.list_size, status=cold.status,
                          direct_ms=ms(median([d.seconds for d in direct])), mirror_ms=cold.seconds * 1000,
                          warm_ms=warm.seconds * 1000 if warm is not None else None,
                          direct_bytes=len(direct[0].body), mirror_bytes=len(cold.body),
                          rss_before_mb=_mb(before), rss_after_mb=_mb(after), rss_peak_mb=_mb(peak))
            ctx.results.project_list.append(row)
            if cold.status != 200:
                ctx.note(f"project-list: /all/simple/ ({fmt}) answered {cold.status}")
            ctx.say(f"  {fmt}: direct {fmt_num(row.direct_ms)} ms, cold through the mirror {fmt_num(row.mirror_ms)} ms,"
                    f" then {fmt_num(row.warm_ms)} ms; RSS {fmt_num(row.rss_before_mb)} → {fmt_num(row.rss_after_mb)}"
                    f" MB (peak {fmt_num(row.rss_peak_mb)})")

