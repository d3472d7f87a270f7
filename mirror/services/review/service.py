"""The reviewer commands as one service: each command checks its arguments, reads upstream where it must, then
edits one policy file under the lock (:mod:`.files`) and appends to the audit trail (:mod:`.audit`).

Commands are idempotent: asking for what is already so (promoting a reviewed project, blocking a blocked one,
vetting a release already vetted with the same hashes) changes nothing, says so, and succeeds. Whole sets
(``--with-deps``, requirements and lock files, the demand queue) are in :mod:`.sets`; ``vet`` in :mod:`.vet`.

The service holds what every command shares (the lock, audit-first changes, the reads); the body of each
editing command lives with its table: ``promote``, ``demote``, ``floor`` in :mod:`.promotion`; ``block``,
``unblock``, ``waive`` in :mod:`.blocks`; ``unvet`` in :mod:`.vet`; :class:`Outcome` in :mod:`.outcome`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mirror.adapters.db.audit import AuditRecord, DemandEntry
from mirror.adapters.policy_dir import load_policies
from mirror.config import Config
from mirror.core.errors import ParseError, PolicyError, ProjectNotFound, ReviewError, UpstreamError
from mirror.core.models import ProjectDetail
from mirror.core.policy.model import PolicySet, ProjectPolicy, ProvenanceStatus, TierRules
from mirror.services.provenance import ProvenanceCache, ProvenanceVerifier
from mirror.services.review import blocks, promotion
from mirror.services.review.arguments import project_name, release_version
from mirror.services.review.audit import AuditTrail, AuditUnavailable
from mirror.services.review.evidence import upstream_maintainers
from mirror.services.review.files import PolicyFiles
from mirror.services.review.inspection import ExplainResult, PolicyInspector, Problem
from mirror.services.review.listing import summarized
from mirror.services.review.outcome import Outcome, nothing_changed, record, require_reviewed
from mirror.services.review.promotion import allow_missing_command, floor_line
from mirror.services.review.typosquat import suggestions
from mirror.services.review.upstream_reader import UpstreamReader
from mirror.services.review.vetting import current_provenance

if TYPE_CHECKING:  # aiohttp (and pypi_simple) are imported only by the commands that talk to upstream
    import aiohttp

    from mirror.core.sets import SetInput
    from mirror.core.targets import Target
    from mirror.services.review.lockvet import LockOutcome
    from mirror.services.review.sets import PromotionPlan
    from mirror.services.runtime import Runtime
    from mirror.services.setfetch import SetPrefetcher


#: Defined in .outcome and .promotion now; still importable from here, where they used to live.
__all__ = ["Outcome", "ReviewService", "allow_missing_command", "floor_line", "nothing_changed", "record",
           "require_reviewed"]


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
        return await promotion.promote(self, project, by, note, allow_similar=allow_similar,
                                       allow_missing=allow_missing, floor=floor, no_floor=no_floor)

    async def promote_checked(self, name: str, by: str, note: str | None, *, allow_similar: bool,
                              context: str | None = None, floor: str | None = None) -> Outcome:
        """Promote ``name`` (normalized; upstream's answer already checked) under the lock: the gate again
        (another command may have promoted a look-alike meanwhile), then the edit and its audit record, whose
        note ends with ``context`` (``as a dependency of flask 3.0.0``); ``floor`` is recorded when given."""
        return await promotion.promote_checked(self, name, by, note, allow_similar=allow_similar, context=context,
                                               floor=floor)

    async def demote(self, project: str, by: str, reason: str, *, force: bool = False) -> Outcome:
        """Remove ``[review]``: the project leaves ``reviewed`` (and ``vetted``). Refused (ReviewError) when a
        project the tiers serve needs it, unless ``force``."""
        return await promotion.demote(self, project, by, reason, force=force)

    async def floor(self, project: str, version: str, by: str, reason: str) -> Outcome:
        """Set the floor of a reviewed project (``version``), or remove it (``none``)."""
        return await promotion.floor(self, project, version, by, reason)

    # ------------------------------------------------------------------ block / unblock

    async def block(self, target: str, by: str, reason: str, *, force: bool = False) -> Outcome:
        """Add a ``[[block]]`` of the project, or of one release (``PROJECT==VERSION``). Refused (ReviewError)
        when a project the curated tiers serve needs what it blocks, unless ``force``."""
        return await blocks.block(self, target, by, reason, force=force)

    async def unblock(self, target: str, by: str, reason: str) -> Outcome:
        """Remove the blocks of the project (``PROJECT``) or of one release (``PROJECT==VERSION``)."""
        return await blocks.unblock(self, target, by, reason)

    # ------------------------------------------------------------------ waive

    async def waive(self, target: str, rule: str, until: str, by: str, reason: str,
                    advisory: str | None = None) -> Outcome:
        """Add a ``[[waiver]]``: ``rule`` (vulnerability, license, cooldown) does not hold release ``target``
        (``PROJECT==VERSION``) back until ``until``; ``advisory`` limits a vulnerability waiver to one advisory."""
        return await blocks.waive(self, target, rule, until, by, reason, advisory)

    # ------------------------------------------------------------------ vet / unvet

    async def unvet(self, project: str, version: str, by: str, reason: str, *, force: bool = False) -> Outcome:
        """Remove ``[vetted."VERSION"]``: the release leaves ``vetted``. Refused (ReviewError) when a release the
        curated tiers serve needs it and no other release they serve fits that requirement, unless ``force``."""
        from mirror.services.review.vet import unvet_release

        return await unvet_release(self, project, version, by, reason, force=force)

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
