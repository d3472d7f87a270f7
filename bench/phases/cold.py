"""Phase "cold": the first fetch of never-seen copies of real pages through a fresh mirror, against the
local fake upstream (``bench/fake_index.py``), next to the same page fetched from it directly and through
proxpi; then the checks that a page is prepared again exactly when its upstream bytes change.

The page shapes are the mirror's own `all` pages saved by phase "warm"; without that phase they are
fetched directly from the upstream index (PEP 691 JSON).
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
from typing import Any

from bench.context import Context
from bench.net import HTML_ACCEPT, JSON_ACCEPT, UPSTREAM_ACCEPT, http_get, http_post
from bench.numbers import fmt_num, prepare_ms
from bench.phases.warm import prepared_check
from bench.profiling import Spy
from bench.servers import FakeIndex, Mirror, Peer
from bench.tools import direct_index, fetch_page


def _shapes(ctx: Context) -> list[str]:
    """Projects of PROJECTS with a saved PEP 691 page (fetched from upstream here if phase "warm" did not)."""
    folder = ctx.tmp / "shapes"
    folder.mkdir(exist_ok=True)
    upstream = direct_index(ctx.settings.upstream)
    found = []
    for project in ctx.settings.projects:
        path = folder / f"{project}.json"
        if not path.is_file() and upstream:
            try:  # the real upstream (not loopback, so not through bench.net)
                req = urllib.request.Request(f"{upstream.rstrip('/')}/{project}/", headers={"Accept": JSON_ACCEPT})
                with urllib.request.urlopen(req, timeout=60) as resp:
                    path.write_bytes(resp.read(256 * 1024 * 1024))
            except OSError as exc:
                ctx.note(f"cold page: the upstream page of {project} could not be fetched ({exc}): skipped")
                continue
        if path.is_file():
            found.append(project)
    return found


def _page_files(ctx: Context, shape: str) -> int | None:
    if shape not in ctx.results.page_files:
        try:
            page = json.loads((ctx.tmp / "shapes" / f"{shape}.json").read_bytes())
            ctx.results.page_files[shape] = len(page["files"])
        except (OSError, ValueError, KeyError):
            return None
    return ctx.results.page_files[shape]


def _measure_shape(ctx: Context, mirror: Mirror, url: str, shape: str, copies: int) -> None:
    n = ctx.settings.cold_n
    direct: list[float] = []
    through: dict[str, list[float]] = {"html": [], "json": []}
    prep: dict[str, list[float]] = {"html": [], "json": []}
    # one throw-away request each, so one-time costs (imports, connection pools) are not counted
    fetch_page(mirror.base, "all", f"cold{copies - 1}-{shape}", JSON_ACCEPT)
    for i in range(n):
        direct.append(http_get(f"{url}cold{i}-{shape}/", {"Accept": UPSTREAM_ACCEPT}).seconds)
    for i in range(2 * n):
        fmt, accept = ("html", HTML_ACCEPT) if i % 2 == 0 else ("json", JSON_ACCEPT)
        resp = fetch_page(mirror.base, "all", f"cold{i}-{shape}", accept)
        if resp.status == 200:
            through[fmt].append(resp.seconds)
            prep[fmt].append(prepare_ms(resp.headers) or 0.0)
    row: dict[str, Any] = {"shape": shape, "files": _page_files(ctx, shape),
                           "direct_ms": statistics.median(direct) * 1000 if direct else None}
    for fmt in ("html", "json"):
        row[f"mirror_{fmt}_ms"] = statistics.median(through[fmt]) * 1000 if through[fmt] else None
        row[f"prepare_{fmt}_ms"] = statistics.median(prep[fmt]) if prep[fmt] else None
    ctx.results.cold.append(row)
    ctx.say(f"  {shape}: direct {fmt_num(row['direct_ms'], 1)} ms, through the mirror html "
            f"{fmt_num(row['mirror_html_ms'], 1)} ms / json {fmt_num(row['mirror_json_ms'], 1)} ms")


def _serial_checks(ctx: Context, mirror: Mirror, fake: FakeIndex, project: str, ttl: int) -> None:
    """Served from prepared bytes until the upstream page changes."""
    r = ctx.results
    d0, e0, same0 = prepared_check(mirror, "all", project, JSON_ACCEPT, n=3)
    time.sleep(ttl + 0.5)  # the page is stale: the next request revalidates (same bytes upstream)
    d1, e1, same1 = prepared_check(mirror, "all", project, JSON_ACCEPT, n=3)
    r.prepared_checks.append((f"{project} (fake upstream, index_ttl={ttl}s): revalidated after the TTL, "
                              f"upstream bytes unchanged → not prepared again ({d0} → {d1} ms, same ETag)",
                              same0 and same1 and d0 == d1 and e0 == e1, "serial"))
    http_post(f"{fake.control}touch/{project}")
    time.sleep(ttl + 0.5)
    d2, e2, same2 = prepared_check(mirror, "all", project, JSON_ACCEPT, n=3)
    r.prepared_checks.append((f"{project}: upstream published a file (serial bumped) → prepared again "
                              f"({d1} → {d2} ms, new ETag), then served from the new bytes",
                              same2 and e2 != e1 and d2 != d1, "serial"))


def _proxpi(ctx: Context, proxpi: Peer, url: str, shapes: list[str], copies: int) -> None:
    n = ctx.settings.cold_n
    proxpi.start(upstream=url, label="proxpi (fake upstream)")
    if proxpi.base:
        for shape in shapes:
            times = []
            http_get(f"{proxpi.base}cold{copies - 1}-{shape}/", {"Accept": JSON_ACCEPT}, timeout=120)
            for i in range(2 * n, 4 * n):
                accept = HTML_ACCEPT if i % 2 == 0 else JSON_ACCEPT
                resp = http_get(f"{proxpi.base}cold{i}-{shape}/", {"Accept": accept}, timeout=120)
                if resp.status == 200:
                    times.append(resp.seconds)
            for row in ctx.results.cold:
                if row["shape"] == shape and times:
                    row["proxpi_ms"] = statistics.median(times) * 1000
                    ctx.say(f"  {shape}: proxpi first fetch {row['proxpi_ms']:.1f} ms")
    proxpi.stop()


def run(ctx: Context, proxpi: Peer | None) -> None:
    """First fetch of never-seen pages through a fresh mirror, against the local fake upstream."""
    s = ctx.settings
    shapes = _shapes(ctx)
    if not shapes:
        ctx.note("cold page: no page shapes (phase warm failed, upstream unreachable?): skipped")
        return
    n = s.cold_n
    copies = (5 if s.profile else 4) * n + 3  # mirror 0..2n-1, proxpi 2n..4n-1, profile 4n..5n-1, serial, warm-up
    args = ["--copies", str(copies), "--big-files", "0", "--small-files", "0"]
    for p in shapes:
        args += ["--shape", f"{p}={ctx.tmp / 'shapes' / (p + '.json')}"]
    ctx.say(f"cold page: fake upstream with {copies} copies of {', '.join(shapes)}")
    fake = FakeIndex(ctx, args)
    if not fake.start():
        return
    ttl = 2
    storage, policies = ctx.tmp / "cold" / "storage", ctx.tmp / "cold" / "policies"
    policies.mkdir(parents=True)
    mirror = Mirror(ctx, "cold", workers=1, upstream=fake.url, storage=storage, policies=policies, index_ttl=ttl)
    try:
        mirror.start()
        for shape in shapes:
            _measure_shape(ctx, mirror, fake.url, shape, copies)
        if s.profile:
            big = max(shapes, key=lambda p: ctx.results.page_files.get(p, 0))
            with Spy(ctx, mirror, f"{n} first fetches of copies of {big} (JSON) from the fake upstream", rate=500):
                for i in range(4 * n, 5 * n):
                    fetch_page(mirror.base, "all", f"cold{i}-{big}", JSON_ACCEPT)
        _serial_checks(ctx, mirror, fake, f"cold{copies - 2}-{shapes[-1]}", ttl)
        if proxpi is not None:
            _proxpi(ctx, proxpi, fake.url, shapes, copies)
    finally:
        if proxpi is not None:
            proxpi.stop()  # a no-op unless it is still running (an error or Ctrl-C while measured)
        mirror.stop()
        fake.stop()
