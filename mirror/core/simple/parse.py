"""Upstream Simple API bytes → typed models (PEP 691 JSON or PEP 503 HTML).

The entry points the cache calls. Each format has its own fast decoder (:mod:`.parse_json`,
:mod:`.parse_html`, :mod:`.project_list` for the index); all share the field rules of :mod:`.rules`:
one bad optional field drops that field, a file without a usable filename or URL drops that file,
and only a body that is not a page of the declared type raises :class:`~mirror.core.errors.ParseError`
(with a short, generic message). What was dropped is returned as :class:`ParseWarning` entries.
The project name of a parsed page is always the one the caller asked for. Nothing here does I/O.
"""

from __future__ import annotations

from itertools import repeat

from packaging.utils import canonicalize_name

from mirror.core.errors import ParseError
from mirror.core.models import ProjectDetail, ProjectEntry, ProjectList
from mirror.core.simple.list_batch import unique
from mirror.core.simple.parse_html import parse_html_page
from mirror.core.simple.parse_json import parse_json_page
from mirror.core.simple.project_list import project_list_parser
from mirror.core.simple.rules import (
    HTML_TYPES,
    JSON_TYPE,
    ParsedPage,
    ParseWarning,
    looks_like_html,
    media_type,
    serial,
)

__all__ = ["HTML_TYPES", "JSON_TYPE", "ParseWarning", "ParsedPage", "media_type", "parse_project_list",
           "parse_project_page", "read_project_page"]


def read_project_page(body: bytes, content_type: str | None, *, project: str, page_url: str,
                      header_serial: str | None = None) -> ParsedPage:
    """Parse an upstream project page, with the warnings of what was dropped or repaired.

    ``project`` is the name the client asked for: the page's ``detail.name`` is that name normalized,
    whatever upstream wrote (a differing name gives a ``name`` warning). ``page_url`` resolves
    relative file URLs; ``header_serial`` is upstream's ``X-PyPI-Last-Serial``, used when the body
    carries none. Raises :class:`ParseError` for any body that is not a valid page of the declared
    type (including an unsupported major API version).
    """
    mtype, charset = media_type(content_type)
    if mtype == JSON_TYPE:
        return parse_json_page(body, project=project, page_url=page_url, header_serial=header_serial)
    if mtype in HTML_TYPES:
        if not looks_like_html(body):
            raise ParseError("body is not HTML")
        return parse_html_page(body, charset, project=project, page_url=page_url, header_serial=header_serial)
    raise ParseError("unsupported content type")


def parse_project_page(body: bytes, content_type: str | None, *, project: str, page_url: str,
                       header_serial: str | None = None,
                       warnings: list[ParseWarning] | None = None) -> ProjectDetail:
    """:func:`read_project_page`'s page; its warnings are appended to ``warnings`` when given."""
    parsed = read_project_page(body, content_type, project=project, page_url=page_url,
                               header_serial=header_serial)
    if warnings is not None:
        warnings.extend(parsed.warnings)
    return parsed.detail


def parse_project_list(body: bytes, content_type: str | None, *, header_serial: str | None = None,
                       warnings: list[ParseWarning] | None = None) -> ProjectList:
    """Parse an upstream index (project list) page; raises :class:`ParseError` when it is not one.

    Entries keep upstream's spelling; a name that normalizes like an earlier one is dropped. For a
    body that arrives in chunks, use :func:`~mirror.core.simple.project_list.project_list_parser`.
    """
    mtype, charset = media_type(content_type)
    if mtype in HTML_TYPES and not looks_like_html(body):
        raise ParseError("body is not HTML")
    parser = project_list_parser(mtype, charset)
    batch = parser.close(body)
    if warnings is not None:
        warnings.extend(parser.warnings.result())
    keys = list(map(canonicalize_name, batch.names))
    if len(set(keys)) == len(keys):  # the usual case: no project listed twice
        entries = tuple(map(ProjectEntry, batch.names, batch.serials or repeat(None)))
    else:
        entries = tuple(ProjectEntry(name, last) for name, last in unique(batch))
    return ProjectList(entries, parser.last_serial or serial(header_serial))
