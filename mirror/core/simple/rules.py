"""What the page parsers accept from upstream, field by field: one function per decision.

Both formats (PEP 691 JSON and PEP 503 HTML) go through these, so a relative URL, a bad provenance
link or an unknown project status is judged the same way whatever the format. A bad optional field
is dropped with a :class:`ParseWarning`; only a page-level problem raises :class:`ParseError`, whose
message is short and generic (it may reach a client; the details go to the warnings).
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import msgspec
from packaging.version import InvalidVersion, Version

from mirror.core.errors import ParseError
from mirror.core.models import ProjectDetail, ProjectStatus

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPES = ("application/vnd.pypi.simple.v1+html", "text/html")
#: Highest minor version of the 1.x Simple API this parser knows (newer minors only add fields).
KNOWN_MINOR = 4
#: PEP 792 statuses.
STATUSES = frozenset({"active", "archived", "quarantined", "deprecated"})
#: A hostile page could hold a million bad entries: only this many warnings are kept per page.
MAX_WARNINGS = 100
#: Upstream text quoted in a warning is cut to this length.
_QUOTE_LIMIT = 80


class ParseWarning(msgspec.Struct, frozen=True, gc=False):
    """One thing of an upstream page that was dropped or repaired while parsing it.

    ``filename`` names the file concerned (None for the page itself); ``field`` is the key or
    attribute (e.g. ``provenance``, ``upload-time``, ``name``); ``problem`` says what was wrong.
    """

    filename: str | None
    field: str
    problem: str


class Warnings:
    """A bounded collector of :class:`ParseWarning` (the first :data:`MAX_WARNINGS`, then a count)."""

    __slots__ = ("items", "dropped")

    def __init__(self) -> None:
        self.items: list[ParseWarning] = []
        self.dropped = 0

    def add(self, filename: str | None, field: str, problem: str) -> None:
        if len(self.items) < MAX_WARNINGS:
            self.items.append(ParseWarning(filename, field, problem))
        else:
            self.dropped += 1

    def result(self) -> tuple[ParseWarning, ...]:
        """The warnings, ending with a summary one when some were left out."""
        if self.dropped:
            return (*self.items, ParseWarning(None, "warnings", f"{self.dropped} more warnings not listed"))
        return tuple(self.items)


class ParsedPage(msgspec.Struct, frozen=True, gc=False):
    """A parsed project page and what was dropped or repaired while reading it.

    ``detail.name`` is always the normalized name the caller asked for; ``detail.upstream_name`` is
    the name the page itself gave (JSON ``name``), or None when it gave none.
    """

    detail: ProjectDetail
    warnings: tuple[ParseWarning, ...] = ()


def quote(value: object) -> str:
    """A short printable rendering of an upstream value for a warning."""
    text = repr(value)
    return text if len(text) <= _QUOTE_LIMIT else text[: _QUOTE_LIMIT - 3] + "..."


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


def looks_like_html(body: bytes) -> bool:
    """False for bytes with no markup at the start: an HTML parser accepts anything, but such a body
    is garbage, not a page with no files."""
    head = body[:4096].lstrip().lower()
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:].lstrip()
    return head.startswith((b"<!doctype", b"<html", b"<head", b"<body", b"<meta", b"<a", b"<!--", b"<title"))


def decode_html(body: bytes, charset: str | None, warnings: Warnings) -> str:
    """The text of an HTML body: UTF-8 unless the Content-Type names a charset.

    PEP 503 pages are UTF-8 in practice; guessing (what an HTML parser does without a hint) corrupts
    non-ASCII yank reasons and project-status texts. Undecodable bytes become U+FFFD with a warning.
    """
    encoding = charset or "utf-8"
    try:
        text = body.decode(encoding)
    except LookupError:
        warnings.add(None, "charset", f"unknown charset {quote(charset)}; read as UTF-8")
        encoding = "utf-8"
        text = body.decode(encoding, errors="replace")
    except UnicodeDecodeError:
        warnings.add(None, "charset", f"body is not valid {encoding}; bad bytes replaced")
        text = body.decode(encoding, errors="replace")
    return text[1:] if text.startswith("\ufeff") else text


def check_api_version(value: object, warnings: Warnings) -> None:
    """Accept a 1.x repository version (PEP 629); raises ParseError for another major or garbage."""
    if not isinstance(value, str):
        raise ParseError("missing or invalid repository version")
    try:
        version = Version(value)
    except InvalidVersion:
        raise ParseError("invalid repository version") from None
    if (version.epoch, version.major) != (0, 1):
        raise ParseError("unsupported repository version")
    if version.minor > KNOWN_MINOR:
        warnings.add(None, "api-version", f"version {quote(value)} is newer than 1.{KNOWN_MINOR}")


def serial(value: object, warnings: Warnings | None = None, field: str = "_last-serial") -> int | None:
    """A last-serial value (an int, or digits as upstreams that stringify it send), else None."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if warnings is not None:
        warnings.add(None, field, f"not a serial number: {quote(value)}")
    return None


def project_status(status: object, reason: object, warnings: Warnings) -> ProjectStatus:
    """The PEP 792 status; an unknown status is read as ``active`` (with a warning)."""
    if reason is not None and not isinstance(reason, str):
        warnings.add(None, "project-status", f"reason is not text: {quote(reason)}")
        reason = None
    if status is None:
        return ProjectStatus("active", reason)
    if status not in STATUSES:
        warnings.add(None, "project-status", f"unknown status {quote(status)}; read as active")
        return ProjectStatus("active", reason)
    assert isinstance(status, str)
    return ProjectStatus(status, reason)


# ---------------------------------------------------------------------------------------------- URLs

# A relative reference made only of leading "/", "./" or "../" steps followed by plain segments.
_LEAD = re.compile(r"/(?!/)|(?:\.\.?/)*")
_PLAIN_REST = re.compile(r"[^/:?#;\x00-\x20\x7f][^:?#;\x00-\x20\x7f]*")


class UrlResolver:
    """Resolves the references on one page against its URL, as ``urljoin`` does, but fast.

    Absolute http(s) URLs are returned unchanged (the common case); a relative reference whose only
    dot segments lead it (``../../packages/ab/cd/x.whl``) costs one cached ``urljoin`` per distinct
    lead; anything else goes through ``urljoin``.
    """

    __slots__ = ("_base", "_leads")

    def __init__(self, base: str) -> None:
        self._base = base
        self._leads: dict[str, str] = {}

    def resolve(self, ref: str) -> str:
        """``ref`` made absolute; a reference urljoin cannot read (e.g. ``//[x``) is returned as is."""
        if ref.startswith(("https://", "http://")):
            return ref
        try:
            return self._resolve(ref)
        except ValueError:  # urlsplit's "Invalid IPv6 URL" and the like: upstream wrote garbage
            return ref

    def _resolve(self, ref: str) -> str:
        lead = _LEAD.match(ref)
        assert lead is not None  # the pattern matches the empty string
        rest = ref[lead.end():]
        # (urljoin also drops empty segments: "a//b" is left to it.)
        if rest and _PLAIN_REST.fullmatch(rest) and not rest.startswith(".") and "/." not in rest and "//" not in rest:
            key = lead.group() or "./"
            prefix = self._leads.get(key)
            if prefix is None:
                if len(self._leads) >= 64:  # leads are few on a real page; bound them anyway
                    self._leads.clear()
                prefix = self._leads[key] = urljoin(self._base, key)
            return prefix + rest
        return urljoin(self._base, ref)


_HTTPS_URL = re.compile(r"https://[^/?#@\s\\]+(?:[/?#].*)?", re.S)


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, lowercased, or None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def is_plain_https(url: str) -> bool:
    """A cheap test passed by the common file URL (``https://host/path``: no port, no brackets, no
    other colon): such a URL needs no resolving nor the full :func:`is_fetchable` check."""
    return (url.startswith("https://") and url[8:9] not in ("", "/", "?", "#")
            and url.find(":", 8) < 0 and "[" not in url and "]" not in url)


def is_fetchable(url: str) -> bool:
    """True for an absolute http(s) URL with a host (and a valid port, if any): the only kind the
    mirror will fetch a file from."""
    if not url.startswith(("https://", "http://")):
        return False
    try:
        parts = urlsplit(url)
        return bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:
        return False


def provenance_problem(url: str, page_origin: str | None) -> str | None:
    """Why a PEP 740 provenance URL cannot be kept, or None when it can.

    It must be an absolute https URL of a host (no user info); plain http is accepted only on the
    page's own origin (an upstream that is itself served over http, e.g. a local index).
    """
    if _HTTPS_URL.fullmatch(url):
        return None
    if page_origin is not None and page_origin.startswith("http://") and url.lower().startswith(page_origin + "/"):
        return None
    if not url.startswith(("https://", "http://")):
        return f"not an absolute https URL: {quote(url)}"
    return f"not an https URL of a host: {quote(url)}"


class PageUrls:
    """The URL rules for the links of one page: file URLs (resolved, then :func:`is_fetchable`) and
    provenance URLs (:func:`provenance_problem`).

    Pages list thousands of URLs on one or two hosts, so the ``https://host/`` prefix of the last
    good one of each kind is kept (``file_prefix``, ``provenance_prefix``): a URL starting with it
    is good as it is, and a parser's loop pays one ``startswith`` per URL.
    """

    __slots__ = ("_resolver", "_origin", "file_prefix", "provenance_prefix")

    def __init__(self, page_url: str) -> None:
        self._resolver = UrlResolver(page_url)
        self._origin = origin_of(page_url)
        self.file_prefix = self.provenance_prefix = "\0"  # matches no URL

    def file_url(self, url: str) -> str | None:
        """``url`` resolved against the page, or None when it is no URL to fetch a file from."""
        if is_plain_https(url):
            self.file_prefix = _prefix(url) or self.file_prefix
            return url
        url = self._resolver.resolve(url)
        if not is_fetchable(url):
            return None
        # Whether a URL is fetchable depends on its scheme and host only: the next URLs that start with
        # the same ``scheme://host:port/`` are fetchable too (an upstream serving over http or on a port).
        if "@" not in url.partition("//")[2].partition("/")[0]:
            self.file_prefix = _prefix(url) or self.file_prefix
        return url

    def provenance_problem(self, url: str) -> str | None:
        """See :func:`provenance_problem`."""
        problem = provenance_problem(url, self._origin)
        if problem is None and url.startswith("https://"):
            self.provenance_prefix = _prefix(url) or self.provenance_prefix
        return problem


def _prefix(url: str) -> str | None:
    end = url.find("/", 8)
    return url[:end + 1] if end > 8 else None
