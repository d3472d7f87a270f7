"""``explain``: for each tier, in or out, the deciding rule, where it is written, how to change it. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mirror.core.models import ProjectDetail, Tier
from mirror.core.policy.commands import command
from mirror.core.policy.evaluate import Decision, canonical_version, decide_release, decide_version
from mirror.core.policy.model import PolicySet
from mirror.core.tiers import NO_EVIDENCE, Evidence, decide_page


@dataclass(frozen=True, slots=True)
class FileVerdict:
    filename: str
    admitted: bool
    rule: str
    change: str | None = None
    warnings: tuple[str, ...] = ()
    waived: tuple[str, ...] = ()


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
            # rules in shadow mode that would hold it, and rules a waiver lifts (with its expiry), when any
            **({"warnings": list(d.warnings)} if d.warnings else {}),
            **({"waived": list(d.waived)} if d.waived else {}),
            # a file's own remedy only where it differs from the tier's (e.g. a re-pin command)
            "files": [{"filename": f.filename, "admitted": f.admitted, "rule": f.rule,
                       **({"change": f.change} if f.change and f.change != d.change else {}),
                       **({"warnings": list(f.warnings)} if f.warnings and f.warnings != d.warnings else {}),
                       **({"waived": list(f.waived)} if f.waived and f.waived != d.waived else {})}
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
            count = f" ({len(t.files)} file{'s' if len(t.files) != 1 else ''})" if t.files else ""
            lines.append(f"  {t.tier.value:9s} {'IN ' if d.admitted else 'OUT'}  {d.rule}{count}")
            if d.where:
                lines.append(f"            rule at: {d.where}")
            if d.change:
                lines.append(f"            to change: {d.change}")
            lines += [f"            WARNING: {w}" for w in d.warnings]
            lines += [f"            waived: {w}" for w in d.waived]
            for f in t.files:
                if (f.admitted, f.rule, f.warnings, f.waived) == (d.admitted, d.rule, d.warnings, d.waived):
                    continue  # the release's line says it: only files that differ are listed
                lines.append(f"            {'+' if f.admitted else '-'} {f.filename}: {f.rule}")
                if not f.admitted and f.change and f.change != d.change:
                    lines.append(f"              to change: {f.change}")
                if f.warnings != d.warnings:
                    lines += [f"              WARNING: {w}" for w in f.warnings]
                if f.waived != d.waived:
                    lines += [f"              waived: {w}" for w in f.waived]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def explain(project: str, version: str | None, detail: ProjectDetail | None, policies: PolicySet,
            now: datetime, evidence: Evidence = NO_EVIDENCE, *, upstream_missing: bool = False) -> Explanation:
    """Explain ``project`` (and ``version``) in every tier; ``detail`` is upstream's page, or None if unknown.

    The answer comes from :func:`mirror.core.tiers.decide_page`, the very function that decides the pages a
    tier serves; ``evidence`` is what the mirror itself knows (provenance checks, first sightings, extracted
    metadata). A project upstream does not have (``upstream_missing``), or a version it lists no file of, is
    in no tier, whatever the policies say: every tier says so.
    """
    if upstream_missing:
        return _absent(project, version, policies, f"upstream has no project {project}")
    if detail is not None and version is not None and not any(
            canonical_version(f.version) == canonical_version(version) for f in detail.files):
        return _absent(project, version, policies, f"upstream lists no file of {project} {version}")
    notes: list[str] = []
    if detail is None:
        notes.append("upstream page not available: file-level rules (hashes, cooldown) not evaluated")
    policy = policies.of(project)
    review = policy.review if policy is not None else None
    if review is not None and review.floor is not None:
        notes.append(f"floor {review.floor}: older releases stay out of 'reviewed' unless vetted "
                     f"({review.floor_where or review.where}); to change: "
                     f"{command('mirror', 'floor', project, 'VERSION', '--by', 'NAME', '--reason', 'TEXT')}")
    rule = policy.provenance if policy is not None else None
    if rule is not None:
        pinned = ", ".join(rule.identities) or "none"
        notes.append(f"trusted publishers pinned: {pinned}; provenance "
                     f"{'required' if rule.require else 'not required'} for 'vetted' ({rule.where})")
    tiers = []
    for tier in Tier:
        view = decide_page(tier, project, detail, evidence, policies, now)
        if version is None:
            tiers.append(TierExplanation(tier, view.project))
            continue
        found = view.release(version)
        if found is None:
            tiers.append(TierExplanation(tier, decide_version(tier, project, version, policies, now,
                                                              advisories=evidence.advisories,
                                                              licenses=evidence.licenses)))
            continue
        tiers.append(TierExplanation(tier, found.decision, tuple(
            FileVerdict(v.file.filename, v.decision.admitted, v.decision.rule, v.decision.change,
                        v.decision.warnings, v.decision.waived)
            for v in found.files)))
        if tier is Tier.ALL and rule is not None:
            for v in found.files:
                status = evidence.provenance.get(v.file.sha256 or "")
                if status is None:
                    continue
                when = f" (checked {status.checked_at:%Y-%m-%d %H:%M} UTC)" if status.checked_at else ""
                notes.append(f"provenance of {v.file.filename}: verified, published by {status.verified}{when}"
                             if status.ok else
                             f"provenance of {v.file.filename}: does not verify{when}: {status.problem}")
    notes += advisory_notes(project, version, detail, evidence)
    return Explanation(project, version, tuple(tiers), tuple(dict.fromkeys(notes)))


def advisory_notes(project: str, version: str | None, detail: ProjectDetail | None, evidence: Evidence) -> list[str]:
    """What the advisories say: of one release, every advisory affecting it (whatever the rules make of it);
    of a project, the releases upstream lists that advisories affect."""
    advisories = evidence.advisories
    if not advisories:
        return []
    if version is not None:
        hits = advisories.hits(project, canonical_version(version) or version)
        return [f"advisory: {hit.describe()}" for hit in hits]
    versions = dict.fromkeys(f.version for f in detail.files if f.version) if detail is not None else {}
    affected = {}
    for v in versions:
        hits = advisories.hits(project, canonical_version(v) or v)
        if hits:
            affected[v] = ", ".join(h.advisory.id for h in hits)
    if not affected:
        return []
    shown = "; ".join(f"{v}: {ids}" for v, ids in list(affected.items())[-10:])
    more = f" (the latest 10 of {len(affected)})" if len(affected) > 10 else ""
    return [f"advisories affect {len(affected)} release(s){more}: {shown}; details: mirror explain {project} VERSION"]


def _absent(project: str, version: str | None, policies: PolicySet, what: str) -> Explanation:
    """Every tier OUT because upstream has nothing to serve; the policies' own word as a note."""
    notes = [f"{what}: nothing to serve in any tier"]
    policy = policies.of(project)
    if policy is not None and policy.review is not None:
        notes.append(f"{project} is reviewed ({policy.review.where}), but there is nothing of it to serve")
    decision = decide_release(Tier.ALL, project, version, policies).decision if version else None
    if decision is not None and not decision.admitted:
        notes.append(f"the policies keep it out anyway: {decision.rule} ({decision.where})")
    elif policy is not None and policy.project_block is not None:
        notes.append(f"the policies keep it out anyway: blocked: {policy.project_block.reason} "
                     f"({policy.project_block.where})")
    tiers = tuple(TierExplanation(tier, Decision(False, what)) for tier in Tier)
    return Explanation(project, version, tiers, tuple(notes))
