"""CORS on tier pages and files: off unless ``[server] cors_origins`` lists the origins allowed.

A tier's project list is the organisation's dependency list, so by default no other web site may read it
from a visitor's browser. With ``["*"]`` any site may (as on the public index); with a list of origins, only
those, and the answers then ``Vary: Origin`` so that no cache hands one origin's answer to another.
"""

from __future__ import annotations

from aiohttp import web

from mirror.core.models import Tier

#: Paths that answer with CORS headers when enabled: everything under a tier (pages, files, provenance).
_TIER_PREFIXES = tuple(f"/{tier.value}/" for tier in Tier)
_ALLOW = {
    "Access-Control-Allow-Methods": "GET, HEAD",
    "Access-Control-Max-Age": "86400",
    "Access-Control-Expose-Headers": "X-PyPI-Last-Serial",
}


def allowed_origin(origins: tuple[str, ...], origin: str | None) -> str | None:
    """The ``Access-Control-Allow-Origin`` value for a request from ``origin``, or None for no CORS."""
    if "*" in origins:
        return "*"
    return origin if origin is not None and origin in origins else None


def enable_cors(app: web.Application, origins: tuple[str, ...]) -> None:
    """Add CORS headers to every answer under a tier (pages, redirects, 304s, files, errors) for ``origins``;
    nothing at all when ``origins`` is empty."""
    if not origins:
        return
    per_origin = "*" not in origins

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        if not request.path.startswith(_TIER_PREFIXES):
            return
        if per_origin:
            vary = response.headers.get("Vary")
            response.headers["Vary"] = f"{vary}, Origin" if vary else "Origin"
        allowed = allowed_origin(origins, request.headers.get("Origin"))
        if allowed is not None:
            response.headers["Access-Control-Allow-Origin"] = allowed
            response.headers.update(_ALLOW)

    app.on_response_prepare.append(on_prepare)
