"""Tokens, logins and forms against a running mirror, for the UI and admin API tests."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from mirror.adapters.db.tokens import TokenRecord, TokenStore
from mirror.config import Config, WebConfig
from mirror.core.auth import new_token
from mirror.web.lifecycle import ENGINE
from mirror.web.state import SERVICES

from .mirror_server import make_config

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
#: Every attribute the UI's templates write: anything else is two attributes glued together by a template.
KNOWN_ATTRIBUTES = frozenset(
    "id name type value href class rel role for action method lang content charset maxlength required "
    "aria-describedby aria-current aria-invalid tabindex data-label autocomplete spellcheck placeholder "
    "autofocus selected scope aria-label aria-labelledby".split())


def web_config(tmp_path: Path, upstream_url: str, **web_settings: Any) -> Config:
    """``make_config`` with ``[web]`` settings; rate limits high enough for tests that send many requests."""
    settings = {"api_per_minute": 100_000, "login_per_minute": 100_000, **web_settings}
    return replace(make_config(tmp_path, upstream_url), web=WebConfig(**settings))


async def make_token(app: web.Application, name: str = "alice", role: str = "reviewer", *, expired: bool = False,
                     revoked: bool = False) -> str:
    """A token's text, stored in the running mirror's database (expired an hour ago, or revoked, when asked)."""
    services = app[SERVICES]
    if expired:
        made = new_token()
        now = time.time()
        await TokenStore(app[ENGINE]).add(TokenRecord(made.key_id, made.secret_sha256, name, role, now - 7200,
                                                      expires_at=now - 3600))
        return made.text
    record, text = await services.tokens.create(name, role)
    if revoked:
        await services.tokens.revoke(record.key_id)
    return text


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def browser_session() -> aiohttp.ClientSession:
    """A client that keeps cookies for 127.0.0.1 (aiohttp's default jar ignores IP hosts)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


async def login(http: aiohttp.ClientSession, base: str, token: str) -> str:
    """Log ``http`` in through the login form; returns the session's CSRF token (from the next page's forms)."""
    async with http.get(f"{base}/ui/login") as resp:
        assert resp.status == 200
        login_csrf = csrf_of(await resp.text())
    async with http.post(f"{base}/ui/login", data={"csrf_token": login_csrf, "token": token, "next": "/ui/audit"},
                         allow_redirects=False) as resp:
        assert resp.status == 303, await resp.text()
    async with http.get(f"{base}/ui/audit") as resp:
        return csrf_of(await resp.text())


class UiPage(HTMLParser):
    """What the accessibility checks and the tests read of a UI page: headings, form controls and their
    labels, the release rows' verdicts (``<tr id="v-VERSION">`` cells ``data-label=TIER`` with a verdict)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.lang: str | None = None
        self.headings: list[tuple[str, str]] = []
        self.controls: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.verdicts: dict[str, dict[str, str]] = {}
        self.unknown_attributes: list[tuple[str, str]] = []
        self._heading: str | None = None
        self._text: list[str] = []
        self._row: str | None = None
        self._cell: str | None = None
        # ``a="x"b="y"``: two attributes a template glued together (browsers guess; a missing space is an error)
        self.glued = re.findall(r'="[^"]*"[A-Za-z]', text)
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.unknown_attributes += [(tag, k) for k in a if k not in KNOWN_ATTRIBUTES]
        if tag == "html":
            self.lang = a.get("lang")
        elif tag in ("h1", "h2", "h3"):
            self._heading, self._text = tag, []
        elif tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.controls.append(a)
        elif tag == "label" and a.get("for"):
            self.label_for.add(str(a["for"]))
        elif tag == "tr" and (a.get("id") or "").startswith("v-"):
            self._row = str(a["id"])[2:]
            self.verdicts[self._row] = {}
        elif tag in ("td", "th") and self._row is not None:
            self._cell = a.get("data-label")
        elif tag == "span" and self._row is not None and self._cell and "verdict" in (a.get("class") or ""):
            self.verdicts[self._row][self._cell] = "in" if "in" in (a.get("class") or "").split() else "out"

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == self._heading:
            self.headings.append((tag, " ".join("".join(self._text).split())))
            self._heading = None
        elif tag == "tr":
            self._row = None

    def problems(self) -> list[str]:
        """What makes the page hard to use with a screen reader or a keyboard (empty: nothing found)."""
        found = []
        if not self.lang:
            found.append("no <html lang>")
        if [h for h, _ in self.headings].count("h1") != 1:
            found.append(f"not exactly one h1: {self.headings}")
        levels = [int(h[1]) for h, _ in self.headings]
        if any(b > a + 1 for a, b in zip(levels, levels[1:])):
            found.append(f"a heading level is skipped: {self.headings}")
        for control in self.controls:
            if not control.get("id") or control["id"] not in self.label_for:
                found.append(f"a form control without a label: {control}")
        if self.glued:
            found.append(f"attributes without a space between them: {self.glued}")
        if self.unknown_attributes:
            found.append(f"attributes no template writes (glued together?): {self.unknown_attributes}")
        return found
