"""``explain`` and ``check``: read the policies and upstream, change nothing.

``explain`` says per tier whether a project (or release) is in, which rule decides and how to change it;
``check`` lists every problem of the policy files, vetted releases the provenance rule withholds and, unless
offline, uploaders that changed upstream and provenance that no longer verifies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import Version

from mirror.adapters import trust_root
from mirror.adapters.policy_dir import load_policies
from mirror.core.errors import ParseError, PolicyError, ProjectNotFound, UpstreamError
from mirror.core.models import DistFile, ProjectDetail
from mirror.core.policy.evaluate import ProvenanceStatuses, decide_provenance
from mirror.core.policy.explain import Explanation
from mirror.core.policy.explain import explain as explain_tiers
from mirror.core.policy.load import (
    PROJECTS_DIR,
    TIERS_FILE,
    parse_project,
    parse_tiers,
)
from mirror.core.policy.model import ProjectPolicy, ProvenanceStatus
from mirror.core.tiers import Evidence
from mirror.services.provenance import ProvenanceVerifier
from mirror.services.review.arguments import project_name
from mirror.services.review.evidence import upstream_maintainers
from mirror.services.review.upstream_reader import UpstreamReader
from mirror.services.review.vetting import current_provenance
from mirror.services.review.wording import listed, uploader_change, when


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of ``check``, printed as ``file:line: message``."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


def _problem(exc: PolicyError) -> Problem:
    return Problem(exc.file, exc.line, f"{exc.key}: {exc.problem}" if exc.key else exc.problem)


@dataclass(frozen=True, slots=True)
class ExplainResult:
    explanation: Explanation
    upstream_reachable: bool
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        data = self.explanation.as_dict()
        data["notes"] = [*data.get("notes", []), *self.notes]
        data["upstream_reachable"] = self.upstream_reachable
        return data

    def as_text(self) -> str:
        return "\n".join([self.explanation.as_text(), *(f"  note: {n}" for n in self.notes)])


class PolicyInspector:
    """``explain`` and ``check`` of the policies in ``directory`` against ``upstream``.

    ``clock`` is the current time; ``verifier`` gives the provenance verifier (the server's mechanism).
    """

    def __init__(self, directory: Path, upstream: UpstreamReader, clock: Callable[[], datetime],
                 verifier: Callable[[], Awaitable[ProvenanceVerifier]]) -> None:
        self.directory = directory
        self.upstream = upstream
        self._clock = clock
        self._verifier = verifier

    async def explain(self, project: str, version: str | None = None) -> ExplainResult:
        """Per tier: in or out, which rule decides, and how to change it; from the policies alone when
        upstream cannot be reached."""
        name = project_name(project)
        policies = load_policies(self.directory, allow_missing=True)  # nothing decided yet: every tier empty
        notes: list[str] = []
        if not self.directory.is_dir():
            notes.append(f"the policy directory {self.directory} does not exist: nothing is reviewed or vetted "
                         "there (check --config, $MIRROR_CONFIG or the working directory)")
        detail = None
        reachable = True
        missing = False
        try:
            detail = await self.upstream.fetch_detail(name)
        except ProjectNotFound:
            missing = True
        except (UpstreamError, ParseError) as exc:
            reachable = False
            notes.append(f"upstream unreachable ({exc}): explained from the policies alone")
        policy = policies.of(name)
        if policy is not None and policy.uploaders is not None:
            u = policy.uploaders
            notes.append(f"uploaders recorded by {u.signed.by} on {when(u.signed)}: maintainers "
                         f"{listed(u.maintainers)}; publishers {listed(u.publishers)} ({u.where})")
            if reachable:
                current, why = await upstream_maintainers(self.upstream, name)
                if current is None:
                    notes.append(f"uploaders: {why}")
                elif set(current) != set(u.maintainers):
                    notes.append(f"uploaders CHANGED upstream: maintainers now {listed(current)}")
                else:
                    notes.append("uploaders: upstream's maintainers match the recorded ones")
        statuses: dict[str, ProvenanceStatus] = {}
        if detail is not None and policy is not None and policy.provenance is not None:
            statuses = await current_provenance(await self._verifier(), policy, detail)
        result = explain_tiers(name, version, detail, policies, self._clock().astimezone(UTC),
                               Evidence(provenance=statuses), upstream_missing=missing)
        return ExplainResult(result, reachable, tuple(notes))

    async def check(self, *, offline: bool = False) -> list[Problem]:
        """Every problem of the policy files, and vetted releases the provenance rule withholds; unless
        ``offline``, also uploaders that changed upstream and provenance that no longer verifies. An
        unusable pinned trust root is a problem too (no provenance can be verified)."""
        problems: list[Problem] = []
        if not self.directory.exists():
            problems.append(Problem(str(self.directory), None, "the policy directory does not exist (check --config, "
                                    "$MIRROR_CONFIG or the working directory; `mirror serve` creates an empty one)"))
        trust = trust_root.status()
        if not trust["ok"]:
            problems.append(Problem(str(trust_root.SHIPPED_DIR / trust_root.MANIFEST_FILE), None,
                                    f"the Sigstore trust root is unusable: {trust['problem']}"))
        tiers = self.directory / TIERS_FILE
        for path, kind, is_kind in ((self.directory, "a directory", Path.is_dir),
                                    (tiers, "a regular file", Path.is_file),
                                    (self.directory / PROJECTS_DIR, "a directory", Path.is_dir)):
            if path.exists() and not is_kind(path):
                problems.append(Problem(str(path), None, f"not {kind}: a running server keeps its last good policy, "
                                                         "and `mirror serve` refuses to start"))
        if tiers.is_file():
            try:
                parse_tiers(tiers.read_text(encoding="utf-8"), str(tiers))
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(Problem(str(tiers), None, f"cannot read file: {exc}"))
            except PolicyError as exc:
                problems.append(_problem(exc))
        valid: list[ProjectPolicy] = []
        for path in sorted((self.directory / PROJECTS_DIR).glob("*.toml")):
            if path.stem != canonicalize_name(path.stem):
                problems.append(Problem(str(path), None, "file name must be the normalized project name: "
                                                         f"{canonicalize_name(path.stem)}.toml"))
                continue
            try:
                valid.append(parse_project(path.read_text(encoding="utf-8"), str(path), path.stem))
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(Problem(str(path), None, f"cannot read file: {exc}"))
            except PolicyError as exc:
                problems.append(_problem(exc))
        if not offline:
            problems += await self._check_uploaders([p for p in valid if p.uploaders is not None])
        problems += await self._check_provenance([p for p in valid if p.provenance is not None
                                                  and p.provenance.require and p.vettings], offline=offline)
        return problems

    async def _check_provenance(self, policies: list[ProjectPolicy], *, offline: bool) -> list[Problem]:
        """Vetted files withheld from 'vetted' by the provenance rule; unless ``offline``, upstream's current
        provenance is fetched and verified (offline, against the pins) as the server's background check does."""
        problems: list[Problem] = []
        for policy in policies:
            detail: ProjectDetail | None = None
            statuses: ProvenanceStatuses = {}
            if not offline:
                try:
                    detail = await self.upstream.fetch_detail(policy.name)
                except (ProjectNotFound, UpstreamError, ParseError) as exc:
                    rule = policy.provenance
                    assert rule is not None
                    problems.append(Problem(rule.where.file, rule.where.line,
                                            f"[provenance]: cannot re-verify {policy.name}'s provenance: {exc}"))
                else:
                    statuses = await current_provenance(await self._verifier(), policy, detail)
            for vetting in sorted(policy.vettings.values(), key=lambda v: Version(v.version)):
                for filename, sha in sorted(vetting.files.items()):
                    listed_file = detail.file_named(filename) if detail is not None else None
                    if detail is not None and (listed_file is None or listed_file.sha256 != sha):
                        continue  # gone or other bytes upstream: the hash pin already keeps it out
                    f = listed_file or DistFile(filename, "", {"sha256": sha})
                    withheld = decide_provenance(policy.name, vetting.version, f, policy, vetting, statuses)
                    if withheld is not None:
                        where = withheld.where or vetting.where
                        problems.append(Problem(where.file, where.line,
                                                f"vetted {policy.name} {vetting.version} is withheld from 'vetted': "
                                                f"{withheld.rule}; to change: {withheld.change}"))
        return problems

    async def _check_uploaders(self, policies: list[ProjectPolicy]) -> list[Problem]:
        limit = asyncio.Semaphore(8)

        async def one(policy: ProjectPolicy) -> Problem | None:
            assert policy.uploaders is not None
            u = policy.uploaders
            async with limit:
                current, why = await upstream_maintainers(self.upstream, policy.name)
            if current is None:
                return Problem(u.where.file, u.where.line, f"[uploaders]: cannot compare with upstream: {why}")
            change = uploader_change(u.maintainers, current)
            if change is None:
                return None
            return Problem(u.where.file, u.where.line,
                           f"[uploaders]: upstream maintainers of {policy.name} changed since {u.signed.by} recorded "
                           f"them on {when(u.signed)}: {change}")

        found = await asyncio.gather(*(one(p) for p in policies))
        return [p for p in found if p is not None]
