"""API tokens and browser sessions: create, list, revoke, and check a credential a request presents.

``mirror token create`` and the admin API make tokens; a token's text is returned once and never stored (only
the sha256 of its secret is). A browser logs in with a token and gets a session cookie; a session lasts
``session_hours``, never beyond its token's expiry, and ends when the token is revoked. Every check of a
presented secret is a constant-time comparison against one stored hash (:mod:`mirror.core.auth`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mirror.adapters.db.tokens import SessionRecord, TokenRecord, TokenStore
from mirror.core.auth import (
    NAME_PATTERN,
    Role,
    TokenError,
    new_csrf,
    new_session_secret,
    new_token,
    parse_session,
    parse_token,
    secret_matches,
)
from mirror.core.lru import LRU

#: Sessions one token may hold at once (the oldest are ended beyond it): the table stays bounded.
SESSIONS_PER_TOKEN = 20
#: ``last_used_at`` is written at most this often per token (not on every request).
_TOUCH_EVERY = 60.0
_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request is: the token's name (the actor in the audit log) and role. ``csrf`` is set for a browser
    session (every form and cookie-authenticated API call must carry it); ``session_id`` names that session."""

    name: str
    role: Role
    token_id: str
    csrf: str | None = None
    session_id: str | None = None


class TokenService:
    """Tokens and sessions in ``store`` (see the module docstring)."""

    def __init__(self, store: TokenStore, *, session_hours: float = 12.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._session_seconds = session_hours * 3600.0
        self._clock = clock
        self._touched: LRU[str, float] = LRU(4096)

    async def create(self, name: str, role: str = Role.REVIEWER, expires_days: float | None = None
                     ) -> tuple[TokenRecord, str]:
        """A new token: its record and its text (shown once). Raises TokenError for a bad name, role or expiry."""
        name = name.strip()
        if not NAME_PATTERN.match(name):
            raise TokenError(f"{name!r} is not a valid token name: 1-64 letters, digits and . _ @ + - "
                             "(it is the actor the audit log records)")
        try:
            parsed = Role(role)
        except ValueError:
            raise TokenError(f"unknown role {role!r}: reviewer or admin") from None
        if expires_days is not None and not 0 < expires_days <= 3650:
            raise TokenError("the expiry must be a number of days greater than 0 and at most 3650")
        now = self._clock()
        made = new_token()
        record = TokenRecord(key_id=made.key_id, secret_sha256=made.secret_sha256, name=name, role=parsed.value,
                             created_at=now, expires_at=now + expires_days * _DAY if expires_days else None)
        await self._store.add(record)
        return record, made.text

    def now(self) -> float:
        return self._clock()

    async def tokens(self) -> list[TokenRecord]:
        return await self._store.all()

    async def get(self, key_id: str) -> TokenRecord | None:
        return await self._store.get(key_id)

    async def revoke(self, which: str) -> list[TokenRecord]:
        """Revoke the token with key id ``which``, or every valid token named ``which``; returns those revoked.
        Raises TokenError when none matches."""
        which = which.strip()
        now = self._clock()
        found = await self._store.get(which)
        candidates = [found] if found is not None else await self._store.named(which)
        revoked = [t for t in candidates if t.revoked_at is None and await self._store.revoke(t.key_id, now)]
        if not revoked:
            if candidates:
                raise TokenError(f"token {which!r} is already revoked")
            raise TokenError(f"no token with key id or name {which!r} (`mirror token list` shows them)")
        return revoked

    async def authenticate(self, text: str) -> Identity | None:
        """The identity of a token's text, or None when it is malformed, unknown, wrong, expired or revoked."""
        parsed = parse_token(text)
        if parsed is None:
            return None
        key_id, secret = parsed
        record = await self._store.get(key_id)
        now = self._clock()
        if record is None or not secret_matches(secret, record.secret_sha256) or not record.valid_at(now):
            return None
        await self._touch(record.key_id, now)
        return Identity(record.name, Role(record.role), record.key_id)

    async def open_session(self, token_text: str) -> tuple[str, Identity, float] | None:
        """Log in with a token: (the cookie's value, the session's identity, when it expires), or None when the
        token does not authenticate."""
        identity = await self.authenticate(token_text)
        if identity is None:
            return None
        token = await self._store.get(identity.token_id)
        assert token is not None
        now = self._clock()
        expires = now + self._session_seconds
        if token.expires_at is not None:
            expires = min(expires, token.expires_at)
        made, csrf = new_session_secret(), new_csrf()
        await self._store.add_session(SessionRecord(made.key_id, made.secret_sha256, token.key_id, csrf, now,
                                                    expires), now=now, per_token=SESSIONS_PER_TOKEN)
        return made.text, Identity(identity.name, identity.role, token.key_id, csrf, made.key_id), expires

    async def session(self, cookie: str) -> Identity | None:
        """The identity of a session cookie's value, or None (malformed, unknown, expired, token invalid)."""
        parsed = parse_session(cookie)
        if parsed is None:
            return None
        key_id, secret = parsed
        found = await self._store.session(key_id)
        if found is None:
            return None
        session, token = found
        now = self._clock()
        if not secret_matches(secret, session.secret_sha256) or now >= session.expires_at or not token.valid_at(now):
            return None
        await self._touch(token.key_id, now)
        return Identity(token.name, Role(token.role), token.key_id, session.csrf, session.key_id)

    async def close_session(self, session_id: str) -> None:
        await self._store.delete_session(session_id)

    async def _touch(self, key_id: str, now: float) -> None:
        last = self._touched.get(key_id)
        if last is None or now - last >= _TOUCH_EVERY:
            self._touched[key_id] = now
            await self._store.touch(key_id, now)
