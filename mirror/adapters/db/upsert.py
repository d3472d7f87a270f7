"""``INSERT ... ON CONFLICT DO UPDATE`` (or ``DO NOTHING``) for the dialects the mirror runs on (SQLite,
PostgreSQL): one statement per row, atomic even when several processes insert the same key at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.elements import KeyedColumnElement

Excluded = ReadOnlyColumnCollection[str, KeyedColumnElement[Any]]


def _insert(dialect: str, table: Table) -> sqlite.Insert | postgresql.Insert:
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise ValueError(f"no upsert for the {dialect} dialect")


def upsert(dialect: str, table: Table, keys: Sequence[Column[Any]],
           changes: Callable[[Excluded], Mapping[str, Any]],
           where: Callable[[Excluded], ColumnElement[bool]] | None = None) -> Any:
    """An insert into ``table`` that, where a row with the same ``keys`` exists, updates it with
    ``changes(excluded)`` instead (``excluded``: the columns of the row that was to be inserted); with ``where``,
    only when ``where(excluded)`` holds (else the existing row stays as it is).

    Execute it with the row(s) as parameters. Raises ValueError for a dialect other than SQLite and PostgreSQL.
    """
    stmt = _insert(dialect, table)
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=dict(changes(stmt.excluded)),
                                      where=where(stmt.excluded) if where is not None else None)


def insert_new(dialect: str, table: Table, keys: Sequence[Column[Any]]) -> Any:
    """An insert into ``table`` that leaves an existing row with the same ``keys`` as it is (the first one wins)."""
    return _insert(dialect, table).on_conflict_do_nothing(index_elements=list(keys))


def replace_all(dialect: str, table: Table, keys: Sequence[Column[Any]]) -> Any:
    """An insert that replaces every other column of an existing row with the same ``keys``."""
    names = {key.name for key in keys}
    return upsert(dialect, table, keys,
                  lambda excluded: {c.name: excluded[c.name] for c in table.columns if c.name not in names})


def smaller(dialect: str, a: Any, b: Any) -> ColumnElement[Any]:
    """The smaller of two values in SQL (SQLite's two-argument ``min``, PostgreSQL's ``least``)."""
    return func.least(a, b) if dialect == "postgresql" else func.min(a, b)


def larger(dialect: str, a: Any, b: Any) -> ColumnElement[Any]:
    """The larger of two values in SQL (SQLite's two-argument ``max``, PostgreSQL's ``greatest``)."""
    return func.greatest(a, b) if dialect == "postgresql" else func.max(a, b)
