"""``explain``: for each tier, in or out, the deciding rule, where it is written, how to change it. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mirror.core.models import DistFile, ProjectDetail, Tier, is_safe_filename
from mirror.core.policy.evaluate import (
    Decision,
    ProvenanceStatuses,
    canonical_version,
    decide_file,
    decide_project,
    decide_version,
)
from mirror.core.policy.model import PolicySet


@dataclass(frozen=True, slots=True)
class FileVerdict:
    filename: str
    admitted: bool
    rule: str
    change: str | None = None


@dataclass(frozen=True, slots=True)
class TierExplanation:
    tier: Tier
    decision: Decision
    files: tuple[FileVerdict, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        d = self.decision
        return {
            "tier": self.tier.value,
            "admitted": d.admitted,
            "rule": d.rule,
            "where": str(d.where) if d.where else None,
            "change": d.change,
            # a file's own remedy only where it differs from the tier's (e.g. a re-pin command)
            "files": [{"filename": f.filename, "admitted": f.admitted, "rule": f.rule,
                       **({"change": f.change} if f.change and f.change != d.change else {})}
                      for f in self.files],
        }


@dataclass(frozen=True, slots=True)
class Explanation:
    project: str
    version: str | None
    tiers: tuple[TierExplanation, ...]
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {"project": self.project, "version": self.version,
                "tiers": [t.as_dict() for t in self.tiers], "notes": list(self.notes)}

    def as_text(self) -> str:
        target = self.project + (f" {self.version}" if self.version else "")
        lines = [f"{target}:"]
        for t in self.tiers:
            d = t.decision
            lines.append(f"  {t.tier.value:9s} {'IN ' if d.admitted else 'OUT'}  {d.rule}")
            if d.where:
                lines.append(f"            rule at: {d.where}")
            if d.change:
                lines.append(f"            to change: {d.change}")
            for f in t.files:
                lines.append(f"            {'+' if f.admitted else '-'} {f.filename}: {f.rule}")
                if not f.admitted and f.change and f.change != d.change:
                    lines.append(f"              to change: {f.change}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _unservable(f: DistFile) -> Decision | None:
    """Why no tier serves ``f`` whatever the policies say, or None (see :func:`mirror.core.tiers.servable_file`)."""
    if not is_safe_filename(f.filename):
        return Decision(False, "the file name is not a single plain path segment: served in no tier")
    if f.checked_hashes() is None:
        return Decision(False, "upstream advertises no hash the mirror can verify for this file (none of sha256 or "
                               "stronger, or a malformed or conflicting one): served in no tier")
    return None


def explain(project: str, version: str | None, detail: ProjectDetail | None, policies: PolicySet,
            now: datetime, provenance: ProvenanceStatuses | None = None) -> Explanation:
    """Explain ``project`` (and ``version``) in every tier; ``detail`` is upstream's page, or None if unknown.

    ``provenance`` is the background check's latest verification of upstream's provenance, by sha256.
    """
    notes: list[str] = []
    if detail is None:
        notes.append("upstream page not available: file-level rules (hashes, cooldown) not evaluated")
    policy = policies.of(project)
    rule = policy.provenance if policy is not None else None
    if rule is not None:
        pinned = ", ".join(rule.identities) or "none"
        notes.append(f"trusted publishers pinned: {pinned}; provenance "
                     f"{'required' if rule.require else 'not required'} for 'vetted' ({rule.where})")
    tiers = []
    for tier in Tier:
        if version is None:
            tiers.append(TierExplanation(tier, decide_project(tier, project, policies)))
            continue
        files = [f for f in detail.files if canonical_version(f.version) == canonical_version(version)] \
            if detail is not None else []
        if not files:
            if detail is not None and tier is Tier.ALL:
                notes.append(f"upstream lists no file of version {version}")
            tiers.append(TierExplanation(tier, decide_version(tier, project, version, policies, now)))
            continue
        verdicts = [(f, _unservable(f) or decide_file(tier, project, f, policies, now, provenance)) for f in files]
        admitted = [d for _, d in verdicts if d.admitted]
        decision = admitted[0] if admitted else verdicts[0][1]
        tiers.append(TierExplanation(tier, decision, tuple(
            FileVerdict(f.filename, d.admitted, d.rule, d.change) for f, d in verdicts)))
        if tier is Tier.ALL and rule is not None:
            for f in files:
                status = (provenance or {}).get(f.sha256 or "")
                if status is None:
                    continue
                when = f" (checked {status.checked_at:%Y-%m-%d %H:%M} UTC)" if status.checked_at else ""
                notes.append(f"provenance of {f.filename}: verified, published by {status.verified}{when}"
                             if status.ok else f"provenance of {f.filename}: does not verify{when}: {status.problem}")
    return Explanation(project, version, tuple(tiers), tuple(dict.fromkeys(notes)))
