"""Phase "project-list": the cold ``GET /all/simple/`` of a big project list through a fresh mirror, next to the
direct fetch of the same list in the same format, and the mirror's RSS before, at its peak (sampled every 0.2 s)
and once the list is held.

Upstreams: a synthetic LIST_SIZE-name list (700,000 by default, as big as the public index's) from the fake
upstream, once as PEP 691 JSON (what the mirror asks for first) and once as HTML only; and the real list when
UPSTREAM is reachable (its copy answers the list in HTML only). Each is fetched by clients in HTML and in JSON,
each pair through its own fresh mirror. The real list's direct fetches are made with curl (as the install phase
makes its direct installs from the real upstream); every other request of the suite stays on loopback.
"""

from __future__ import annotations

import http.client
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from bench.context import Context
from bench.net import FORMATS, UPSTREAM_ACCEPT, Response, http_get, loopback
from bench.numbers import fmt_num, median, ms
from bench.phases.common import synthetic_mirror
from bench.policies import write_policies
from bench.procs import slug, tree_cpu, tree_rss_kb
from bench.results import ListRow
from bench.servers import Mirror

#: Seconds given to a mirror to finish building the list after its first answer, and to settle after.
_BUILT_WITHIN = 120.0
_SETTLE = 2.0


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


@dataclass(frozen=True)
class _Direct:
    ms: float | None
    bytes: int | None


def _curl(url: str, accept: str, timeout: float) -> tuple[float, int] | None:
    """(seconds, bytes) of one GET of a non-loopback URL with curl, or None when it fails."""
    try:
        ran = subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", str(int(timeout)), "-w",
                              "%{http_code} %{time_total} %{size_download}", "-H", f"Accept: {accept}", url],
                             capture_output=True, text=True, timeout=timeout + 10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = ran.stdout.split()
    if ran.returncode != 0 or len(parts) != 3 or parts[0] != "200":
        return None
    return float(parts[1]), int(parts[2])


def _measure(ctx: Context, mirror: Mirror, fmt: str, accept: str, direct: _Direct, list_bytes: int | None,
             names: int | None, upstream: str) -> None:
    root = mirror.root_pid()
    assert root is not None
    before = tree_rss_kb(root)
    sampler = _PeakRss(root)
    sampler.start()
    t0 = time.monotonic()
    cpu0 = tree_cpu(root)
    try:
        cold, first_byte = _timed_get(mirror.index("all"), accept)
        cpu = tree_cpu(root) - cpu0
        warm = _built(mirror, accept) if cold.status == 200 else None
        time.sleep(_SETTLE)
        after = tree_rss_kb(root)
    finally:
        peak = sampler.stop()
    peak = max([peak, before or 0, after or 0, *ctx.rss.window(mirror.rss_label, t0, time.monotonic())])
    row = ListRow(fmt=fmt, names=names, status=cold.status, direct_ms=direct.ms, mirror_ms=cold.seconds * 1000,
                  warm_ms=warm.seconds * 1000 if warm is not None else None, direct_bytes=direct.bytes,
                  mirror_bytes=len(cold.body), rss_before_mb=_mb(before), rss_after_mb=_mb(after),
                  rss_peak_mb=_mb(peak), upstream=upstream, list_bytes=list_bytes,
                  first_byte_ms=first_byte * 1000, mirror_cpu_s=cpu)
    ctx.results.project_list.append(row)
    if cold.status != 200:
        ctx.note(f"project-list: /all/simple/ ({upstream}, {fmt}) answered {cold.status}")
    ctx.say(f"  {upstream} → {fmt}: direct {fmt_num(row.direct_ms)} ms, cold through the mirror "
            f"{fmt_num(row.mirror_ms)} ms (first byte {fmt_num(row.first_byte_ms)} ms, mirror CPU {cpu:.2f} s), once "
            f"built {fmt_num(row.warm_ms)} ms; RSS {fmt_num(row.rss_before_mb)} → {fmt_num(row.rss_after_mb)} MB (peak "
            f"{fmt_num(row.rss_peak_mb)})")


def _timed_get(url: str, accept: str) -> tuple[Response, float]:
    """One GET on loopback, read as it arrives: the response and the seconds to its first body byte."""
    u = urllib.parse.urlsplit(loopback(url))
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=600)
    started = time.perf_counter()
    try:
        conn.request("GET", u.path, headers={"Accept": accept})
        resp = conn.getresponse()
        first = resp.read1(65536)
        first_byte = time.perf_counter() - started
        rest = [first]
        while chunk := resp.read1(1 << 20):
            rest.append(chunk)
        return (Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, b"".join(rest),
                         time.perf_counter() - started), first_byte)
    finally:
        conn.close()


def _built(mirror: Mirror, accept: str) -> Response | None:
    """A GET answered from the prepared list (it carries an ETag): the list is built by then."""
    end = time.monotonic() + _BUILT_WITHIN
    while time.monotonic() < end:
        got = http_get(mirror.index("all"), {"Accept": accept}, timeout=600)
        if got.status != 200 or "etag" in got.headers:
            return got
        time.sleep(0.2)
    return None


def _synthetic(ctx: Context, html_only: bool) -> None:
    s = ctx.settings
    upstream = "synthetic HTML" if html_only else "synthetic JSON"
    for fmt, accept in FORMATS:
        label = f"list {upstream} {fmt}"
        with synthetic_mirror(ctx, label, list_size=s.list_size,
                              fake_args=("--html-only",) if html_only else ()) as servers:
            if servers is None:
                return
            fake, mirror = servers
            direct = [http_get(fake.url, {"Accept": accept}, timeout=300) for _ in range(s.list_n)]
            sent = len(http_get(fake.url, {"Accept": UPSTREAM_ACCEPT}, timeout=300).body)
            _measure(ctx, mirror, fmt, accept, _Direct(ms(median([d.seconds for d in direct])), len(direct[0].body)),
                     sent, s.list_size, upstream)


def _real(ctx: Context) -> None:
    from mirror.config import resolve_upstream_url

    s = ctx.settings
    url = resolve_upstream_url(s.upstream)
    sent = _curl(url, UPSTREAM_ACCEPT, 120)
    if sent is None:
        ctx.note("project-list: the real upstream's list is not reachable; its rows are left out")
        return
    for fmt, accept in FORMATS:
        runs = [r for r in (_curl(url, accept, 120) for _ in range(s.list_n)) if r is not None]
        label = f"list real {fmt}"
        folder = ctx.tmp / slug(label)
        write_policies(folder / "policies", [])
        mirror = Mirror(ctx, label, workers=1, upstream=s.upstream, storage=folder / "storage",
                        policies=Path(folder / "policies"))
        try:
            mirror.start()
            direct = _Direct(ms(median([t for t, _ in runs])) if runs else None, runs[0][1] if runs else None)
            _measure(ctx, mirror, fmt, accept, direct, sent[1], None, "real HTML")
        finally:
            mirror.stop()


def run(ctx: Context) -> None:
    s = ctx.settings
    ctx.say(f"project-list: a {s.list_size:,}-name upstream list (JSON, then HTML only) and the real list, cold "
            "through a fresh mirror, html and json")
    _synthetic(ctx, html_only=False)
    _synthetic(ctx, html_only=True)
    _real(ctx)
