"""The web face's queries on SQLite and PostgreSQL: tokens and sessions, the audit log's and the demand queue's
pages."""

from __future__ import annotations

import time

from mirror.adapters.db import open_database
from mirror.adapters.db.audit import AuditLog, AuditRecord, DemandLog
from mirror.adapters.db.tokens import TokenStore
from mirror.core.auth import Role
from mirror.services.tokens import SESSIONS_PER_TOKEN, TokenService

from ..support.databases import settings


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_tokens_and_sessions(database_url: str) -> None:
    engine = await open_database(settings(database_url))
    try:
        clock = Clock()
        tokens = TokenService(TokenStore(engine), session_hours=1, clock=clock)
        alice, alice_text = await tokens.create("alice", "reviewer", expires_days=2)
        _, ops_text = await tokens.create("ops", "admin")
        identity = await tokens.authenticate(alice_text)
        assert identity is not None and (identity.name, identity.role) == ("alice", Role.REVIEWER)
        assert await tokens.authenticate(alice_text[:-1] + ("x" if alice_text[-1] != "x" else "y")) is None
        # Sessions: a token keeps its newest few; each lasts an hour, never beyond its token.
        cookies = []
        for _ in range(SESSIONS_PER_TOKEN + 3):
            opened = await tokens.open_session(alice_text)
            assert opened is not None
            cookies.append(opened[0])
            clock.now += 1
        assert await tokens.session(cookies[0]) is None  # pruned: only the newest are kept
        newest = await tokens.session(cookies[-1])
        assert newest is not None and newest.name == "alice" and newest.csrf
        clock.now += 3600
        assert await tokens.session(cookies[-1]) is None  # expired after session_hours
        assert (await tokens.authenticate(alice_text)) is not None
        clock.now += 2 * 86400
        assert await tokens.authenticate(alice_text) is None  # the token expired too
        opened = await tokens.open_session(ops_text)
        assert opened is not None
        assert [t.key_id for t in await tokens.revoke("ops")] != []
        assert await tokens.authenticate(ops_text) is None and await tokens.session(opened[0]) is None
        listed = {t.name: t for t in await tokens.tokens()}
        assert listed["ops"].revoked_at is not None and listed["alice"].last_used_at is not None
        assert listed[alice.name].secret_sha256 == alice.secret_sha256 and alice_text not in repr(listed)
    finally:
        await engine.dispose()


async def test_audit_and_demand_pages(database_url: str) -> None:
    engine = await open_database(settings(database_url))
    try:
        log = AuditLog(engine)
        await log.append_all([AuditRecord(1000.0 + i, "alice" if i % 3 else "bob", "promote",
                                          "p_x" if i % 2 else f"p_x=={i}", None, None, "") for i in range(30)])
        page = await log.page(limit=10)
        assert [r.id for r in page] == list(range(30, 20, -1))
        assert [r.id for r in await log.page(before=page[-1].id, limit=5)] == [20, 19, 18, 17, 16]
        assert {r.actor for r in await log.page(actor="bob", limit=100)} == {"bob"}
        assert len(await log.page(project="p_x", limit=100)) == 30  # the project and its releases
        assert await log.page(project="p%", limit=100) == []  # no wildcards
        assert await log.actors() == ["alice", "bob"]
        demand = DemandLog(engine)
        await demand.add({("reviewed", f"n{i}", ""): (i + 1, 2000.0 + i) for i in range(12)})
        await demand.add({("vetted", "n0", "1.0"): (100, 3000.0)})
        rows, total = await demand.page(offset=0, limit=3)
        assert total == 13 and [(r.project, r.count) for r in rows] == [("n0", 100), ("n11", 12), ("n10", 11)]
        rows, total = await demand.page("reviewed", offset=10, limit=5)
        assert total == 12 and [r.project for r in rows] == ["n1", "n0"]
    finally:
        await engine.dispose()
