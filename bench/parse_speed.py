"""Parse speed of upstream pages: the mirror's parsers next to the reference (pypi-simple), one run.

    python bench/parse_speed.py [--repeat 15] [--old-list] [--no-corpus]

Prints markdown tables:

1. a synthetic 15,000-file project page (the shape of the public index's pages: core-metadata,
   provenance, upload times...), as PEP 691 JSON and as PEP 503 HTML: median and best ms, new vs old;
2. every real page of tests/data/pages/ (see its README): files, median ms new vs old;
3. a synthetic 700,000-name project list, HTML and JSON: streamed in 64 KiB chunks into a list of
   names, and parsed whole into the cache's ProjectList; seconds and peak traced memory (tracemalloc,
   measured in a separate run from the time); then the name index built from it vs a ``set``.
   ``--old-list`` adds pypi-simple on the lists (minutes for the HTML one).

Targets (issue 10/19, aimed at): 15,000-file JSON page ≤ 15 ms, HTML ≤ 40 ms; 700k-name list ≤ 1 s.
Pure CPU in this process, no network; figures vary with the machine's load (other processes on the
same cores), so compare the columns of one run.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    # Run as a script: import bench's modules as the package they are (bench/numbers.py would
    # otherwise shadow the standard library's numbers module), and mirror from this checkout.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import gc  # noqa: E402
import gzip  # noqa: E402
import hashlib  # noqa: E402
import html  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from functools import partial  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
PAGE_URL = "https://index.example/simple/pydantic-core/"
_TAGS = ["cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64", "cp311-cp311-win_amd64",
         "cp310-cp310-macosx_11_0_arm64", "pp310-pypy310_pp73-musllinux_1_1_aarch64", "py3-none-any"]


def synthetic_files(n: int) -> list[dict[str, Any]]:
    """``n`` files as the public index lists them (a wheel-heavy project like pydantic-core)."""
    out = []
    start = datetime(2022, 1, 1, tzinfo=UTC)
    for i in range(n):
        version = f"2.{i // 300}.{i // 30 % 10}"
        sdist = i % 30 == 0
        filename = f"pydantic_core-{version}.tar.gz" if sdist else \
            f"pydantic_core-{version}-{_TAGS[i % len(_TAGS)]}.whl"
        sha = hashlib.sha256(f"{i}".encode()).hexdigest()
        core: Any = False if sdist else {"sha256": hashlib.sha256(sha.encode()).hexdigest()}
        out.append({
            "core-metadata": core, "data-dist-info-metadata": core, "filename": filename,
            "hashes": {"sha256": sha},
            "provenance": (f"https://index.example/integrity/pydantic-core/{version}/{filename}/provenance"
                           if i % 4 == 0 else None),
            "requires-python": ">=3.8", "size": 1_000_000 + i,
            "upload-time": (start + timedelta(seconds=37 * i, microseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "url": f"https://files.example/packages/{sha[:2]}/{sha[2:4]}/{sha[4:]}/{filename}",
            "yanked": "broken build" if i % 997 == 0 else False,
        })  # fmt: skip
    return out


def json_page(files: list[dict[str, Any]]) -> bytes:
    versions = sorted({f["filename"].split("-")[1].removesuffix(".tar.gz") for f in files})
    return json.dumps({"files": files, "meta": {"_last-serial": 1, "api-version": "1.4"}, "name": "pydantic-core",
                       "project-status": {"status": "active"}, "versions": versions}).encode()


def html_page(files: list[dict[str, Any]]) -> bytes:
    lines = ['<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="1.4">',
             '    <meta name="pypi:project-status" content="active">', "    <title>Links for pydantic-core</title>",
             "  </head>\n  <body>\n    <h1>Links for pydantic-core</h1>"]
    for f in files:
        attrs = [f'href="{f["url"]}#sha256={f["hashes"]["sha256"]}"',
                 f'data-requires-python="{html.escape(f["requires-python"])}"']
        if f["yanked"]:
            attrs.append(f'data-yanked="{html.escape(f["yanked"])}"')
        if f["core-metadata"]:
            value = f"sha256={f['core-metadata']['sha256']}"
            attrs += [f'data-dist-info-metadata="{value}"', f'data-core-metadata="{value}"']
        if f["provenance"]:
            attrs.append(f'data-provenance="{f["provenance"]}"')
        lines.append(f'    <a {" ".join(attrs)}>{f["filename"]}</a><br />')
    lines.append("  </body>\n</html>\n<!--SERIAL 1-->")
    return "\n".join(lines).encode()


def synthetic_names(n: int) -> list[str]:
    """``n`` distinct project names in the spellings of the real list (case, dots, underscores)."""
    words = ["py", "django", "flask", "data", "ml", "aws", "cloud", "tool", "kit", "lib", "api", "net"]
    seps = ["-", "_", ".", ""]
    out = []
    for i in range(n):
        name = f"{words[i % 12]}{seps[i // 12 % 4]}{words[i // 48 % 12]}{i}"
        out.append(name.title() if i % 7 == 0 else name)
    return out


def list_bodies(names: list[str]) -> tuple[bytes, bytes]:
    from packaging.utils import canonicalize_name

    links = "\n".join(f'    <a href="/simple/{canonicalize_name(n)}/">{n}</a><br/>' for n in names)
    html_body = ('<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="1.4">\n'
                 f"    <title>Simple index</title>\n  </head>\n  <body>\n{links}\n  </body>\n</html>\n").encode()
    json_body = json.dumps({"meta": {"_last-serial": 9, "api-version": "1.4"},
                            "projects": [{"_last-serial": i, "name": n} for i, n in enumerate(names)]}).encode()
    return html_body, json_body


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, best) wall ms of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times)


def peak_mb(fn: Callable[[], object]) -> tuple[float, float]:
    """(peak, still held after the call) MB of Python allocations while running ``fn`` (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    kept = fn()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept
    return peak / 1e6, held / 1e6


def _ratio(old: float, new: float) -> str:
    return f"{old / new:.1f}×" if new else "-"


def bench_pages(repeat: int) -> list[str]:
    from bench.synthetic import project_templates
    from mirror.core.simple import parse_reference as reference
    from mirror.core.simple.parse import read_project_page

    files = synthetic_files(15_000)
    html_template, json_template = project_templates(15_000, "https://files.example/packages/")
    rows = ["### Synthetic 15,000-file project page", "",
            "Two shapes: the public index's (core-metadata, data-dist-info-metadata, provenance on a quarter of",
            "the files, a yanked one now and then) and the lighter page of bench/synthetic.py (the prepare-big",
            "phase's: no core-metadata, no provenance).", "",
            "| page | bytes | new median ms | new best ms | old (pypi-simple) median ms | speed-up | target |",
            "|---|---:|---:|---:|---:|---:|---|"]
    for label, ctype, body, target in [
        ("index shape, PEP 691 JSON", JSON_TYPE, json_page(files), 15),
        ("index shape, PEP 503 HTML", "text/html", html_page(files), 40),
        ("bench/synthetic.py, JSON", JSON_TYPE, json_template.render("pydantic-core"), 15),
        ("bench/synthetic.py, HTML", "text/html", html_template.render("pydantic-core"), 40),
    ]:
        parsed = read_project_page(body, ctype, project="pydantic-core", page_url=PAGE_URL)
        assert len(parsed.detail.files) == 15_000 and not parsed.warnings
        page_args = {"project": "pydantic-core", "page_url": PAGE_URL}
        new = timed(partial(read_project_page, body, ctype, **page_args), repeat)
        old = timed(partial(reference.parse_project_page, body, ctype, **page_args), max(1, repeat // 5))
        met = "met" if new[0] <= target else "not met"
        rows.append(f"| {label} | {len(body):,} | {new[0]:.1f} | {new[1]:.1f} | {old[0]:.0f} | {_ratio(old[0], new[0])}"
                    f" | ≤ {target} ms: {met} |")
    return rows


def bench_corpus(repeat: int) -> list[str]:
    from mirror.core.simple import parse_reference as reference
    from mirror.core.simple.parse import read_project_page

    corpus = ROOT / "tests" / "data" / "pages"
    manifest = json.loads((corpus / "MANIFEST.json").read_text())["pages"]
    rows = ["### Real pages (tests/data/pages/)", "",
            "| page | bytes | files | new median ms | old median ms | speed-up |", "|---|---:|---:|---:|---:|---:|"]
    total_new = total_old = 0.0
    for name, info in sorted(manifest.items(), key=lambda kv: -(ROOT / corpus / kv[0]).stat().st_size):
        if not info["project"]:
            continue
        body = gzip.decompress((corpus / name).read_bytes())
        args = {"project": info["project"], "page_url": info["page_url"]}
        ctype = info["content_type"]
        files = len(read_project_page(body, ctype, **args).detail.files)
        new = timed(partial(read_project_page, body, ctype, **args), repeat)[0]
        old = timed(partial(reference.parse_project_page, body, ctype, **args), max(1, repeat // 5))[0]
        total_new, total_old = total_new + new, total_old + old
        rows.append(f"| {name.removesuffix('.gz')} | {len(body):,} | {files:,} | {new:.2f} | {old:.1f} | "
                    f"{_ratio(old, new)} |")
    rows.append(f"| **all pages** | | | {total_new:.1f} | {total_old:.0f} | {_ratio(total_old, total_new)} |")
    return rows


def bench_lists(old_list: bool) -> list[str]:
    from packaging.utils import canonicalize_name

    from mirror.core.simple import parse_reference as reference
    from mirror.core.simple.name_index import NameIndex
    from mirror.core.simple.parse import parse_project_list
    from mirror.core.simple.project_list import project_list_parser

    names = synthetic_names(700_000)
    html_body, json_body = list_bodies(names)

    def streamed(body: bytes, ctype: str) -> list[str]:
        parser = project_list_parser(ctype)
        got: list[str] = []
        for at in range(0, len(body), 65536):
            got += parser.feed(body[at:at + 65536]).names
        got += parser.close().names
        assert len(got) == 700_000
        return got

    rows = ["### Synthetic 700,000-name project list", "",
            "| format | bytes | streamed (64 KiB chunks) → names: s | peak MB | whole → ProjectList: s | peak MB |"
            " old (pypi-simple): s | target ≤ 1 s |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for label, ctype, body in [("HTML", "text/html", html_body), ("JSON", JSON_TYPE, json_body)]:
        stream_s = timed(partial(streamed, body, ctype), 3)[0] / 1000
        stream_peak = peak_mb(partial(streamed, body, ctype))[0]
        whole_s = timed(partial(parse_project_list, body, ctype), 3)[0] / 1000
        whole_peak = peak_mb(partial(parse_project_list, body, ctype))[0]
        old = "-"
        if old_list:
            old = f"{timed(partial(reference.parse_project_list, body, ctype), 1)[0] / 1000:.1f}"
        met = "met" if stream_s <= 1 else "not met"
        rows.append(f"| {label} | {len(body):,} | {stream_s:.2f} | {stream_peak:.0f} | {whole_s:.2f} | "
                    f"{whole_peak:.0f} | {old} | {met} |")
    build_ms = timed(lambda: NameIndex(names), 3)[0]
    index_peak, index_held = peak_mb(lambda: NameIndex(names))
    index = NameIndex(names)
    probes = names[::1000]
    lookup_us = timed(lambda: [n in index for n in probes], 5)[0] * 1000 / len(probes)
    set_peak, set_held = peak_mb(lambda: frozenset(canonicalize_name(n) for n in names))
    raw_mb = sum(len(canonicalize_name(n)) for n in names) / 1e6
    rows += ["", "| \"does upstream have this name?\" (700,000 names) | build ms | held MB | build peak MB "
             "| lookup µs |",
             "|---|---:|---:|---:|---:|",
             f"| NameIndex (sorted blob + offsets; {index.nbytes / 1e6:.1f} MB of data, names alone {raw_mb:.1f} MB) | "
             f"{build_ms:.0f} | {index_held:.1f} | {index_peak:.0f} | {lookup_us:.1f} |",
             f"| frozenset of normalized names | - | {set_held:.1f} | {set_peak:.0f} | - |"]
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15, help="runs per page of the new parser (old: a fifth)")
    ap.add_argument("--old-list", action="store_true", help="also time pypi-simple on the 700,000-name lists")
    ap.add_argument("--no-corpus", action="store_true", help="skip the real pages")
    args = ap.parse_args(argv)
    print(f"## Parse speed · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · Python {sys.version.split()[0]}\n")
    sections = [bench_pages(args.repeat)]
    if not args.no_corpus:
        sections.append(bench_corpus(args.repeat))
    sections.append(bench_lists(args.old_list))
    print("\n\n".join("\n".join(rows) for rows in sections))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
