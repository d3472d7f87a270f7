"""Persistence through SQLAlchemy 2 (async): engine set-up, tables, and queries returning plain values."""

from mirror.adapters.db.engine import open_database
from mirror.adapters.db.pages import PageRecord, PageStore

__all__ = ["open_database", "PageRecord", "PageStore"]
