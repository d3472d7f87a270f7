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
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name
from packaging.version import Version

from mirror.adapters import trust_root
from mirror.adapters.db.advisories import AdvisoryStore
from mirror.adapters.policy_dir import load_policies
from mirror.core.advisories import Advisory, AdvisoryError, from_json_api
from mirror.core.errors import ParseError, PolicyError, ProjectNotFound, UpstreamError
from mirror.core.floors import floor_at_promotion
from mirror.core.models import DistFile, ProjectDetail, Tier
from mirror.core.policy.commands import command
from mirror.core.policy.evaluate import ProvenanceStatuses, decide_provenance
from mirror.core.policy.evidence import Advisories, judge_vulnerability, malware_hold
from mirror.core.policy.explain import Explanation
from mirror.core.policy.explain import explain as explain_tiers
from mirror.core.policy.load import (
    PROJECTS_DIR,
    TIERS_FILE,
    parse_project,
    parse_tiers,
)
from mirror.core.policy.model import FloorMode, PolicySet, ProjectPolicy, ProvenanceStatus, TierRules
from mirror.core.tiers import Evidence
from mirror.services.provenance import ProvenanceVerifier
from mirror.services.review.arguments import project_name
from mirror.services.review.evidence import json_api_url, upstream_maintainers
from mirror.services.review.upstream_reader import UpstreamReader
from mirror.services.review.vetting import current_provenance
from mirror.services.review.wording import listed, uploader_change, when
from mirror.services.stored_evidence import stored_evidence

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of ``check``, printed as ``file:line: message``."""

    file: str
    line: int | None
    message: str
    #: a proposal (e.g. a floor to record): printed, but ``check`` still succeeds
    advice: bool = False

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
                 verifier: Callable[[], Awaitable[ProvenanceVerifier]],
                 engine: Callable[[], Awaitable[AsyncEngine]] | None = None) -> None:
        self.directory = directory
        self.upstream = upstream
        self._clock = clock
        self._verifier = verifier
        self._engine = engine

    async def _stored(self, name: str, detail: ProjectDetail | None, statuses: ProvenanceStatuses,
                      more: list[Advisory], notes: list[str]) -> Evidence:
        """The database's evidence about ``name`` (advisories, licences, sightings), or only ``more`` and the
        provenance statuses (with a note) when the database cannot be used."""
        if self._engine is None:
            return Evidence(provenance=statuses, advisories=Advisories(more))
        try:
            return await stored_evidence(await self._engine(), name, detail, more=more, provenance=statuses)
        except Exception as exc:  # noqa: BLE001 - any driver, any failure: explained without it, saying so
            notes.append(f"advisories and licences not read: the database cannot be used ({type(exc).__name__})")
            return Evidence(provenance=statuses, advisories=Advisories(more))

    async def _json_api_advisories(self, name: str, notes: list[str]) -> list[Advisory]:
        """What upstream's JSON API document says now (a note when it cannot be read)."""
        url = json_api_url(self.upstream.url, name)
        if url is None:
            return []
        try:
            data = await self.upstream.get_json(url)
            return list(from_json_api(data)) if data is not None else []
        except (UpstreamError, AdvisoryError) as exc:
            notes.append(f"upstream's JSON API vulnerabilities not read: {exc}")
            return []

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
        more = await self._json_api_advisories(name, notes) if reachable and detail is not None else []
        evidence = await self._stored(name, detail, statuses, more, notes)
        result = explain_tiers(name, version, detail, policies, self._clock().astimezone(UTC), evidence,
                               upstream_missing=missing)
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
        rules = TierRules()
        if tiers.is_file():
            try:
                rules = parse_tiers(tiers.read_text(encoding="utf-8"), str(tiers))
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
        problems += await self._check_advisories([p for p in valid if p.vettings])
        if rules.floor is FloorMode.LATEST_AT_PROMOTION:
            problems += await self._propose_floors([p for p in valid if p.review is not None and p.review.floor is None
                                                    and p.project_block is None], rules, offline=offline)
        return problems

    async def _propose_floors(self, policies: list[ProjectPolicy], rules: TierRules, *,
                              offline: bool) -> list[Problem]:
        """A floor for each reviewed project without one: the newest release 'reviewed' admits now (offline, or
        when upstream cannot say: VERSION, to fill in), as the exact command."""
        limit = asyncio.Semaphore(8)
        now = self._clock().astimezone(UTC)

        async def one(policy: ProjectPolicy) -> Problem:
            assert policy.review is not None
            version = None
            if not offline:
                async with limit:
                    try:
                        detail = await self.upstream.fetch_detail(policy.name)
                    except (ProjectNotFound, UpstreamError, ParseError):
                        detail = None
                if detail is not None:
                    version = floor_at_promotion(policy.name, detail,
                                                 PolicySet(rules, {policy.name: policy}, "check"), now)
            change = command("mirror", "floor", policy.name, version or "VERSION", "--by", "NAME", "--reason", "TEXT")
            return Problem(policy.review.where.file, policy.review.where.line,
                           f"[review]: {policy.name} has no floor: with a dependency missing from 'reviewed', "
                           f"resolvers fall back to any old release of it; proposed: {change}", advice=True)

        return list(await asyncio.gather(*(one(p) for p in policies)))

    async def _check_advisories(self, policies: list[ProjectPolicy]) -> list[Problem]:
        """Vetted releases that an advisory in the database keeps out of 'vetted' (malware, or a known
        vulnerability the rules hold and no waiver lifts)."""
        if not policies or self._engine is None:
            return []
        tiers = self.directory / TIERS_FILE
        try:
            rules = parse_tiers(tiers.read_text(encoding="utf-8"), str(tiers)) if tiers.is_file() else TierRules()
            store = AdvisoryStore(await self._engine())
        except Exception:  # noqa: BLE001 - an invalid tiers.toml is reported above; no database: nothing known
            return []
        problems: list[Problem] = []
        now = self._clock().astimezone(UTC)
        for policy in policies:
            try:
                advisories = Advisories(await store.for_project(policy.name))
            except Exception as exc:  # noqa: BLE001 - say so once, and stop asking
                return [*problems, Problem(str(self.directory), None,
                                           f"advisories not checked: the database cannot be used ({exc})")]
            if not advisories:
                continue
            for vetting in sorted(policy.vettings.values(), key=lambda v: Version(v.version)):
                held = malware_hold(policy.name, vetting.version, advisories) or judge_vulnerability(
                    Tier.VETTED, policy.name, vetting.version, policy, rules, advisories, now).held
                if held is not None:
                    problems.append(Problem(vetting.where.file, vetting.where.line,
                                            f"vetted {policy.name} {vetting.version} is withheld from 'vetted': "
                                            f"{held.rule}; to change: {held.change}"))
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
