"""Where the time of preparing one tier page goes: filter, render, gzip, hash (with cProfile).

    python -m bench.profile_prepare PAGE.json POLICIES_DIR [--project NAME] [--repeat 15]

PAGE.json is a PEP 691 project page (phase "warm" saves the mirror's ``all``-tier page); it is
parsed as the mirror parses an upstream page, then for each tier the same steps as
``mirror.services.prepared.PreparedPages`` run in this process: the tier decision (``decide_page``,
not part of the ``Server-Timing: prepare`` figure) and the preparation of the bytes
(render + gzip + ETag, which is). Prints medians in ms, and the top functions of a cProfile run of
the preparation of the ``reviewed`` HTML page. Pure CPU, no network.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gzip
import hashlib
import io
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from mirror.adapters.policy_dir import load_policies
from mirror.core.models import DistFile, Format, Tier
from mirror.core.simple.parse import parse_project_page
from mirror.core.simple.render import make_environment, render_project
from mirror.core.tiers import NO_EVIDENCE, decide_page
from mirror.resources import templates_dir


def href_function() -> Callable[[DistFile, str], str]:
    """The function that writes file URLs on the mirror's pages."""
    try:
        from mirror.services.prepared import file_href
    except ImportError:  # the helper moved: the same relative URL shape
        def file_href(f: DistFile, project: str) -> str:
            return f"../../files/{project}/{f.filename}"
    return file_href


def etag(fmt: Format, body: bytes) -> str:
    return hashlib.sha256(fmt.value.encode() + b"\0" + body).hexdigest()

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("page", type=Path)
    ap.add_argument("policies", type=Path)
    ap.add_argument("--project")
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()

    body = args.page.read_bytes()
    project = args.project or args.page.stem
    page_url = f"http://127.0.0.1/all/simple/{project}/"
    detail = parse_project_page(body, JSON_TYPE, project=project, page_url=page_url)
    policies = load_policies(args.policies)
    env = make_environment(str(templates_dir()))
    now = datetime.now(UTC)
    to_href = href_function()

    def href(f: DistFile) -> str:
        return to_href(f, detail.name)

    print(f"project {detail.name}: {len(detail.files)} files, {len(set(f.version for f in detail.files))} versions")
    print("| tier | files | filter ms | fmt | render ms | gzip ms | etag ms | prepare ms (render+gzip+etag) | bytes |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
    views = {}
    for tier in (Tier.ALL, Tier.REVIEWED, Tier.VETTED):
        def filt(tier: Tier = tier):
            return decide_page(tier, detail.name, detail, NO_EVIDENCE, policies, now)
        decided = filt()
        if not decided.project.admitted:  # the project is not in that tier
            print(f"| {tier.value} | - | - | - | {decided.project.rule} | | | | |")
            continue
        view = decided.detail
        views[tier] = view
        filter_ms = median_ms(filt, args.repeat)
        for fmt in (Format.TEXT_HTML, Format.JSON):
            out = render_project(view, fmt, env, href)
            render_ms = median_ms(functools.partial(render_project, view, fmt, env, href), args.repeat)
            gzip_ms = median_ms(functools.partial(gzip.compress, out, compresslevel=6, mtime=0), args.repeat)
            etag_ms = median_ms(functools.partial(etag, fmt, out), args.repeat)
            name = "html" if fmt is Format.TEXT_HTML else "json"
            print(f"| {tier.value} | {len(view.files)} | {filter_ms:.1f} | {name} | {render_ms:.1f} | {gzip_ms:.1f} "
                  f"| {etag_ms:.2f} | {render_ms + gzip_ms + etag_ms:.1f} | {len(out)} |")

    view = views.get(Tier.REVIEWED) or views.get(Tier.ALL)
    if view is None:
        return 1

    def prepare_html() -> None:
        out = render_project(view, Format.TEXT_HTML, env, href)
        gzip.compress(out, compresslevel=6, mtime=0)
        hashlib.sha256(out).hexdigest()

    prof = cProfile.Profile()
    prof.enable()
    for _ in range(10):
        prepare_html()
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    total = stats.total_tt  # type: ignore[attr-defined]
    print()
    print(f"cProfile, 10 preparations of the {'reviewed' if Tier.REVIEWED in views else 'all'} HTML page "
          f"(total {total * 100:.1f} ms per page under the profiler), top functions by own time:")
    print("| function | own ms per page | share |")
    print("|---|---:|---:|")
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:10]  # type: ignore[attr-defined]
    for (file, line, func), (_cc, _nc, tt, _ct, _callers) in rows:
        where = Path(file).name if file != "~" else "builtin"
        print(f"| `{func}` ({where}:{line}) | {tt * 100:.2f} | {tt / total:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
