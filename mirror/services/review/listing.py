"""Long lists in messages, summarized: a reviewer reads the first few and a count, never a 4,000-character line."""

from __future__ import annotations

from collections.abc import Sequence

#: Items a message lists before it summarizes the rest as a count.
LISTED = 8


def summarized(items: Sequence[str], limit: int = LISTED) -> str:
    """``a, b, c`` or ``a, b, c, … and 40 more``."""
    items = list(items)
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", … and {len(items) - limit} more"


def latest(items: Sequence[str], limit: int = LISTED) -> str:
    """The last ``limit`` of ``items`` (oldest first), after a count of the earlier ones: ``40 earlier, x, y, z``."""
    items = list(items)
    if len(items) <= limit:
        return ", ".join(items)
    return f"{len(items) - limit} earlier, " + ", ".join(items[-limit:])
