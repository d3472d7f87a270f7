"""API tokens and browser sessions in the database (queries returning plain values)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from mirror.adapters.db.tables import api_tokens, web_sessions


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """One API token as stored: never its secret, only the secret's sha256."""

    key_id: str
    secret_sha256: str
    name: str
    role: str
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    last_used_at: float | None = None

    def valid_at(self, now: float) -> bool:
        """Neither revoked nor expired at ``now``."""
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One browser session: the sha256 of the cookie's secret, the token it logged in with, its CSRF token."""

    key_id: str
    secret_sha256: str
    token_key_id: str
    csrf: str
    created_at: float
    expires_at: float


class TokenStore:
    """Queries on ``api_tokens`` and ``web_sessions``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, record: TokenRecord) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(api_tokens.insert().values(**asdict(record)))

    async def get(self, key_id: str) -> TokenRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(api_tokens).where(api_tokens.c.key_id == key_id))).mappings().first()
        return TokenRecord(**row) if row else None

    async def all(self) -> list[TokenRecord]:
        """Every token, oldest first."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(api_tokens).order_by(api_tokens.c.created_at,
                                                                   api_tokens.c.key_id))).mappings().all()
        return [TokenRecord(**row) for row in rows]

    async def named(self, name: str) -> list[TokenRecord]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(api_tokens).where(api_tokens.c.name == name)
                                       .order_by(api_tokens.c.created_at))).mappings().all()
        return [TokenRecord(**row) for row in rows]

    async def revoke(self, key_id: str, at: float) -> bool:
        """Mark the token revoked (and end its sessions); False when there is no such token or it already was."""
        async with self._engine.begin() as conn:
            result = await conn.execute(update(api_tokens).where(
                (api_tokens.c.key_id == key_id) & api_tokens.c.revoked_at.is_(None)).values(revoked_at=at))
            await conn.execute(delete(web_sessions).where(web_sessions.c.token_key_id == key_id))
        return bool(result.rowcount)

    async def touch(self, key_id: str, at: float) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(api_tokens).where(api_tokens.c.key_id == key_id).values(last_used_at=at))

    async def add_session(self, record: SessionRecord, *, now: float, per_token: int) -> None:
        """Store a new session; expired sessions are deleted, and the token keeps its ``per_token`` newest."""
        async with self._engine.begin() as conn:
            await conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= now))
            await conn.execute(web_sessions.insert().values(**asdict(record)))
            keep = (select(web_sessions.c.key_id).where(web_sessions.c.token_key_id == record.token_key_id)
                    .order_by(web_sessions.c.created_at.desc(), web_sessions.c.key_id).limit(per_token))
            await conn.execute(delete(web_sessions).where(
                (web_sessions.c.token_key_id == record.token_key_id) & web_sessions.c.key_id.not_in(keep)))

    async def session(self, key_id: str) -> tuple[SessionRecord, TokenRecord] | None:
        """The session ``key_id`` and its token, or None."""
        query = (select(web_sessions, api_tokens.c.key_id.label("t_key_id"),
                        *(c.label(f"t_{c.name}") for c in api_tokens.c if c.name != "key_id"))
                 .join(api_tokens, api_tokens.c.key_id == web_sessions.c.token_key_id)
                 .where(web_sessions.c.key_id == key_id))
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        session = SessionRecord(**{c.name: row[c.name] for c in web_sessions.c})
        token = TokenRecord(**{c.name: row[f"t_{c.name}"] for c in api_tokens.c})
        return session, token

    async def delete_session(self, key_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(web_sessions).where(web_sessions.c.key_id == key_id))
