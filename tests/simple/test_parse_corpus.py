"""Real pages (tests/data/pages/, see its README): the new parsers agree with pypi-simple on each.

The pages were fetched from the reachable upstream with their host names rewritten to neutral ones;
they include big ones (thousands of files) and a 50,000-name sample of the real project list.
"""

from __future__ import annotations

import gzip
import json
import random
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from mirror.core.simple import parse_reference as reference
from mirror.core.simple.list_batch import unique
from mirror.core.simple.name_index import NameIndex
from mirror.core.simple.parse import parse_project_list, read_project_page
from mirror.core.simple.parse_html import HIDDEN, _anchor, raw_anchors, tokenized_anchors
from mirror.core.simple.project_list import JsonListParser, project_list_parser
from mirror.core.simple.rules import JSON_TYPE

CORPUS = Path(__file__).resolve().parent.parent / "data" / "pages"
MANIFEST: dict[str, dict[str, str]] = json.loads((CORPUS / "MANIFEST.json").read_text())["pages"]
PROJECT_PAGES = sorted(name for name, info in MANIFEST.items() if info["project"])
LIST = "project-list-sample.html.gz"


@cache
def body(name: str) -> bytes:
    return gzip.decompress((CORPUS / name).read_bytes())


def test_the_corpus_is_what_the_task_asks_for() -> None:
    projects = {MANIFEST[n]["project"] for n in PROJECT_PAGES}
    formats = {MANIFEST[n]["content_type"] for n in PROJECT_PAGES}
    assert len(projects) >= 28 and formats == {JSON_TYPE, "text/html"}
    assert {"pydantic-core", "numpy", "setuptools", "boto3"} <= projects
    assert max(len(body(n)) for n in PROJECT_PAGES) > 5_000_000  # pydantic-core: 15,000+ files


@pytest.mark.parametrize("name", PROJECT_PAGES)
def test_real_page_agrees_with_the_reference(name: str) -> None:
    info = MANIFEST[name]
    args: dict[str, Any] = {"project": info["project"], "page_url": info["page_url"], "header_serial": "1"}
    new = read_project_page(body(name), info["content_type"], **args)
    old = reference.parse_project_page(body(name), info["content_type"], **args)
    assert new.warnings == ()
    assert new.detail == old
    assert new.detail.files and all(f.url.startswith("https://files.example/") for f in new.detail.files)


@pytest.mark.parametrize("name", [n for n in PROJECT_PAGES if n.endswith(".html.gz")])
def test_real_html_takes_the_fast_path_and_the_tokenizer_reads_it_the_same(name: str) -> None:
    text = HIDDEN.sub("", body(name).decode())
    fast = raw_anchors(text)
    assert len(fast) == text.count("<a")
    assert [_anchor(attrs, raw) for attrs, raw in tokenized_anchors(text)] == fast


@cache
def _reference_list() -> Any:
    return reference.parse_project_list(body(LIST), "text/html", header_serial="9")


def _list_names() -> list[str]:
    return [p.name for p in _reference_list().projects]


def test_real_project_list_agrees_with_the_reference() -> None:
    old = _reference_list()
    new = parse_project_list(body(LIST), "text/html", header_serial="9")
    assert len(old.projects) == 50_000
    assert [(p.name, p.last_serial) for p in new.projects] == list(unique((p.name, None) for p in old.projects))
    assert new.last_serial == old.last_serial == 9


def test_real_project_list_streams_in_any_chunks_to_the_same_entries() -> None:
    data = body(LIST)
    whole = list(project_list_parser("text/html").close(data))
    rng = random.Random(7)
    parser = project_list_parser("text/html")
    got: list[Any] = []
    at = 0
    while at < len(data):
        size = rng.choice([1, 7, 100, 4096, 65536, 300_000])
        got += parser.feed(data[at:at + size])
        at += size
    got += parser.close()
    assert got == whole and len(whole) == 50_000


def test_real_names_as_a_json_list_agree_and_stream() -> None:
    names = _list_names()
    data = json.dumps({"meta": {"api-version": "1.1", "_last-serial": 3},
                       "projects": [{"name": n, "_last-serial": i} for i, n in enumerate(names)]}).encode()
    old = reference.parse_project_list(data, JSON_TYPE)
    new = parse_project_list(data, JSON_TYPE)
    assert [(p.name, p.last_serial) for p in new.projects] == list(unique((p.name, p.last_serial)
                                                                          for p in old.projects))
    parser = JsonListParser()
    got = [e for at in range(0, len(data), 8191) for e in parser.feed(data[at:at + 8191])] + list(parser.close())
    assert got == [(n, i) for i, n in enumerate(names)] and parser.last_serial == 3


def test_real_names_in_a_name_index() -> None:
    names = _list_names()
    index = NameIndex(names)
    normalized = {reference.canonicalize_name(n) for n in names}
    assert len(index) == len(normalized)
    assert all(n in index for n in names[::97]) and all(n.upper() in index for n in names[::101])
    assert "surely-not-a-project-" + "x" * 20 not in index
    assert index.nbytes < sum(len(n) for n in normalized) + 5 * len(normalized)
