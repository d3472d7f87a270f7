"""``mirror token create|list|revoke``: API tokens of reviewers and admins (for the admin API and the UI's login).

A new token is printed once and never again: only a hash of its secret is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from mirror.adapters.db import open_database
from mirror.adapters.db.tokens import TokenRecord, TokenStore
from mirror.cli.common import Commands, load
from mirror.cli.output import table, timestamp
from mirror.core.auth import Role
from mirror.services.tokens import TokenService

T = TypeVar("T")


def _run(args: argparse.Namespace, call: Callable[[TokenService], Awaitable[T]], *, create: bool = True) -> T:
    config = load(args)

    async def run() -> T:
        # Listing tokens reads only (a missing database is created by nothing but a change); the database must be
        # at this mirror's schema (`mirror db upgrade`), as for every command.
        engine = await open_database(config.database_settings, create=create)
        try:
            return await call(TokenService(TokenStore(engine), session_hours=config.web.session_hours))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def cmd_create(args: argparse.Namespace) -> int:
    record, text = _run(args, lambda s: s.create(args.name, args.role, args.expires))
    expiry = f"expires {timestamp(record.expires_at)} UTC" if record.expires_at else "never expires"
    print(f"created {record.role} token {record.key_id} for {record.name} ({expiry}).")
    print("It is shown only now; store it safely (only a hash is kept):")
    print(text)
    return 0


def _state(t: TokenRecord, now: float) -> str:
    if t.revoked_at is not None:
        return f"revoked {timestamp(t.revoked_at)}"
    if t.expires_at is not None and now >= t.expires_at:
        return f"expired {timestamp(t.expires_at)}"
    return f"valid until {timestamp(t.expires_at)}" if t.expires_at else "valid"


def cmd_list(args: argparse.Namespace) -> int:
    tokens = _run(args, lambda s: s.tokens(), create=False)
    if not tokens:
        print("no tokens (create one with: mirror token create --name NAME)")
        return 0
    now = time.time()
    rows = [(t.key_id, t.name, t.role, timestamp(t.created_at),
             timestamp(t.last_used_at) if t.last_used_at else "never", _state(t, now)) for t in tokens]
    print(table(("KEY ID", "NAME", "ROLE", "CREATED (UTC)", "LAST USED (UTC)", "STATE"), rows))
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    revoked = _run(args, lambda s: s.revoke(args.token))
    for t in revoked:
        print(f"revoked {t.role} token {t.key_id} of {t.name} (its browser sessions end too)")
    return 0


def register(commands: Commands) -> None:
    token = commands.group("token", "manage API tokens (admin API and UI login)")
    p = token.add("create", cmd_create, "create a token and print it once")
    p.add_argument("--name", required=True, help="who uses it: the actor the audit log records")
    p.add_argument("--role", choices=[r.value for r in Role], default=Role.REVIEWER.value,
                   help="reviewer (default): change the tiers; admin: also lift blocks and manage tokens")
    p.add_argument("--expires", type=float, metavar="DAYS", help="days until it expires (default: never)")
    token.add("list", cmd_list, "list tokens (never their secrets)")
    p = token.add("revoke", cmd_revoke, "revoke a token (by key id, or every token of a name)")
    p.add_argument("token", metavar="KEY_ID_OR_NAME")
