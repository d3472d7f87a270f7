"""Where the CPU of one cold big page goes: each step of the mirror's cold path, in one process, cold caches.

    python -m bench.cold_stages [--files 15000] [--real tests/data/pages/pydantic-core.json.gz]

For a page the mirror has never seen, the steps ``mirror.services.prepared.PreparedPages`` runs, in order:
parse (upstream's JSON or HTML into the project's models), the servable files (hashes and sightings checked,
shared by every tier), the tier decision (``decide_page``), render (one format), then gzip and ETag
(``prepare_bytes``). Measured with ``time.process_time`` on a synthetic page of ``--files`` files (as the fake
upstream serves it, JSON and HTML) and on a real page cached from the live index (``--real``). The parse caches
(wheel versions) are cleared before each page, as a page never seen has names never parsed. Prints a Markdown
table. Each cell is the median of ``--repeat`` cold runs. Pure CPU, no network.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.policies import pins_from_page, write_policies
from bench.synthetic import project_templates, vetted_pins
from mirror.adapters.policy_dir import load_policies
from mirror.core import models
from mirror.core.models import Format, Tier
from mirror.core.simple.parse import parse_project_page
from mirror.core.simple.render import FragmentCache, make_environment, render_project
from mirror.core.simple.rules import JSON_TYPE
from mirror.core.tiers import NO_EVIDENCE, decide_page, servable_page
from mirror.resources import templates_dir
from mirror.services.prepared import file_href, prepare_bytes

STEPS = ("parse", "servable", "decide", "render", "gzip + ETag")


def _clear_caches() -> None:
    for cached in (models.version_from_filename, models._wheel_part, models._version_of):
        cached.cache_clear()


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.process_time()
    result = fn()
    return result, (time.process_time() - started) * 1000


def cold_page(body: bytes, content_type: str, name: str, tier: Tier, fmt: Format, policies: Any
              ) -> tuple[int, dict[str, float]]:
    """Files kept and ms of each step of one cold page for ``tier`` in ``fmt``."""
    _clear_caches()
    gc.collect()  # the garbage of the page before is not this page's cost
    env = make_environment(str(templates_dir()))
    ms: dict[str, float] = {}
    detail, ms["parse"] = _timed(lambda: parse_project_page(body, content_type, project=name,
                                                            page_url=f"http://127.0.0.1:9/simple/{name}/"))
    servable, ms["servable"] = _timed(lambda: servable_page(detail, NO_EVIDENCE))
    view, ms["decide"] = _timed(lambda: decide_page(tier, name, detail, NO_EVIDENCE, policies, datetime.now(UTC),
                                                    servable=servable))
    page = view.detail
    out, ms["render"] = _timed(lambda: render_project(page, fmt, env, lambda f: file_href(f, page.name),
                                                      FragmentCache()))
    _, ms["gzip + ETag"] = _timed(lambda: prepare_bytes(("", 0, 0), 0.0, fmt, out, None, time.perf_counter()))
    return len(page.files), ms


def _newest_pins(body: bytes, versions: int) -> dict[str, dict[str, str]]:
    """The pins of the newest ``versions`` final releases of a real PEP 691 page (vetted as the bench vets)."""
    from packaging.version import Version

    pins = pins_from_page(json.loads(body))
    return {v: pins[v] for v in sorted(pins, key=Version)[-versions:]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=15000)
    ap.add_argument("--real", type=Path, default=Path("tests/data/pages/pydantic-core.json.gz"))
    ap.add_argument("--repeat", type=int, default=3, help="cold runs of each cell (the median of each step)")
    args = ap.parse_args()
    html_t, json_t = project_templates(args.files, "http://127.0.0.1:9/files/")
    pages: list[tuple[str, str, bytes, str]] = [
        (f"synthetic, {args.files:,} files, JSON upstream", "big0", json_t.render("big0"), JSON_TYPE),
        (f"synthetic, {args.files:,} files, HTML upstream", "big1", html_t.render("big1"), "text/html")]
    pins = {name: vetted_pins(name, args.files, 10) for _, name, _, _ in pages}
    if args.real.exists():
        real = args.real.name.split(".")[0]
        pages.append((f"{real} (real page cached from the live index)", real, gzip.decompress(args.real.read_bytes()),
                      JSON_TYPE))
        pins[real] = _newest_pins(pages[-1][2], 10)
    with tempfile.TemporaryDirectory() as tmp:
        names = [p[1] for p in pages]
        write_policies(Path(tmp), names, pins=pins)
        policies = load_policies(Path(tmp))
        parse_project_page(json_t.render("warm"), JSON_TYPE, project="warm",
                           page_url="http://127.0.0.1:9/simple/warm/")  # imports and first-call costs, not counted
        print("| page | tier | format | files served | " + " | ".join(f"{s} ms" for s in STEPS) + " | total ms |")
        print("|---|---|---|---:|" + "---:|" * (len(STEPS) + 1))
        for label, name, body, ctype in pages:
            for tier in (Tier.ALL, Tier.REVIEWED, Tier.VETTED):
                for fmt in (Format.TEXT_HTML, Format.JSON):
                    runs = [cold_page(body, ctype, name, tier, fmt, policies) for _ in range(args.repeat)]
                    kept = runs[0][0]
                    ms = {step: statistics.median(r[1][step] for r in runs) for step in STEPS}
                    cells = " | ".join(f"{ms[s]:.1f}" for s in STEPS)
                    print(f"| {label} | {tier.value} | {'html' if fmt is Format.TEXT_HTML else 'json'} | {kept:,} "
                          f"| {cells} | {sum(ms.values()):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
