"""The reference reading of upstream pages: the ``pypi_simple`` library (pydantic + BeautifulSoup).

This was the mirror's parser until :mod:`mirror.core.simple.parse` got its own fast decoders; it is
kept, unchanged in behaviour, as the oracle the new parsers are tested against (property tests and
the corpus of real pages in tests/data/pages/) and measured against (bench/parse_speed.py). It is
~15-50x slower and one bad field fails a whole page; the mirror does not use it to serve.
Nothing here does I/O.
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
from mirror.core.simple.rules import HTML_TYPES, JSON_TYPE, looks_like_html, media_type


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
    """Parse an upstream project page.

    ``page_url`` resolves relative file URLs; ``header_serial`` is upstream's ``X-PyPI-Last-Serial``,
    used when the body carries none. Raises :class:`ParseError` for any body that is not a valid page
    of the declared type (including an unsupported major API version).
    """
    mtype, charset = media_type(content_type)
    try:
        if mtype == JSON_TYPE:
            page = ProjectPage.from_json_data(_decode_json(body), base_url=page_url)
        elif mtype in HTML_TYPES:
            if not looks_like_html(body):
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
    # Named by the request, as the mirror's own parsers do; upstream's name is only reported (JSON
    # states one; pypi-simple's HTML page just echoes the name it was given, so it counts as none).
    return ProjectDetail(
        name=canonicalize_name(project),
        upstream_name=page.project if mtype == JSON_TYPE and isinstance(page.project, str) else None,
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
            if not looks_like_html(body):
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
