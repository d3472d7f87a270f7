"""What the database holds, listed: the projects whose upstream page is stored (for the dry run)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from mirror.adapters.db.pages import INDEX_KEY
from mirror.adapters.db.tables import pages


async def stored_page_keys(engine: AsyncEngine, limit: int = 1_000_000) -> list[str]:
    """The normalized names of the projects whose page is stored, sorted (the project list excluded)."""
    query = select(pages.c.key).where(pages.c.key != INDEX_KEY).order_by(pages.c.key).limit(limit)
    async with engine.connect() as conn:
        return [row.key for row in await conn.execute(query)]
