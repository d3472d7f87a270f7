"""Rendering the UI's pages: the jinja2 environment (autoescaped), filters, flash messages, security headers.

Pages are server-rendered HTML with one stylesheet and no script: the Content-Security-Policy allows no script
at all, forms post only to this server, and no other site may frame a page.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from mirror.core.policy.paths import relative_paths
from mirror.services.tokens import Identity
from mirror.web.auth import clear_cookie, identify, set_cookie
from mirror.web.state import SERVICES

FLASH_COOKIE = "mirror_flash"
_FLASH_BYTES = 1800  # a cookie holds ~4 KB; base64 grows by a third
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _when(value: float | datetime | None) -> str:
    if value is None:
        return "—"
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _age(value: datetime | float | None, now: datetime | None = None) -> str:
    if value is None:
        return "unknown"
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < 0:
        return "in the future"
    for unit, size in (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def _size(value: int | None) -> str:
    if value is None:
        return "—"
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{value} B"


def ui_environment(templates: Path, policy_dir: Path) -> jinja2.Environment:
    """The UI's environment: templates under ``templates/ui``, autoescaped, with its filters (``rel`` shows a
    policy file's path relative to ``policy_dir``, as ``/explain`` does: never the server's paths)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates / "ui")), autoescape=True,
                             auto_reload=False, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    directory = str(policy_dir)
    env.filters.update(when=_when, age=_age, size=_size, rel=lambda text: relative_paths(text, directory))
    return env


def flash(response: web.StreamResponse, request: web.Request, ok: bool, lines: list[str]) -> None:
    """Show ``lines`` on the next page this browser renders (a short-lived cookie)."""
    text = json.dumps({"ok": ok, "lines": lines})
    while len(text.encode()) > _FLASH_BYTES and len(lines) > 1:
        lines = lines[:-1]
        text = json.dumps({"ok": ok, "lines": lines + ["…"]})
    if len(text.encode()) > _FLASH_BYTES:
        text = json.dumps({"ok": ok, "lines": [lines[0][:_FLASH_BYTES // 2] + "…"]})
    set_cookie(response, request, FLASH_COOKIE, base64.urlsafe_b64encode(text.encode()).decode(), max_age=60)


def _read_flash(request: web.Request) -> dict[str, Any] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("lines"), list):
        return None
    return {"ok": data.get("ok") is True, "lines": [str(line) for line in data["lines"][:20]]}


def local_target(value: str | None, default: str) -> str:
    """``value`` when it is a path on this server (a redirect after a form never leaves it), else ``default``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or any(
            ord(c) < 0x21 for c in value):
        return default
    return value


async def render(request: web.Request, template: str, *, status: int = 200, nav: str = "",
                 **context: Any) -> web.Response:
    """The page ``template`` with the common context (identity, CSRF token, flash message, policy version)."""
    services = request.app[SERVICES]
    identity: Identity | None = await identify(request)
    message = _read_flash(request)
    html = services.ui_templates.get_template(template).render(
        identity=identity, csrf=identity.csrf if identity else None, flash=message, nav=nav,
        here=request.path_qs, policy_version=services.policies.current.version,
        access=services.config.web.access, **context)
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8",
                            headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})
    if message is not None:
        clear_cookie(response, request, FLASH_COOKIE)
    return response
