"""Plain-text rendering for the ``mirror`` command: tables of the audit log and of the demand queue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mirror.adapters.db.audit import AuditRecord, DemandEntry

#: Width of each side of "before → after" in the audit table (``--full`` shows everything).
CHANGE_WIDTH = 60


def timestamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths)] + [str(row[-1])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def compact(snippet: str | None, width: int | None = CHANGE_WIDTH) -> str:
    """A TOML snippet on one line (``[review] by = "alice"; at = ...``), shortened to ``width``."""
    if snippet is None:
        return "(none)"
    parts: list[str] = []
    for line in snippet.strip().split("\n"):
        line = line.strip()
        if not line:
            continue
        if parts and not line.startswith("["):
            parts[-1] += ("; " if not parts[-1].endswith("]") else " ") + line
        else:
            parts.append(line)
    text = " ".join(parts)
    if width is not None and len(text) > width:
        text = text[: width - 1] + "…"
    return text


def audit_table(records: Sequence[AuditRecord]) -> str:
    if not records:
        return "no audit records"
    rows = [(timestamp(r.at), r.actor, r.action, r.target, f"{compact(r.before)} → {compact(r.after)}", r.note)
            for r in records]
    return table(("TIME (UTC)", "ACTOR", "ACTION", "TARGET", "BEFORE → AFTER", "NOTE"), rows)


def audit_full(records: Sequence[AuditRecord]) -> str:
    if not records:
        return "no audit records"
    blocks = []
    for r in records:
        lines = [f"#{r.id}  {timestamp(r.at)} UTC  {r.actor}  {r.action}  {r.target}"]
        if r.note:
            lines.append(f"  note: {r.note}")
        for label, text in (("before", r.before), ("after", r.after)):
            if text is None:
                lines.append(f"  {label}: (none)")
            else:
                lines.append(f"  {label}:")
                lines += [f"    {line}" for line in text.strip().split("\n")]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def demand_table(entries: Sequence[DemandEntry]) -> str:
    if not entries:
        return "no demand recorded"
    rows = [(e.tier, e.project, e.version or "(any)", str(e.count), timestamp(e.first_at), timestamp(e.last_at))
            for e in entries]
    return table(("TIER", "PROJECT", "VERSION", "REQUESTS", "FIRST (UTC)", "LAST (UTC)"), rows)
