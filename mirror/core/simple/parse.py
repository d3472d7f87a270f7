"""Upstream Simple API bytes → typed models (PEP 691 JSON or PEP 503 HTML).

The parsing of both formats is delegated to the maintained ``pypi_simple`` library (pure functions);
this module converts its objects into :mod:`mirror.core.models` and turns every parse failure into one
:class:`~mirror.core.errors.ParseError`. Nothing here does I/O.
"""

from __future__ import annotations

import json
from typing import Any

from packaging.utils import canonicalize_name
from pypi_simple import DistributionPackage, IndexPage, ProjectPage
from pypi_simple.errors import UnsupportedRepoVersionError

from mirror.core.errors import ParseError
from mirror.core.models import (
    DistFile,
    ProjectDetail,
    ProjectEntry,
    ProjectList,
    ProjectStatus,
)

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPES = ("application/vnd.pypi.simple.v1+html", "text/html")


def media_type(content_type: str | None) -> tuple[str, str | None]:
    """Split a Content-Type header into (lowercased media type, charset or None)."""
    if not content_type:
        return "text/html", None
    parts = [p.strip() for p in content_type.split(";")]
    charset = None
    for param in parts[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return parts[0].lower(), charset


def _html_encoding(charset: str | None) -> str:
    # PEP 503 pages are UTF-8 in practice; guessing (what an HTML parser does without a hint)
    # corrupts non-ASCII yank reasons and project-status texts.
    return charset or "utf-8"


def _serial(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def _dist_file(pkg: DistributionPackage) -> DistFile:
    core: dict[str, str] | None = None
    if pkg.has_metadata:
        core = dict(pkg.metadata_digests or {})
    yanked: bool | str = False
    if pkg.is_yanked:
        yanked = pkg.yanked_reason or True
    return DistFile(
        filename=pkg.filename,
        url=pkg.url,
        hashes=dict(pkg.digests or {}),
        requires_python=pkg.requires_python or None,
        size=pkg.size,
        upload_time=pkg.upload_time,
        yanked=yanked,
        core_metadata=core,
        provenance=pkg.provenance_url,
    )


def _decode_json(body: bytes) -> Any:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParseError(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ParseError("JSON page is not an object")
    return data


def parse_project_page(body: bytes, content_type: str | None, *, project: str, page_url: str,
                       header_serial: str | None = None) -> ProjectDetail:
    """Parse an upstream project page requested as ``project``.

    The result is named ``project`` (normalized) whatever name the page states. ``page_url`` resolves
    relative file URLs; ``header_serial`` is upstream's ``X-PyPI-Last-Serial``, used when the body
    carries none. Raises :class:`ParseError` for any body that is not a valid page
    of the declared type (including an unsupported major API version).
    """
    mtype, charset = media_type(content_type)
    try:
        if mtype == JSON_TYPE:
            page = ProjectPage.from_json_data(_decode_json(body), base_url=page_url)
        elif mtype in HTML_TYPES:
            if not _looks_like_html(body):
                raise ParseError("body is not HTML")
            page = ProjectPage.from_html(project, body, base_url=page_url, from_encoding=_html_encoding(charset))
        else:
            raise ParseError(f"unsupported content type {mtype!r}")
    except ParseError:
        raise
    except UnsupportedRepoVersionError as exc:
        raise ParseError(f"unsupported repository version: {exc}") from None
    except Exception as exc:  # pydantic/bs4 raise many types for malformed input; all mean "bad page"
        raise ParseError(f"malformed {mtype} page: {type(exc).__name__}: {exc}") from None
    files = tuple(_dist_file(p) for p in page.packages if p.filename)
    status = ProjectStatus(page.status.value if page.status else "active", page.status_reason)
    # The page is filed under the name it was requested by: upstream's ``name`` cannot rename a project
    # (and so escape that project's blocks and review rules); it is only kept to report a mismatch.
    return ProjectDetail(
        name=canonicalize_name(project),
        upstream_name=page.project if isinstance(page.project, str) else None,
        files=files,
        versions=tuple(page.versions or ()),
        last_serial=_serial(page.last_serial) or _serial(header_serial),
        status=status,
    )


def parse_project_list(body: bytes, content_type: str | None, *,
                       header_serial: str | None = None) -> ProjectList:
    """Parse an upstream index (project list) page; raises :class:`ParseError` when it is not one."""
    mtype, charset = media_type(content_type)
    try:
        if mtype == JSON_TYPE:
            data = _decode_json(body)
            index = IndexPage.from_json_data(data)
            serials = {p.get("name"): _serial(p.get("_last-serial"))
                       for p in data.get("projects", []) if isinstance(p, dict)}
            entries = tuple(ProjectEntry(n, serials.get(n)) for n in index.projects)
        elif mtype in HTML_TYPES:
            if not _looks_like_html(body):
                raise ParseError("body is not HTML")
            index = IndexPage.from_html(body, from_encoding=_html_encoding(charset))
            entries = tuple(ProjectEntry(n.strip()) for n in index.projects if n.strip())
        else:
            raise ParseError(f"unsupported content type {mtype!r}")
    except ParseError:
        raise
    except UnsupportedRepoVersionError as exc:
        raise ParseError(f"unsupported repository version: {exc}") from None
    except Exception as exc:  # see parse_project_page
        raise ParseError(f"malformed {mtype} index: {type(exc).__name__}: {exc}") from None
    return ProjectList(projects=entries, last_serial=_serial(index.last_serial) or _serial(header_serial))


def _looks_like_html(body: bytes) -> bool:
    # An HTML parser accepts any bytes; a page with no markup at all is garbage, not "no files".
    head = body[:4096].lstrip().lower()
    return head.startswith((b"<!doctype", b"<html", b"<head", b"<body", b"<meta", b"<a", b"<!--", b"<title"))
