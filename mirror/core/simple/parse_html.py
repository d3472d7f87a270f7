"""PEP 503 HTML project page → :class:`~mirror.core.simple.rules.ParsedPage`, without a DOM.

A page is a list of ``<a>`` anchors plus a few ``<meta name="pypi:...">`` tags and maybe a
``<base href>``; nothing else of the document matters. Comments and ``<script>``/``<style>`` bodies
are removed first (an anchor inside them is not a link). Then:

- a fast path reads every anchor with one regular expression, for pages written the way indexes
  write them (lowercase attribute names, double-quoted values, plain text, ``</a>``). The same scan
  marks any ``<a``/``<A`` it could not read that way; the fast result is used only when there is
  none, so no anchor is ever skipped;
- otherwise a tokenizer with the attribute grammar of the standard library's ``html.parser`` (what
  pypi-simple's parser uses) reads each tag: single-quoted, unquoted and valueless attributes, any
  case, nested markup in the link text, an anchor left open.

Known difference from pypi-simple: an anchor still open when the next ``<a>`` starts ends there (as
in HTML5 parsers), instead of taking the next link's text. The field rules (URLs, provenance,
statuses...) are those of :mod:`mirror.core.simple.rules`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from operator import itemgetter

from packaging.utils import canonicalize_name

from mirror.core.models import DistFile, ProjectDetail
from mirror.core.simple.rules import (
    PageUrls,
    ParsedPage,
    UrlResolver,
    Warnings,
    check_api_version,
    decode_html,
    project_status,
    quote,
    serial,
)

#: An anchor as read: the href before "#", the fragment's algorithm and digest
#: (``#<algorithm>=<digest>``), data-requires-python, data-yanked, data-core-metadata,
#: data-dist-info-metadata, data-provenance, the link text, and a marker that is "" for a read
#: anchor; each as written (entities not yet decoded: most values have none), "" when absent;
#: data-yanked is '="<reason>"' when present.
RawAnchor = tuple[str, str, str, str, str, str, str, str, str, str]
_ATTRIBUTES = ("href", "data-requires-python", "data-yanked", "data-core-metadata", "data-dist-info-metadata",
               "data-provenance")

# Parts of the document where markup is not markup (html.parser treats script/style bodies as text).
HIDDEN = re.compile(r"<!--.*?(?:-->|\Z)|<(script|style)(?=[\s/>]).*?(?:</\1\s*>|\Z)", re.S | re.I)
# Attributes as html.parser reads them (its attrfind_tolerant / locatestarttagend_tolerant).
_ATTRS = (r"""(?:[\s/]*(?:(?<=['"\s/])[^\s/>][^\s/=>]*"""
          r"""(?:\s*=+\s*(?:'[^']*'|"[^"]*"|(?!['"])[^>\s]*)\s*)?(?:\s|/(?!>))*)*)?""")
_ATTR = re.compile(r"""((?<=['"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*('[^']*'|"[^"]*"|(?!['"])[^>\s]*))?""")
_TAG = re.compile(r"<(/?)([a-zA-Z][^\t\n\r\f />\x00]*)(" + _ATTRS + r")\s*(/?)>")
# One scan finds what must be looked at besides anchors: hidden parts, <meta> and <base> tags.
_SPECIAL = re.compile(r"<(?:(!--|(?:script|style)(?=[\s/>]))|(meta|base)(?=[\s/>])(" + _ATTRS + r")\s*/?>)", re.I)
_CORE_DIGEST = re.compile(r"(\w+)=([0-9A-Fa-f]+)")
_HEX_DIGITS = "0123456789abcdefABCDEF"
_FAST_ANCHOR = re.compile(
    r'<a(?:\s++(?:href="([^"#]*+)(?:#([^"=]*+)=([^"]*+))?"|data-(?:requires-python="([^"]*+)"|yanked(="[^"]*+")'
    r'|core-metadata="([^"]*+)"|dist-info-metadata="([^"]*+)"|provenance="([^"]*+)")'
    r'|(?!(?:' + "|".join(_ATTRIBUTES) + r')[\s=/>])[a-z][a-z0-9_:.-]*+(?:="[^"]*+")?))*+\s*+>([^<]*+)</a>'
    r"|(<[aA])")  # fmt: skip
_MARKER = itemgetter(9)


def parse_html_page(body: bytes, charset: str | None, *, project: str, page_url: str,
                    header_serial: str | None = None) -> ParsedPage:
    """Parse a PEP 503 project page (decoded as ``charset``, UTF-8 by default).

    The result carries ``project`` normalized as its name (an HTML page names no project);
    ``header_serial`` is upstream's ``X-PyPI-Last-Serial``. Raises ParseError only for an unsupported
    ``pypi:repository-version``; the caller rejects bodies that are not HTML at all.
    """
    warnings = Warnings()
    text, meta, base_href = scan(decode_html(body, charset, warnings))
    if "repository-version" in meta:
        check_api_version(meta["repository-version"][0], warnings)
    base = page_url if base_href is None else UrlResolver(page_url).resolve(_unescape(base_href))
    status = project_status(_first(meta, "project-status"), _first(meta, "project-status-reason"), warnings)
    detail = ProjectDetail(name=canonicalize_name(project), files=_dist_files(raw_anchors(text), base, warnings),
                           last_serial=serial(header_serial), status=status)
    return ParsedPage(detail, warnings.result())


def scan(text: str) -> tuple[str, dict[str, list[str]], str | None]:
    """The document without comments/scripts/styles, its ``pypi:`` meta tags ({name: [content...]},
    PEP 629/708/792) and the href of its first ``<base href>`` (None without one)."""
    meta: dict[str, list[str]] = {}
    base: list[str] = []
    for m in _SPECIAL.finditer(text):
        if m.group(1):  # the first hidden part: strip from there, then read the rest again
            head, tail = text[:m.start()], HIDDEN.sub("", text[m.start():])
            for found in _SPECIAL.finditer(tail):
                _special(found, meta, base)
            return head + tail, meta, base[0] if base else None
        _special(m, meta, base)
    return text, meta, base[0] if base else None


def _special(m: re.Match[str], meta: dict[str, list[str]], base: list[str]) -> None:
    if not m.group(2):
        return
    attrs = attributes(m.group(3))
    if m.group(2).lower() == "base":
        if "href" in attrs:
            base.append(attrs["href"])
        return
    name, content = attrs.get("name"), attrs.get("content")
    if name is not None and content is not None:
        name = _unescape(name)
        if name.startswith("pypi:"):
            meta.setdefault(name[5:], []).append(_unescape(content))


def _first(meta: dict[str, list[str]], key: str) -> str | None:
    values = meta.get(key)
    return values[0] if values else None


def attributes(raw: str) -> dict[str, str]:
    """Attributes of a start tag: names lowercased, last duplicate wins, no value = "".

    Values are as written (entities not decoded) but without their quotes.
    """
    found: dict[str, str] = {}
    for name, _, value in _ATTR.findall(raw):
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        found[name.lower()] = value
    return found


def _unescape(value: str) -> str:
    return html.unescape(value) if "&" in value else value


def link_text(raw: str) -> str:
    """Link text: nested tags removed, entities decoded, surrounding whitespace stripped."""
    if "<" in raw:
        raw = _TAG.sub("", raw)
    return _unescape(raw).strip()


def raw_anchors(text: str) -> list[RawAnchor]:
    """Every ``<a>`` of a document without comments/scripts, with the attributes PEP 503 defines."""
    fast = _FAST_ANCHOR.findall(text)
    if not any(map(_MARKER, fast)):  # every "<a"/"<A" was a link read by the fast path
        return fast
    return [_anchor(attrs, raw_text) for attrs, raw_text in tokenized_anchors(text)]


def tokenized_anchors(text: str) -> Iterator[tuple[dict[str, str], str]]:
    """The slow, general reading: every tag visited, each anchor as (attributes, raw link text).

    An anchor ends at ``</a>``, at the next ``<a>`` (as HTML5 parsers close it) or at the end of the
    document; ``<a .../>`` has no text.
    """
    open_attrs: dict[str, str] | None = None
    start = 0
    for m in _TAG.finditer(text):
        if m.group(2).lower() != "a":
            continue
        if open_attrs is not None:
            yield open_attrs, text[start:m.start()]
            open_attrs = None
        if not m.group(1):  # a start tag (an end tag only closes)
            attrs = attributes(m.group(3))
            if m.group(4):
                yield attrs, ""
            else:
                open_attrs, start = attrs, m.end()
    if open_attrs is not None:
        yield open_attrs, text[start:]


def _anchor(attrs: dict[str, str], raw_text: str) -> RawAnchor:
    """An anchor of the tokenizer in the shape the fast path gives."""
    href = attrs.get("href")
    url, alg, digest = _split_href(_unescape(href)) if href else ("", "", "")
    yanked = attrs.get("data-yanked")
    # Values handed on decoded are escaped again ("&" → "&amp;") so that decoding them once more in
    # _dist_files, as for the fast path, gives them back unchanged.
    return (_escape_amp(url), _escape_amp(alg), _escape_amp(digest), attrs.get("data-requires-python", ""),
            "" if yanked is None else '="' + yanked + '"', attrs.get("data-core-metadata", ""),
            attrs.get("data-dist-info-metadata", ""), attrs.get("data-provenance", ""), raw_text, "")


def _escape_amp(value: str) -> str:
    return value.replace("&", "&amp;")


def _split_href(href: str) -> tuple[str, str, str]:
    url, _, fragment = href.partition("#")
    algorithm, _, digest = fragment.partition("=")
    return url, algorithm, digest


def _dist_files(found: Iterable[RawAnchor], base: str, warnings: Warnings) -> tuple[DistFile, ...]:
    """The files of the page's links.

    This loop runs once per link of pages with 15,000+ links: the common case (a URL on the host of
    the previous one, plain text, a ``sha256=<hex>`` core-metadata digest) is kept to a few string
    operations and one constructor call.
    """
    urls = PageUrls(base)
    file_prefix, provenance_prefix = urls.file_prefix, urls.provenance_prefix
    decoded: dict[str, str] = {}  # raw attribute → value: requires-python texts repeat on every link
    out: list[DistFile] = []
    append = out.append
    for url, algorithm, digest, requires_python, yanked, core, dist_info, provenance, text, _ in found:
        if not url and not digest:
            continue  # not a link (or a link to the page itself)
        if "&" in url or "&" in algorithm or "&" in digest:
            url, algorithm, digest = _split_href(html.unescape(url + "#" + algorithm + "=" + digest if digest
                                                               else url))
        filename = link_text(text) if "<" in text or "&" in text else text.strip()
        if not filename:
            warnings.add(None, "filename", f"a link without text was dropped: {quote(url)}")
            continue
        if not url.startswith(file_prefix):
            checked = urls.file_url(url)
            if checked is None:
                warnings.add(filename, "url", f"not an http(s) URL: {quote(url)}; file dropped")
                continue
            url, file_prefix = checked, urls.file_prefix
        if requires_python:
            value = decoded.get(requires_python)
            if value is None:
                value = decoded[requires_python] = _unescape(requires_python)
            requires_python = value
        metadata = None
        if core or dist_info:
            core = core or dist_info
            if core.startswith("sha256=") and len(core) == 71 and not core[7:].strip(_HEX_DIGITS):
                metadata = {"sha256": core[7:]}
            else:
                metadata = _core_metadata(_unescape(core), filename, warnings)
        if provenance:
            provenance = _unescape(provenance)
            if not provenance.startswith(provenance_prefix):
                if (problem := urls.provenance_problem(provenance)) is not None:
                    warnings.add(filename, "provenance", problem + "; dropped")
                    provenance = ""
                provenance_prefix = urls.provenance_prefix
        append(DistFile(
            filename, url, {algorithm: digest} if digest else {}, requires_python or None, None, None,
            (_unescape(yanked[2:-1]) or True) if yanked else False,  # PEP 592: present = yanked; "" = no reason
            metadata, provenance or None,
        ))  # fmt: skip
    return tuple(out)


def _core_metadata(value: str, filename: str, warnings: Warnings) -> dict[str, str] | None:
    """``data-core-metadata``: ``true`` (no hash given), ``<algorithm>=<hex>``, or anything else = none."""
    m = _CORE_DIGEST.fullmatch(value)
    if m:
        return {m.group(1): m.group(2)}
    if value.lower() == "true":
        return {}
    warnings.add(filename, "data-core-metadata", f"not true or <algorithm>=<hex>: {quote(value)}; dropped")
    return None
