"""Models → PEP 691 JSON or PEP 503 HTML bytes.

One PEP 691-shaped dict is built per page; JSON is that dict serialised, HTML is a jinja2 template fed
from the same dict (as Warehouse does). The jinja2 environment is passed in; nothing here does I/O.
File URLs are produced by a caller-supplied function so that the core knows nothing of routing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jinja2
from markupsafe import Markup, escape
from msgspec.structs import replace

from mirror.core.models import (
    API_VERSION,
    DistFile,
    Format,
    ProjectDetail,
    ProjectList,
    format_upload_time,
)
from mirror.core.simple.list_build import document, json_frame, render_entries

FileHref = Callable[[DistFile], str]

_PROJECT_TEMPLATE = "project.html"
_INDEX_TEMPLATE = "index.html"
#: Where the entries go in the rendered index template.
_ANCHORS = "\0ENTRIES\0"


def make_environment(templates_dir: str) -> jinja2.Environment:
    """A jinja2 environment with HTML autoescaping, loading templates from ``templates_dir``."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=True,
        auto_reload=False,
        keep_trailing_newline=True,
    )


def _hash_fragment(f: DistFile) -> str:
    if f.sha256:
        return f"#sha256={f.sha256}"
    chosen = f.verifiable_hash()
    return f"#{chosen[0]}={chosen[1]}" if chosen else ""


def file_json(f: DistFile, href: str) -> dict[str, Any]:
    """The PEP 691/700/714/740 object of one file, with ``url`` = ``href`` (a mirror URL)."""
    metadata = f.checked_metadata()
    core: dict[str, str] | bool = dict(metadata) if metadata else False
    data: dict[str, Any] = {
        "filename": f.filename,
        "url": href,
        "hashes": dict(f.hashes),
        "requires-python": f.requires_python,
    }
    if f.size is not None:
        data["size"] = f.size
    if f.upload_time is not None:
        data["upload-time"] = format_upload_time(f.upload_time)
    data["yanked"] = f.yanked
    data["core-metadata"] = core
    data["data-dist-info-metadata"] = core
    data["provenance"] = f.provenance
    return data


def project_data(detail: ProjectDetail, file_href: FileHref) -> dict[str, Any]:
    """The PEP 691 dict of a project page; ``versions`` is recomputed from the files present."""
    meta: dict[str, Any] = {"api-version": API_VERSION}
    if detail.last_serial is not None:
        meta["_last-serial"] = detail.last_serial
    status: dict[str, str] = {"status": detail.status.status}
    if detail.status.reason:
        status["reason"] = detail.status.reason
    return {
        "meta": meta,
        "name": detail.name,
        "files": [file_json(f, file_href(f)) for f in detail.files],
        "versions": list(detail.computed_versions()),
        "project-status": status,
    }


def _dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _html_anchor(f: DistFile, item: dict[str, Any]) -> str:
    """One ``<a>`` line of a PEP 503 page, escaped; the same attributes the JSON object carries."""
    core = f.metadata_hash()  # PEP 714: one name=value pair
    attrs = [f'href="{escape(item["url"] + _hash_fragment(f))}"']
    if f.requires_python:
        attrs.append(f'data-requires-python="{escape(f.requires_python)}"')
    if f.is_yanked:  # PEP 592: present iff yanked; the value is the reason or ""
        attrs.append(f'data-yanked="{escape(f.yanked_reason or "")}"')
    if core:
        value = escape(f"{core[0]}={core[1]}")
        attrs.append(f'data-core-metadata="{value}" data-dist-info-metadata="{value}"')
    if f.provenance:
        attrs.append(f'data-provenance="{escape(f.provenance)}"')
    return f"    <a {' '.join(attrs)}>{escape(f.filename)}</a><br />"


class FragmentCache:
    """Rendered pieces of each file (its JSON object and its HTML anchor), reused across tiers and page
    versions: a file's rendering depends only on the file and its URL, and a big project's page is
    thousands of them, so a new tier view costs a join instead of a render."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._items: dict[tuple[DistFile, str], tuple[bytes, str]] = {}

    def get(self, f: DistFile, href: str) -> tuple[bytes, str]:
        key = (f, href)
        found = self._items.get(key)
        if found is None:
            item = file_json(f, href)
            found = (_dumps(item), _html_anchor(f, item))
            if len(self._items) >= self._capacity:
                self._items.clear()  # rare; simpler and cheaper than LRU bookkeeping per file
            self._items[key] = found
        return found


def render_project(detail: ProjectDetail, fmt: Format, env: jinja2.Environment, file_href: FileHref,
                   fragments: FragmentCache | None = None) -> bytes:
    """Render a project page in ``fmt`` (both HTML media types share one body).

    The JSON is byte-for-byte ``json.dumps`` of :func:`project_data` (compact separators).
    """
    cache = fragments or FragmentCache()
    pieces = [cache.get(f, file_href(f)) for f in detail.files]
    data = project_data(replace(detail, files=()), file_href)
    if fmt is Format.JSON:
        head = _dumps({"meta": data["meta"], "name": data["name"]})[:-1]
        return b"".join((head, b',"files":[', b",".join(p[0] for p in pieces), b'],"versions":',
                         _dumps(list(detail.computed_versions())), b',"project-status":',
                         _dumps(data["project-status"]), b"}"))
    html = env.get_template(_PROJECT_TEMPLATE).render(
        api_version=API_VERSION, name=detail.name, status=detail.status,
        anchors=Markup("\n".join(p[1] for p in pieces)), serial=detail.last_serial)
    return html.encode("utf-8")


def index_frame(fmt: Format, last_serial: int | None, env: jinja2.Environment) -> tuple[bytes, bytes]:
    """What comes before and after the entries of a project list (see :mod:`.list_build`) in ``fmt``."""
    if fmt is Format.JSON:
        return json_frame(last_serial)
    html = env.get_template(_INDEX_TEMPLATE).render(api_version=API_VERSION, anchors=Markup(_ANCHORS),
                                                    serial=last_serial).encode("utf-8")
    head, _, tail = html.partition(_ANCHORS.encode())
    return head, tail


def render_index(plist: ProjectList, fmt: Format, env: jinja2.Environment) -> bytes:
    """Render a (small) project list; HTML links are ``<normalized>/`` relative to the index URL.

    The bytes are those of the big list's path (:mod:`.list_build`): one ``<a>`` line, or one JSON object, per
    entry, in the given order.
    """
    names = [p.name for p in plist.projects]
    html, json = render_entries(names, [p.last_serial for p in plist.projects])
    head, tail = index_frame(fmt, plist.last_serial, env)
    return bytes(document(head, [json if fmt is Format.JSON else html], tail, json=fmt is Format.JSON))
