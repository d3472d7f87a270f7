"""Content negotiation for Simple API pages (PEP 691), as PyPI and the installers expect it.

Rules (checklist section D): q-values decide; equal q is broken by server order, ``text/html`` first
(PyPI's behaviour); the ``latest`` aliases map to v1; a header that lists only Simple API types this index
does not serve (e.g. ``v2+json``) is 406; anything else without a match falls back to ``text/html``.
``?format=`` overrides Accept and must name exactly one supported type (or a short form: ``json`` for PEP 691
JSON, ``html`` for the PEP 691 HTML type), else 406.
"""

from __future__ import annotations

from mirror.core.errors import NotAcceptable
from mirror.core.models import Format

#: Server preference order, used to break ties between equal q-values.
_OFFERED: tuple[Format, ...] = (Format.TEXT_HTML, Format.HTML, Format.JSON)

_ALIASES = {
    "application/vnd.pypi.simple.latest+json": Format.JSON.value,
    "application/vnd.pypi.simple.latest+html": Format.HTML.value,
}

#: Short forms ``?format=`` accepts besides the media types.
_SHORT_FORMS = {"json": Format.JSON.value, "html": Format.HTML.value}

_SIMPLE_PREFIX = "application/vnd.pypi.simple."


def _parse_accept(header: str) -> list[tuple[str, float]]:
    """Media ranges with their q-values, malformed entries dropped."""
    ranges: list[tuple[str, float]] = []
    for item in header.split(","):
        parts = [p.strip() for p in item.split(";")]
        mtype = parts[0].lower()
        if "/" not in mtype:
            continue
        q = 1.0
        for param in parts[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        ranges.append((_ALIASES.get(mtype, mtype), q))
    return ranges


def _quality(offer: str, ranges: list[tuple[str, float]]) -> float | None:
    """q of the most specific range matching ``offer`` (exact > type/* > */*), or None if none match."""
    major = offer.split("/", 1)[0]
    best: tuple[int, float] | None = None
    for mtype, q in ranges:
        if mtype == offer:
            specificity = 2
        elif mtype == f"{major}/*":
            specificity = 1
        elif mtype == "*/*":
            specificity = 0
        else:
            continue
        if best is None or specificity > best[0]:
            best = (specificity, q)
    return None if best is None else best[1]


def accept_quality(offer: str, accept: str) -> float | None:
    """The q-value an Accept header gives the media type ``offer`` (most specific range wins), or None."""
    return _quality(offer, _parse_accept(accept))


def negotiate(accept: str | None, format_param: str | None = None) -> Format:
    """Choose the representation for a request; raises :class:`NotAcceptable` (→ HTTP 406)."""
    if format_param is not None:
        # An unencoded "+" in a query string arrives as a space ("v1 json"); accept it as meant.
        raw = format_param.strip().lower().replace(" ", "+")
        wanted = _SHORT_FORMS.get(raw) or _ALIASES.get(raw, raw)
        for offer in _OFFERED:
            if offer.value == wanted:
                return offer
        raise NotAcceptable(f"unsupported format {format_param!r}")
    if not accept or not accept.strip():
        return Format.TEXT_HTML
    ranges = _parse_accept(accept)
    best: Format | None = None
    best_q = 0.0
    for offer in _OFFERED:
        q = _quality(offer.value, ranges)
        if q is not None and q > best_q:
            best, best_q = offer, q
    if best is not None:
        return best
    listed = [m for m, _ in ranges]
    if listed and all(m.startswith(_SIMPLE_PREFIX) for m in listed):
        raise NotAcceptable("only unsupported Simple API versions are acceptable")
    return Format.TEXT_HTML


def content_type(fmt: Format) -> str:
    """The Content-Type header value for a representation."""
    return "text/html; charset=utf-8" if fmt is Format.TEXT_HTML else fmt.value
