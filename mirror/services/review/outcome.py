"""What a reviewer command did (:class:`Outcome`), the audit record it writes, and the answers and refusals
several commands share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mirror.adapters.db.audit import AuditRecord
from mirror.core.errors import ReviewError
from mirror.core.policy.commands import command
from mirror.core.policy.model import ProjectPolicy


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command did: lines to show the reviewer, the file changed, the audit records written."""

    lines: tuple[str, ...]
    file: Path | None = None
    audit_ids: tuple[int, ...] = ()

    @property
    def changed(self) -> bool:
        return self.file is not None


def record(at: datetime, actor: str, action: str, target: str, before: str | None, after: str | None,
           note: str | None) -> AuditRecord:
    """One audit record of a reviewer command."""
    return AuditRecord(at=at.timestamp(), actor=actor, action=action, target=target, before=before, after=after,
                       note=note or "")


def require_reviewed(name: str, policy: ProjectPolicy | None) -> None:
    if policy is None or policy.review is None:
        raise ReviewError(f"{name} is not reviewed, so none of its releases can be vetted; promote it "
                          f"first: {command('mirror', 'promote', name, '--by', 'NAME', '--note', 'TEXT')}")


def nothing_changed(text: str) -> Outcome:
    return Outcome((f"{text}: nothing changed",))
