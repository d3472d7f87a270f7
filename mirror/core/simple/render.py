"""Models → PEP 691 JSON or PEP 503 HTML bytes.

One PEP 691-shaped dict is built per page; JSON is that dict serialised, HTML is a jinja2 template fed
from the same dict (as Warehouse does). The jinja2 environment is passed in; nothing here does I/O.
File URLs are produced by a caller-supplied function so that the core knows nothing of routing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jinja2
import msgspec
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
    # msgspec writes what ``json.dumps(data, separators=(",", ":"), ensure_ascii=False)`` writes, UTF-8
    # encoded (same escapes, insertion order kept), several times faster: pages carry thousands of objects.
    return msgspec.json.encode(data)


#: A character HTML needs escaped; most filenames, URLs and specifiers have none, and skip the escaping.
_SPECIAL = re.compile(r"[&<>\"']")


def _escape(text: str) -> str:
    return str(escape(text)) if _SPECIAL.search(text) else text


def _html_anchor(f: DistFile, url: str, escaped: dict[str, str]) -> str:
    """One ``<a>`` line of a PEP 503 page, escaped; the same attributes the JSON object carries.

    ``escaped`` remembers the escaped form of values that repeat across a page's files (``Requires-Python``).
    """
    sha256 = f.sha256
    link = _escape(f"{url}#sha256={sha256}" if sha256 else url + _hash_fragment(f))
    rp = ""
    if f.requires_python:
        rp = escaped.get(f.requires_python) or escaped.setdefault(f.requires_python, _escape(f.requires_python))
        rp = f' data-requires-python="{rp}"'
    rest = ""
    if f.is_yanked:  # PEP 592: present iff yanked; the value is the reason or ""
        rest = f' data-yanked="{_escape(f.yanked_reason or "")}"'
    if f.core_metadata is not None and (core := f.metadata_hash()):  # PEP 714: one name=value pair
        value = _escape(f"{core[0]}={core[1]}")
        rest += f' data-core-metadata="{value}" data-dist-info-metadata="{value}"'
    if f.provenance:
        rest += f' data-provenance="{_escape(f.provenance)}"'
    return f'    <a href="{link}"{rp}{rest}>{_escape(f.filename)}</a><br />'


class FragmentCache:
    """Rendered pieces of each file (its JSON object, its HTML anchor), reused across tiers and page
    versions: a file's rendering depends only on the file and its URL, and a big project's page is
    thousands of them, so a new tier view costs a join instead of a render. Each piece is made when a
    page of its format is first rendered (a client asking for HTML does not pay for the JSON)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._json: dict[tuple[DistFile, str], bytes] = {}
        self._html: dict[tuple[DistFile, str], str] = {}
        self._escaped: dict[str, str] = {}

    def json(self, f: DistFile, href: str) -> bytes:
        """The file's PEP 691 object, serialised."""
        key = (f, href)
        found = self._json.get(key)
        if found is None:
            found = _dumps(file_json(f, href))
            self._store(self._json, key, found)
        return found

    def html(self, f: DistFile, href: str) -> str:
        """The file's PEP 503 anchor line, escaped."""
        key = (f, href)
        found = self._html.get(key)
        if found is None:
            if len(self._escaped) > 1024:
                self._escaped.clear()
            found = _html_anchor(f, href, self._escaped)
            self._store(self._html, key, found)
        return found

    def _store(self, items: dict[tuple[DistFile, str], Any], key: tuple[DistFile, str], value: Any) -> None:
        if len(items) >= self._capacity:
            items.clear()  # rare; simpler and cheaper than LRU bookkeeping per file
        items[key] = value


def render_project(detail: ProjectDetail, fmt: Format, env: jinja2.Environment, file_href: FileHref,
                   fragments: FragmentCache | None = None) -> bytes:
    """Render a project page in ``fmt`` (both HTML media types share one body).

    The JSON is byte-for-byte ``json.dumps`` of :func:`project_data` (compact separators).
    """
    cache = fragments or FragmentCache()
    data = project_data(replace(detail, files=()), file_href)
    if fmt is Format.JSON:
        piece = cache.json
        head = _dumps({"meta": data["meta"], "name": data["name"]})[:-1]
        return b"".join((head, b',"files":[', b",".join([piece(f, file_href(f)) for f in detail.files]),
                         b'],"versions":', _dumps(list(detail.computed_versions())), b',"project-status":',
                         _dumps(data["project-status"]), b"}"))
    anchor = cache.html
    html = env.get_template(_PROJECT_TEMPLATE).render(
        api_version=API_VERSION, name=detail.name, status=detail.status,
        anchors=Markup("\n".join([anchor(f, file_href(f)) for f in detail.files])), serial=detail.last_serial)
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
