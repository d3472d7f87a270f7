"""Persistence through SQLAlchemy 2 (async): engine set-up, schema migrations, tables, and queries returning plain
values."""

from mirror.adapters.db.pages import PageRecord, PageStore
from mirror.adapters.db.schema import database_status, open_database, upgrade_database

__all__ = ["database_status", "open_database", "upgrade_database", "PageRecord", "PageStore"]
