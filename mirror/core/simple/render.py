"""Models → PEP 691 JSON or PEP 503 HTML bytes.

One PEP 691-shaped dict is built per page; JSON is that dict serialised, HTML is a jinja2 template fed
from the same dict (as Warehouse does). The jinja2 environment is passed in; nothing here does I/O.
File URLs are produced by a caller-supplied function so that the core knows nothing of routing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import jinja2
import msgspec
from markupsafe import Markup, escape

from mirror.core.models import (
    API_VERSION,
    DistFile,
    Format,
    ProjectDetail,
    ProjectList,
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


class FileObject(msgspec.Struct, kw_only=True, omit_defaults=True, rename="kebab"):
    """The PEP 691/700/714/740 object of one file as the mirror serves it (keys in this order; ``size`` and
    ``upload-time`` only when known)."""

    filename: str
    url: str
    hashes: Mapping[str, str]
    requires_python: str | None
    size: int | None = None
    upload_time: datetime | None = None
    yanked: bool | str
    core_metadata: Mapping[str, str] | bool
    data_dist_info_metadata: Mapping[str, str] | bool
    provenance: str | None


def file_object(f: DistFile, href: str) -> FileObject:
    """The object of one file, with ``url`` = ``href`` (a mirror URL)."""
    core: Mapping[str, str] | bool = (f.checked_metadata() or False) if f.core_metadata is not None else False
    when = f.upload_time
    if when is not None and when.tzinfo is not UTC:
        when = when.astimezone(UTC)  # written as PEP 700 wants: UTC, "Z"
    hashes = f.hashes if f.hashes.__class__ is dict else dict(f.hashes)
    return FileObject(filename=f.filename, url=href, hashes=hashes, requires_python=f.requires_python,
                      size=f.size, upload_time=when, yanked=f.yanked, core_metadata=core,
                      data_dist_info_metadata=core, provenance=f.provenance)


def project_meta(detail: ProjectDetail) -> tuple[dict[str, Any], dict[str, str]]:
    """The ``meta`` and ``project-status`` objects of a project page."""
    meta: dict[str, Any] = {"api-version": API_VERSION}
    if detail.last_serial is not None:
        meta["_last-serial"] = detail.last_serial
    status: dict[str, str] = {"status": detail.status.status}
    if detail.status.reason:
        status["reason"] = detail.status.reason
    return meta, status


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
    """The HTML anchor of each file, reused across tiers and page versions: a file's anchor depends only on the
    file and its URL, and a big project's page is thousands of them, so a new tier view costs a join instead of a
    render. (The JSON form is encoded in one call per page: cheaper than looking pieces up.)"""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._html: dict[tuple[DistFile, str], str] = {}
        self._escaped: dict[str, str] = {}

    def html(self, f: DistFile, href: str) -> str:
        """The file's PEP 503 anchor line, escaped."""
        key = (f, href)
        found = self._html.get(key)
        if found is None:
            if len(self._escaped) > 1024:
                self._escaped.clear()
            found = _html_anchor(f, href, self._escaped)
            if len(self._html) >= self._capacity:
                self._html.clear()  # rare; simpler and cheaper than LRU bookkeeping per file
            self._html[key] = found
        return found


def render_project(detail: ProjectDetail, fmt: Format, env: jinja2.Environment, file_href: FileHref,
                   fragments: FragmentCache | None = None) -> bytes:
    """Render a project page in ``fmt`` (both HTML media types share one body).

    The JSON is compact (no spaces), keys in PEP 691's order, non-ASCII characters written as UTF-8.
    """
    meta, status = project_meta(detail)
    if fmt is Format.JSON:
        head = _dumps({"meta": meta, "name": detail.name})[:-1]
        files = _dumps([file_object(f, file_href(f)) for f in detail.files])
        return b"".join((head, b',"files":', files, b',"versions":', _dumps(list(detail.computed_versions())),
                         b',"project-status":', _dumps(status), b"}"))
    anchor = (fragments or FragmentCache()).html
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
