"""``mirror db upgrade | current | history``: the database's schema revision, and migrating it."""

from __future__ import annotations

import argparse
import asyncio
import functools
from collections.abc import Callable

from mirror.adapters.db import database_status, upgrade_database
from mirror.adapters.db.schema import SchemaStatus, head_revision, history
from mirror.cli.common import Commands, load
from mirror.config import Config


def _shown(status: SchemaStatus) -> str:
    if not status.exists or status.empty:
        return "no mirror tables"
    return f"revision {status.revision}" if status.revision else "the schema from before migrations"


def upgrade(config: Config) -> int:
    """Create the database, or bring its schema to this mirror's revision; a no-op when it is current."""
    before, after = asyncio.run(upgrade_database(config.database_settings))
    if before.current:
        print(f"database {after.describe()}: nothing to do")
    elif not before.exists or before.empty:
        print(f"database {after.where}: created at schema revision {after.revision}")
    else:
        print(f"database {after.where}: upgraded from {_shown(before)} to revision {after.revision}")
    return 0


def current(config: Config) -> int:
    """Print the database's revision; exit 1 unless it is this mirror's (nothing is created)."""
    status = asyncio.run(database_status(config.database_settings))
    print(f"database {status.describe()}")
    return 0 if status.current else 1


def show_history(_config: Config) -> int:
    """Print the revisions this mirror knows, oldest first."""
    head = head_revision()
    for revision, description in history():
        print(f"{revision}  {description}" + ("  (head)" if revision == head else ""))
    return 0


def register(commands: Commands) -> None:
    """``mirror db upgrade | current | history``, each loading the configuration and acting on its database."""
    db = commands.group("db", "the database's schema: create or upgrade it, show its revision")
    actions: tuple[tuple[str, Callable[[Config], int], str], ...] = (
        ("upgrade", upgrade, "create the database, or upgrade its schema to this mirror's revision"),
        ("current", current, "show the database's schema revision (exit 1 unless it is this mirror's)"),
        ("history", show_history, "list the schema revisions this mirror knows"))
    for name, action, help_text in actions:
        db.add(name, functools.partial(_run, action), help_text)


def _run(action: Callable[[Config], int], args: argparse.Namespace) -> int:
    return action(load(args))
