"""The reviewer commands as one service: each command checks its arguments, reads upstream where it must, then
edits one policy file under the lock (:mod:`.files`) and appends to the audit trail (:mod:`.audit`).

Commands are idempotent: asking for what is already so (promoting a reviewed project, blocking a blocked one,
vetting a release already vetted with the same hashes) changes nothing, says so, and succeeds. Whole sets
(``--with-deps``, requirements and lock files, the demand queue) are in :mod:`.sets`; ``vet`` in :mod:`.vet`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import Version

from mirror.adapters.db.audit import AuditRecord, DemandEntry
from mirror.adapters.policy_dir import load_policies
from mirror.config import Config
from mirror.core.errors import ParseError, PolicyError, ProjectNotFound, ReviewError, UpstreamError
from mirror.core.models import ProjectDetail
from mirror.core.policy import edit
from mirror.core.policy.commands import command
from mirror.core.policy.evaluate import canonical_version
from mirror.core.policy.model import PolicySet, ProjectPolicy, ProvenanceStatus, TierRules, WaivedRule
from mirror.services.provenance import ProvenanceCache, ProvenanceVerifier
from mirror.services.review.arguments import (
    BlockTarget,
    by_and_reason,
    option_text,
    parse_target,
    project_name,
    release_version,
    until_time,
)
from mirror.services.review.audit import AuditTrail, AuditUnavailable
from mirror.services.review.evidence import upstream_maintainers
from mirror.services.review.files import PolicyFiles
from mirror.services.review.inspection import ExplainResult, PolicyInspector, Problem
from mirror.services.review.listing import summarized
from mirror.services.review.typosquat import Resemblance, suggestions, typosquat_gate
from mirror.services.review.upstream_reader import UpstreamReader
from mirror.services.review.vetting import current_provenance
from mirror.services.review.wording import when

if TYPE_CHECKING:  # aiohttp (and pypi_simple) are imported only by the commands that talk to upstream
    import aiohttp

    from mirror.core.sets import SetInput
    from mirror.core.targets import Target
    from mirror.services.review.lockvet import LockOutcome
    from mirror.services.review.sets import PromotionPlan
    from mirror.services.runtime import Runtime
    from mirror.services.setfetch import SetPrefetcher


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


def allow_missing_command(name: str) -> str:
    return command("mirror", "promote", name, "--allow-missing", "--by", "NAME", "--note", "TEXT")


def floor_line(name: str, floor: str | None, rules: TierRules) -> str:
    """What a promotion says about the floor it recorded (or did not)."""
    change = command("mirror", "floor", name, "VERSION", "--by", "NAME", "--reason", "TEXT")
    if floor is not None:
        return f"  floor {floor}: older releases of {name} stay out of 'reviewed' (to change: {change})"
    from mirror.core.policy.model import FloorMode

    why = ("floor = \"none\" in tiers.toml" if rules.floor is FloorMode.NONE
           else "no release of it is admitted yet, or --no-floor")
    return f"  no floor ({why}): resolvers may fall back to any old release of {name}; to set one: {change}"


def nothing_changed(text: str) -> Outcome:
    return Outcome((f"{text}: nothing changed",))


class ReviewService:
    """The reviewer commands against one configuration. Use ``async with``, or call :meth:`close`.

    Commands that only read (explain, check, audit, demand) never create a database (see :class:`AuditTrail`).
    """

    def __init__(self, config: Config, *, clock: Callable[[], datetime] | None = None,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.config = config
        self.directory = config.policies.path
        self._clock = clock or (lambda: datetime.now(UTC))
        self.audit = AuditTrail(config.database_settings, config.cluster)
        self.files = PolicyFiles(self.directory, self.audit.shared_lock)
        self.upstream = UpstreamReader(config, session)
        self._verifier: ProvenanceVerifier | None = None
        self._runtime: Runtime | None = None
        self._stack = contextlib.AsyncExitStack()
        self.inspector = PolicyInspector(self.directory, self.upstream, self._clock, self.provenance_verifier,
                                         self.audit.cache_engine)

    async def __aenter__(self) -> ReviewService:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._stack.aclose()
        await self.upstream.close()
        await self.audit.close()

    def now(self) -> datetime:
        return self._clock().astimezone(UTC).replace(microsecond=0)

    async def runtime(self) -> Runtime:
        """The mirror's page cache, file store and closure service on this configuration (opened on first use)."""
        if self._runtime is None:
            from mirror.services.runtime import Runtime

            self._runtime = await self._stack.enter_async_context(Runtime.open(self.config, self.policies))
        return self._runtime

    def policies(self) -> PolicySet:
        """The policy directory as it is now (every tier empty when it does not exist yet)."""
        return load_policies(self.directory, allow_missing=True)

    async def change(self, name: str, text: str, records: Sequence[AuditRecord]) -> tuple[Path, tuple[int, ...]]:
        """Audit first, or not at all: make ``text`` the project's policy file, recorded by ``records``.

        Call under the lock. The new text is validated and staged first; then the records are stored (one
        transaction); only then is the file replaced (an atomic rename). A database that refuses the records
        leaves the file untouched; a rename that fails withdraws the records. A crash between the two leaves
        a record of a change that was not made, never a change without its record. Raises ReviewError
        (AuditUnavailable for the database) saying that nothing changed.
        """
        staged = self.files.stage(name, text)
        try:
            try:
                ids = await self.audit.append_all(records)
            except AuditUnavailable as exc:
                raise AuditUnavailable(f"nothing changed: {exc}") from exc
            try:
                staged.commit()
            except ReviewError as exc:
                try:
                    await self.audit.withdraw(ids)
                except AuditUnavailable as again:
                    raise ReviewError(f"{exc}; nothing changed, but audit record(s) {', '.join(map(str, ids))} "
                                      f"describe this change that was not made ({again})") from exc
                raise ReviewError(f"{exc}; nothing changed") from exc
        finally:
            staged.discard()
        # Every node re-reads its policies at once (the directory is shared: docs/deployment.md).
        await self.audit.signal(await self._directory_version(), records[0].actor, records[0].action)
        return staged.path, tuple(ids)

    async def _directory_version(self) -> str | None:
        """The version of the policy directory as it is now (None when a file elsewhere in it is invalid)."""
        try:
            return (await asyncio.to_thread(load_policies, self.directory)).version
        except PolicyError:
            return None

    def outcome(self, lines: Sequence[str], path: Path | None, ids: Sequence[int] = ()) -> Outcome:
        """The outcome of a change of ``path``, warning when another policy file is broken: the server then
        keeps serving the last good set, without this change, until that file is fixed."""
        warning = self.broken_elsewhere(path)
        return Outcome(tuple(lines) + ((warning,) if warning else ()), path, tuple(ids))

    def broken_elsewhere(self, changed: Path | None) -> str | None:
        try:
            load_policies(self.directory)
        except PolicyError as exc:
            if changed is not None and Path(exc.file) == changed:
                return None
            return (f"warning: {exc}\n  a running server keeps serving the last good policy set, without this "
                    "change, until that file is fixed (`mirror check` lists every problem)")
        return None

    # ------------------------------------------------------------------ reads

    def project_path(self, name: str) -> Path:
        return self.files.project_path(name)

    async def fetch_detail(self, name: str) -> ProjectDetail:
        return await self.upstream.fetch_detail(name)

    async def maintainers(self, name: str) -> tuple[tuple[str, ...] | None, str | None]:
        return await upstream_maintainers(self.upstream, name)

    async def provenance_verifier(self) -> ProvenanceVerifier:
        """The server's way to judge upstream's current provenance (its cache in the shared database, the
        age bound ``provenance_max_stale``), always asking upstream first (no freshness window)."""
        if self._verifier is None:
            from mirror.adapters.db.pages import PageStore
            from mirror.adapters.db.tables import provenance_documents

            def clock() -> float:
                return self._clock().timestamp()

            cache = ProvenanceCache(await self.upstream.client(),
                                    PageStore(await self.audit.cache_engine(), provenance_documents), ttl=0,
                                    clock=clock)
            self._verifier = ProvenanceVerifier(cache, self.config.upstream.provenance_max_stale, clock)
        return self._verifier

    async def current_provenance(self, policy: ProjectPolicy, detail: ProjectDetail) -> dict[str, ProvenanceStatus]:
        return await current_provenance(await self.provenance_verifier(), policy, detail)

    async def explain(self, project: str, version: str | None = None) -> ExplainResult:
        result = await self.inspector.explain(project, version)
        if self.audit.missing:  # explain only reads: it used a scratch provenance cache rather than create one
            result = replace(result, notes=(*result.notes, self.audit.missing))
        return result

    async def check(self, *, offline: bool = False, proposals: bool = False, holes: bool = False) -> list[Problem]:
        """Every problem ``check`` finds; with ``proposals``, its proposals too (``Problem.advice``); with
        ``holes`` (and not ``offline``), the curated tiers' holes (their metadata is read through the mirror's
        store, opening it)."""
        found = await self.inspector.check(offline=offline)
        if holes and not offline:
            from mirror.services.review.guard import hole_problems

            found += await hole_problems(self)
        return found if proposals else [p for p in found if not p.advice]

    async def audit_records(self, project: str | None = None) -> list[AuditRecord]:
        name = project_name(project) if project else None
        return await self.audit.records(name)

    async def demand_entries(self, tier: str | None = None, *, served: bool = False) -> list[DemandEntry]:
        """What clients asked a curated tier for and did not get, most requested first; without ``served``,
        requests the tier would serve now (promoted or vetted since) are left out."""
        entries = await self.audit.demand_entries(tier)
        if served:
            return entries
        from mirror.services.review.sets import serves

        policies = self.policies()
        return [e for e in entries if not serves(policies, e)]

    # ------------------------------------------------------------------ promote / demote

    async def upstream_has(self, name: str) -> bool:
        """Whether upstream lists ``name``; ReviewError when it cannot be asked now."""
        return await self.upstream_detail(name) is not None

    async def upstream_detail(self, name: str) -> ProjectDetail | None:
        """Upstream's page of ``name``, None when upstream has no such project; ReviewError when it cannot be
        asked now."""
        try:
            return await self.upstream.fetch_detail(name)
        except ProjectNotFound:
            return None
        except (UpstreamError, ParseError) as exc:
            raise ReviewError(f"cannot check whether upstream has {name} ({exc}); nothing changed. To promote it "
                              f"anyway: {allow_missing_command(name)}") from None

    def promotion_floor(self, name: str, detail: ProjectDetail | None, *, floor: str | None = None,
                        no_floor: bool = False, pinned: str | None = None) -> str | None:
        """The floor promoting ``name`` records: ``floor`` (``--floor``), none (``--no-floor``, or the tier-wide
        ``floor = "none"``), else the release a lock or requirements file pins (``pinned``), else the newest
        release ``reviewed`` would admit of it now. Raises ReviewError for a bad ``floor``."""
        from mirror.core.floors import floor_at_promotion
        from mirror.core.policy.model import FloorMode

        if floor is not None:
            if no_floor:
                raise ReviewError("give --floor VERSION or --no-floor, not both")
            return release_version(floor)
        rules = self.tier_rules()
        if no_floor or rules.floor is FloorMode.NONE:
            return None
        if pinned is not None:
            return pinned
        if detail is None:
            return None
        _, current = self.files.read(name)
        policies = PolicySet(rules, {current.name: current} if current is not None else {}, "floor")
        return floor_at_promotion(name, detail, policies, self.now())

    def tier_rules(self) -> TierRules:
        """The rules of ``tiers.toml`` (the built-in defaults when it is missing or broken: ``check`` says so)."""
        from mirror.core.policy.load import TIERS_FILE, parse_tiers

        path = self.directory / TIERS_FILE
        try:
            return parse_tiers(path.read_text(encoding="utf-8"), str(path)) if path.is_file() else TierRules()
        except (OSError, UnicodeDecodeError, PolicyError):
            return TierRules()

    def missing_upstream(self, name: str) -> ReviewError:
        """The refusal to promote ``name``, which upstream does not have, with the names it may be a typo of."""
        close = suggestions(name, self.files.reviewed_names(besides=name))
        hint = f"; did you mean {summarized(close, 5)}?" if close else ""
        return ReviewError(f"upstream ({self.config.upstream_url}) has no project {name}{hint}\nTo promote it "
                           f"anyway (a project about to be published): {allow_missing_command(name)}")

    async def promote(self, project: str, by: str, note: str | None = None, *, allow_similar: bool = False,
                      allow_missing: bool = False, floor: str | None = None, no_floor: bool = False) -> Outcome:
        """Add ``[review]``: the project enters ``reviewed``, with its floor (see :meth:`promotion_floor`).
        Refuses look-alikes of known projects, and names upstream does not have unless ``allow_missing`` (with a
        note)."""
        name = project_name(project)
        by = option_text(by, "--by", required=True)
        note = option_text(note, "--note", required=False)
        if allow_similar and not note:
            raise ReviewError("--allow-similar needs --note saying why this is not a typo-squat")
        if allow_missing and not note:
            raise ReviewError("--allow-missing needs --note saying why a project upstream does not have is promoted")
        _, current = self.files.read(name)
        if current is not None and current.review is not None:
            r = current.review
            return nothing_changed(f"{name} is already reviewed by {r.signed.by} on {when(r.signed)} ({r.where})")
        typosquat_gate(name, self.files.reviewed_names(besides=name), allow_similar=allow_similar)
        if floor is not None and no_floor:
            raise ReviewError("give --floor VERSION or --no-floor, not both")
        detail = None
        if not allow_missing:
            detail = await self.upstream_detail(name)
            if detail is None:
                raise self.missing_upstream(name)
        elif floor is None and not no_floor:
            with contextlib.suppress(ReviewError):
                detail = await self.upstream_detail(name)
        chosen = self.promotion_floor(name, detail, floor=floor, no_floor=no_floor)
        return await self.promote_checked(name, by, note, allow_similar=allow_similar, floor=chosen)

    async def promote_checked(self, name: str, by: str, note: str | None, *, allow_similar: bool,
                              context: str | None = None, floor: str | None = None) -> Outcome:
        """Promote ``name`` (normalized; upstream's answer already checked) under the lock: the gate again
        (another command may have promoted a look-alike meanwhile), then the edit and its audit record, whose
        note ends with ``context`` (``as a dependency of flask 3.0.0``); ``floor`` is recorded when given."""
        async with self.files.locked():
            text, policy = self.files.read(name)
            if policy is not None and policy.review is not None:
                r = policy.review
                return nothing_changed(f"{name} is already reviewed by {r.signed.by} on {when(r.signed)}")
            similar: Resemblance = typosquat_gate(name, self.files.reviewed_names(besides=name),
                                                  allow_similar=allow_similar)
            now = self.now()
            new = edit.set_review(text, by, now, note, floor=floor)
            audit_note = " ".join(p for p in (note, f"({context})" if context else None,
                                              f"[allowed although similar to {', '.join(similar.names)}]"
                                              if similar else None) if p)
            path, ids = await self.change(name, new, [record(now, by, "promote", name, edit.snippet(text, "review"),
                                                             edit.snippet(new, "review"), audit_note)])
        lines = [f"promoted {name} into 'reviewed' ({path})"]
        if similar:
            lines.append(f"note: allowed although it looks like {similar.described}")
        if policy is not None and policy.project_block is not None:
            lines.append(f"note: {name} is blocked ({policy.project_block.reason}): it stays out of every tier until "
                         f"`{command('mirror', 'unblock', name, '--by', 'NAME', '--reason', 'TEXT')}`")
        lines.append(floor_line(name, floor, self.tier_rules()))
        return self.outcome(lines, path, ids)

    async def demote(self, project: str, by: str, reason: str, *, force: bool = False) -> Outcome:
        """Remove ``[review]``: the project leaves ``reviewed`` (and ``vetted``). Refused (ReviewError) when a
        project the tiers serve needs it, unless ``force``."""
        from mirror.services.review.guard import refuse_opening_holes

        name = project_name(project)
        by, reason = by_and_reason(by, reason)
        note = None
        async with self.files.locked():
            text, policy = self.files.read(name)
            if policy is None or policy.review is None:
                return nothing_changed(f"{name} is not reviewed (no [review] in {self.files.project_path(name)})")
            new = edit.remove_review(text)
            if not force:
                note = await refuse_opening_holes(self, name, new, f"demote {name}", command(
                    "mirror", "demote", name, "--by", by, "--reason", reason, "--force"))
            now = self.now()
            path, ids = await self.change(name, new, [record(now, by, "demote", name, edit.snippet(text, "review"),
                                                             None, reason)])
        lines = [f"demoted {name}: it is no longer in 'reviewed' or 'vetted' ({path})", *([note] if note else [])]
        if policy.vettings:
            lines.append(f"note: {len(policy.vettings)} vetted release(s) stay in the file; they take effect "
                         f"again if {name} is promoted again")
        return self.outcome(lines, path, ids)

    async def floor(self, project: str, version: str, by: str, reason: str) -> Outcome:
        """Set the floor of a reviewed project (``version``), or remove it (``none``)."""
        name = project_name(project)
        floor = None if version.strip().lower() == "none" else release_version(version)
        by, reason = by_and_reason(by, reason)
        async with self.files.locked():
            text, policy = self.files.read(name)
            if policy is None or policy.review is None:
                raise ReviewError(f"{name} is not reviewed, so it has no floor; promote it first: "
                                  f"{command('mirror', 'promote', name, '--by', 'NAME', '--note', 'TEXT')}")
            if (canonical_version(floor) if floor else None) == policy.review.floor:
                return nothing_changed(f"the floor of {name} is already {floor or 'none'}")
            now = self.now()
            new = edit.set_floor(text, floor)
            path, ids = await self.change(name, new, [record(now, by, "floor", name, edit.snippet(text, "review"),
                                                             edit.snippet(new, "review"), reason)])
        shown = (f"floor of {name} set to {floor}: older releases stay out of 'reviewed'" if floor
                 else f"floor of {name} removed: 'reviewed' admits its old releases again")
        return self.outcome((f"{shown} ({path})",), path, ids)

    # ------------------------------------------------------------------ block / unblock

    async def block(self, target: str, by: str, reason: str, *, force: bool = False) -> Outcome:
        """Add a ``[[block]]`` of the project, or of one release (``PROJECT==VERSION``). Refused (ReviewError)
        when a project the curated tiers serve needs what it blocks, unless ``force``."""
        from mirror.services.review.guard import refuse_opening_holes

        t = BlockTarget.parse(target)
        by, reason = by_and_reason(by, reason)
        note = None
        async with self.files.locked():
            text, policy = self.files.read(t.name)
            for b in policy.blocks if policy else ():
                if (b.versions is None and t.spec is None) or (
                        b.versions is not None and t.spec is not None and str(b.versions) == t.spec):
                    return nothing_changed(f"{t.shown} is already blocked by {b.signed.by} on {when(b.signed)}: "
                                           f"{b.reason} ({b.where})")
            now = self.now()
            new = edit.add_block(text, t.spec, reason, by, now)
            if not force and policy is not None and policy.review is not None:
                note = await refuse_opening_holes(self, t.name, new, f"block {t.shown}", command(
                    "mirror", "block", t.shown, "--by", by, "--reason", reason, "--force"))
            path, ids = await self.change(t.name, new, [record(now, by, "block", t.shown, None,
                                                               edit.snippet(new, "block", t.spec), reason)])
        what = f"release {t.version} of {t.name}" if t.version else f"{t.name} (every release)"
        return self.outcome((f"blocked {what} in every tier ({path})", *([note] if note else [])), path, ids)

    async def unblock(self, target: str, by: str, reason: str) -> Outcome:
        """Remove the blocks of the project (``PROJECT``) or of one release (``PROJECT==VERSION``)."""
        t = BlockTarget.parse(target)
        by, reason = by_and_reason(by, reason)
        async with self.files.locked():
            text, policy = self.files.read(t.name)
            new, count = edit.remove_blocks(text, t.spec)
            if count == 0:
                existing = [f"{b.versions or 'whole project'} ({b.where})" for b in (policy.blocks if policy else ())]
                return nothing_changed(f"{t.shown} is not blocked; blocks of {t.name}: "
                                       + ("; ".join(existing) if existing else "none"))
            now = self.now()
            path, ids = await self.change(t.name, new, [record(now, by, "unblock", t.shown,
                                                               edit.snippet(text, "block", t.spec), None, reason)])
        return self.outcome((f"unblocked {t.shown} ({count} block(s) removed from {path})",), path, ids)

    # ------------------------------------------------------------------ waive

    async def waive(self, target: str, rule: str, until: str, by: str, reason: str,
                    advisory: str | None = None) -> Outcome:
        """Add a ``[[waiver]]``: ``rule`` (vulnerability, license, cooldown) does not hold release ``target``
        (``PROJECT==VERSION``) back until ``until``; ``advisory`` limits a vulnerability waiver to one advisory."""
        name, version = parse_target(target)
        if version is None:
            raise ReviewError(f"{target!r}: a waiver is for one release: give PROJECT==VERSION")
        if rule not in [w.value for w in WaivedRule]:
            raise ReviewError(f"--rule {rule!r}: one of {', '.join(w.value for w in WaivedRule)} (malware cannot be "
                              "waived)")
        advisory = option_text(advisory, "--id", required=False)
        if advisory is not None and rule != WaivedRule.VULNERABILITY:
            raise ReviewError("--id names an advisory: only with --rule vulnerability")
        by, reason = by_and_reason(by, reason)
        now = self.now()
        expires = until_time(until, now)
        async with self.files.locked():
            text, policy = self.files.read(name)
            new = edit.add_waiver(text, version, rule, expires, reason, by, now, advisory)
            path, ids = await self.change(name, new, [record(now, by, "waive", f"{name}=={version}", None,
                                                             edit.snippet(new, "waiver", version), reason)])
        what = f"{rule}" + (f" ({advisory})" if advisory else "")
        lines = [f"waived {what} for {name} {version} until {expires:%Y-%m-%d %H:%M} UTC ({path}); it is held "
                 "by that rule again afterwards"]
        if policy is None or policy.review is None:
            lines.append(f"note: {name} is not reviewed: the waiver matters only where a rule of 'all' applies")
        return self.outcome(tuple(lines), path, ids)

    # ------------------------------------------------------------------ vet / unvet

    async def unvet(self, project: str, version: str, by: str, reason: str, *, force: bool = False) -> Outcome:
        """Remove ``[vetted."VERSION"]``: the release leaves ``vetted``. Refused (ReviewError) when a release the
        curated tiers serve needs it and no other release they serve fits that requirement, unless ``force``."""
        from mirror.services.review.guard import refuse_opening_holes

        name = project_name(project)
        version = release_version(version)
        by, reason = by_and_reason(by, reason)
        note = None
        async with self.files.locked():
            text, policy = self.files.read(name)
            if policy is None or canonical_version(version) not in policy.vettings:
                vetted = sorted(policy.vettings, key=Version) if policy else []
                return nothing_changed(f"{name} {version} is not vetted; vetted releases of {name}: "
                                       + (summarized(vetted) if vetted else "none"))
            version = edit.vetted_key(text, version) or version  # as the file (and the vet record) spell it
            new = edit.remove_vetting(text, version)
            if not force and policy.review is not None:  # an unreviewed project's vettings serve nothing
                note = await refuse_opening_holes(
                    self, name, new, f"unvet {name} {version}",
                    command("mirror", "unvet", name, version, "--by", by, "--reason", reason, "--force"),
                    instead=f"Vet another release of {name} that fits them first ("
                            f"{command('mirror', 'vet', name, 'VERSION', '--by', 'NAME', '--note', 'TEXT')})")
            now = self.now()
            path, ids = await self.change(name, new, [record(now, by, "unvet", f"{name}=={version}",
                                                             edit.snippet(text, "vetted", version), None, reason)])
        return self.outcome((f"unvetted {name} {version}: it is no longer in 'vetted' ({path})",
                             *([note] if note else [])), path, ids)

    async def vet(self, project: str, version: str, by: str, note: str | None = None, *,
                  override_uploaders: bool = False, trust_publisher: str | None = None) -> Outcome:
        """Pin the sha256 of every file of a release as upstream advertises it; verify its provenance
        against the pinned publishers (``trust_publisher``: pin this identity too, after review); check
        the uploaders. See :mod:`.vet`."""
        from mirror.services.review.vet import vet_release

        return await vet_release(self, project, version, by, note, override_uploaders=override_uploaders,
                                 trust_publisher=trust_publisher)

    # ------------------------------------------------------------------ whole sets (see .sets, .lockvet)

    async def plan_promotion(self, names: Sequence[str], inputs: Sequence[SetInput] = (), *, with_deps: bool = False,
                             allow_similar: bool = False, allow_missing: bool = False,
                             targets: Sequence[Target] = (), no_floor: bool = False) -> PromotionPlan:
        """What promoting ``names`` and ``inputs`` (with their closure when ``with_deps``) would do."""
        from mirror.services.review.sets import plan_promotion

        return await plan_promotion(self, names, inputs, with_deps=with_deps, allow_similar=allow_similar,
                                    allow_missing=allow_missing, targets=targets, no_floor=no_floor)

    async def apply_promotion(self, plan: PromotionPlan, by: str, note: str | None = None, *,
                              allow_similar: bool = False) -> Outcome:
        """Promote what ``plan`` promotes: one file and one audit record per project."""
        from mirror.services.review.sets import apply_promotion

        return await apply_promotion(self, plan, by, note, allow_similar=allow_similar)

    async def vet_lock(self, given: SetInput, by: str, note: str | None = None, *, promote: bool = False,
                       allow_similar: bool = False, override_uploaders: bool = False) -> LockOutcome:
        """Vet exactly the files a lock file names, pinned to its hashes (see :mod:`.lockvet`)."""
        from mirror.services.review.lockvet import vet_lock

        return await vet_lock(self, given, by, note, promote=promote, allow_similar=allow_similar,
                              override_uploaders=override_uploaders)

    async def prefetcher(self) -> SetPrefetcher:
        """Downloads through a tier of what a requirements or lock file needs (see :mod:`mirror.services.setfetch`)."""
        from mirror.services.setfetch import SetPrefetcher

        runtime = await self.runtime()
        return SetPrefetcher(runtime.closure, runtime.fetcher)
