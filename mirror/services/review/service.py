"""The reviewer commands as one service: each command checks its arguments, reads upstream where it must, then
edits one policy file under the lock (:mod:`.files`) and appends to the audit trail (:mod:`.audit`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import Version

from mirror.adapters.db.audit import AuditRecord, DemandEntry
from mirror.config import Config
from mirror.core.errors import PolicyError, ReviewError
from mirror.core.models import ProjectDetail
from mirror.core.policy import edit
from mirror.core.policy.commands import command
from mirror.core.policy.evaluate import canonical_version
from mirror.core.policy.model import (
    ProjectPolicy,
    ProvenanceStatus,
    PublisherSyntaxError,
    TrustedPublisher,
    parse_identity,
)
from mirror.services.provenance import ProvenanceCache, ProvenanceVerifier
from mirror.services.review.arguments import (
    BlockTarget,
    by_and_reason,
    option_text,
    project_name,
    release_version,
)
from mirror.services.review.audit import AuditTrail, AuditUnavailable
from mirror.services.review.evidence import (
    uploader_evidence,
    upstream_maintainers,
)
from mirror.services.review.files import PolicyFiles
from mirror.services.review.inspection import ExplainResult, PolicyInspector, Problem
from mirror.services.review.typosquat import typosquat_gate
from mirror.services.review.upstream_reader import UpstreamReader
from mirror.services.review.vetting import (
    current_provenance,
    examine_provenance,
    judge_provenance,
    judge_uploaders,
    pinned_publishers,
    publisher_fields,
)
from mirror.services.review.wording import when

if TYPE_CHECKING:  # aiohttp (and pypi_simple) are imported only by the commands that talk to upstream
    import aiohttp


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command did: lines to show the reviewer, the file changed, the audit records written."""

    lines: tuple[str, ...]
    file: Path | None = None
    audit_ids: tuple[int, ...] = ()


def record(at: datetime, actor: str, action: str, target: str, before: str | None, after: str | None,
           note: str | None) -> AuditRecord:
    """One audit record of a reviewer command."""
    return AuditRecord(at=at.timestamp(), actor=actor, action=action, target=target, before=before, after=after,
                       note=note or "")


def require_reviewed(name: str, policy: ProjectPolicy | None) -> None:
    if policy is None or policy.review is None:
        raise ReviewError(f"{name} is not reviewed, so none of its releases can be vetted; promote it "
                          f"first: {command('mirror', 'promote', name, '--by', 'NAME', '--note', 'TEXT')}")


class ReviewService:
    """The reviewer commands against one configuration. Use ``async with``, or call :meth:`close`."""

    def __init__(self, config: Config, *, clock: Callable[[], datetime] | None = None,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.config = config
        self.directory = config.policies.path
        self._clock = clock or (lambda: datetime.now(UTC))
        self.audit = AuditTrail(config.database_settings, config.cluster)
        self.files = PolicyFiles(self.directory, self.audit.shared_lock)
        self.upstream = UpstreamReader(config, session)
        self._verifier: ProvenanceVerifier | None = None
        self.inspector = PolicyInspector(self.directory, self.upstream, self._clock, self.provenance_verifier)

    async def __aenter__(self) -> ReviewService:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.upstream.close()
        await self.audit.close()

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC).replace(microsecond=0)

    async def _change(self, name: str, text: str, records: Sequence[AuditRecord]) -> tuple[Path, tuple[int, ...]]:
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
        from mirror.adapters.policy_dir import load_policies

        try:
            return (await asyncio.to_thread(load_policies, self.directory)).version
        except PolicyError:
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

    async def check(self, *, offline: bool = False) -> list[Problem]:
        return await self.inspector.check(offline=offline)

    async def audit_records(self, project: str | None = None) -> list[AuditRecord]:
        name = project_name(project) if project else None
        return await self.audit.records(name)

    async def demand_entries(self, tier: str | None = None) -> list[DemandEntry]:
        return await self.audit.demand_entries(tier)

    # ------------------------------------------------------------------ promote / demote

    async def promote(self, project: str, by: str, note: str | None = None, *,
                      allow_similar: bool = False) -> Outcome:
        """Add ``[review]``: the project enters ``reviewed``. Refuses look-alikes of known projects."""
        name = project_name(project)
        by = option_text(by, "--by", required=True)
        note = option_text(note, "--note", required=False)
        if allow_similar and not note:
            raise ReviewError("--allow-similar needs --note saying why this is not a typo-squat")
        async with self.files.locked():
            text, policy = self.files.read(name)
            if policy is not None and policy.review is not None:
                r = policy.review
                raise ReviewError(f"{name} is already reviewed by {r.signed.by} on {when(r.signed)} ({r.where})")
            similar = typosquat_gate(name, self.files.reviewed_names(besides=name), allow_similar=allow_similar)
            now = self._now()
            new = edit.set_review(text, by, now, note)
            audit_note = note or ""
            if similar:
                audit_note += f" [allowed although similar to {', '.join(similar.names)}]"
            path, ids = await self._change(name, new, [record(now, by, "promote", name, edit.snippet(text, "review"),
                                                              edit.snippet(new, "review"), audit_note.strip())])
        lines = [f"promoted {name} into 'reviewed' ({path})"]
        if similar:
            lines.append(f"note: allowed although it looks like {similar.described}")
        if policy is not None and policy.project_block is not None:
            lines.append(f"note: {name} is blocked ({policy.project_block.reason}): "
                         f"it stays out of every tier until `{command('mirror', 'unblock', name)}`")
        return Outcome(tuple(lines), path, ids)

    async def demote(self, project: str, by: str, reason: str) -> Outcome:
        """Remove ``[review]``: the project leaves ``reviewed`` (and ``vetted``)."""
        name = project_name(project)
        by, reason = by_and_reason(by, reason)
        async with self.files.locked():
            text, policy = self.files.read(name)
            if policy is None or policy.review is None:
                raise ReviewError(f"{name} is not reviewed (no [review] in {self.files.project_path(name)})")
            now = self._now()
            new = edit.remove_review(text)
            path, ids = await self._change(name, new, [record(now, by, "demote", name, edit.snippet(text, "review"),
                                                              None, reason)])
        lines = [f"demoted {name}: it is no longer in 'reviewed' or 'vetted' ({path})"]
        if policy.vettings:
            lines.append(f"note: {len(policy.vettings)} vetted release(s) stay in the file; they take effect "
                         f"again if {name} is promoted again")
        return Outcome(tuple(lines), path, ids)

    # ------------------------------------------------------------------ block / unblock

    async def block(self, target: str, by: str, reason: str) -> Outcome:
        """Add a ``[[block]]`` of the project, or of one release (``PROJECT==VERSION``)."""
        t = BlockTarget.parse(target)
        by, reason = by_and_reason(by, reason)
        async with self.files.locked():
            text, policy = self.files.read(t.name)
            for b in policy.blocks if policy else ():
                if (b.versions is None and t.spec is None) or (
                        b.versions is not None and t.spec is not None and str(b.versions) == t.spec):
                    raise ReviewError(f"{t.shown} is already blocked by {b.signed.by} on {when(b.signed)}: "
                                      f"{b.reason} ({b.where})")
            now = self._now()
            new = edit.add_block(text, t.spec, reason, by, now)
            path, ids = await self._change(t.name, new, [record(now, by, "block", t.shown, None,
                                                                edit.snippet(new, "block", t.spec), reason)])
        what = f"release {t.version} of {t.name}" if t.version else f"{t.name} (every release)"
        return Outcome((f"blocked {what} in every tier ({path})",), path, ids)

    async def unblock(self, target: str, by: str, reason: str) -> Outcome:
        """Remove the blocks of the project (``PROJECT``) or of one release (``PROJECT==VERSION``)."""
        t = BlockTarget.parse(target)
        by, reason = by_and_reason(by, reason)
        async with self.files.locked():
            text, policy = self.files.read(t.name)
            new, count = edit.remove_blocks(text, t.spec)
            if count == 0:
                existing = [f"{b.versions or 'whole project'} ({b.where})" for b in (policy.blocks if policy else ())]
                raise ReviewError(f"no block of {t.shown} to remove; blocks of {t.name}: "
                                  + ("; ".join(existing) if existing else "none"))
            now = self._now()
            path, ids = await self._change(t.name, new, [record(now, by, "unblock", t.shown,
                                                                edit.snippet(text, "block", t.spec), None, reason)])
        return Outcome((f"unblocked {t.shown} ({count} block(s) removed from {path})",), path, ids)

    # ------------------------------------------------------------------ vet / unvet

    async def unvet(self, project: str, version: str, by: str, reason: str) -> Outcome:
        """Remove ``[vetted."VERSION"]``: the release leaves ``vetted``."""
        name = project_name(project)
        version = release_version(version)
        by, reason = by_and_reason(by, reason)
        async with self.files.locked():
            text, policy = self.files.read(name)
            if policy is None or canonical_version(version) not in policy.vettings:
                vetted = sorted(policy.vettings, key=Version) if policy else []
                raise ReviewError(f"{name} {version} is not vetted; vetted releases of {name}: "
                                  + (", ".join(vetted) if vetted else "none"))
            version = edit.vetted_key(text, version) or version  # as the file (and the vet record) spell it
            now = self._now()
            new = edit.remove_vetting(text, version)
            path, ids = await self._change(name, new, [record(now, by, "unvet", f"{name}=={version}",
                                                              edit.snippet(text, "vetted", version), None, reason)])
        return Outcome((f"unvetted {name} {version}: it is no longer in 'vetted' ({path})",), path, ids)

    async def vet(self, project: str, version: str, by: str, note: str | None = None, *,
                  override_uploaders: bool = False, trust_publisher: str | None = None) -> Outcome:
        """Pin the sha256 of every file of a release as upstream advertises it; verify its provenance
        against the pinned publishers (``trust_publisher``: pin this identity too, after review); check
        the uploaders."""
        name = project_name(project)
        version = release_version(version)
        by = option_text(by, "--by", required=True)
        note = option_text(note, "--note", required=False)
        if override_uploaders and not note:
            raise ReviewError("--override-uploaders needs --note saying why the new uploaders are trusted")
        trusted: TrustedPublisher | None = None
        if trust_publisher is not None:
            try:
                trusted = parse_identity(trust_publisher)
            except PublisherSyntaxError as exc:
                raise ReviewError(f"--trust-publisher: {exc}") from None
        before = self.files.read(name)[1]
        require_reviewed(name, before)  # fail fast, before any network
        detail = await self.upstream.project_detail(name)
        files = [f for f in detail.files if canonical_version(f.version) == canonical_version(version)]
        if not files:
            available = detail.computed_versions()
            raise ReviewError(f"upstream lists no files of {name} {version}; available versions: "
                              + (", ".join(available[-30:]) if available else "none"))
        unpinnable = [f.filename for f in files if not f.sha256]
        if unpinnable:
            raise ReviewError(f"upstream advertises no sha256 for {', '.join(unpinnable)}: cannot pin {name} {version}")
        unverifiable = [f.filename for f in files if f.checked_hashes() is None]
        if unverifiable:
            raise ReviewError(f"upstream advertises malformed or conflicting hashes for {', '.join(unverifiable)}: "
                              f"the mirror serves none of these bytes, so {name} {version} cannot be vetted")
        pins = {f.filename: f.sha256 for f in files if f.sha256}
        # The .metadata upstream advertises now is pinned too: `vetted` withholds the file if it changes.
        metadata_pins = {f.filename: sha for f in files if (sha := (f.checked_metadata() or {}).get("sha256"))}
        yanked = {f.filename for f in files if f.is_yanked}
        assert before is not None
        pinned = pinned_publishers(before)
        checked = pinned + ((trusted,) if trusted is not None and trusted not in pinned else ())
        documents = await self.upstream.provenance_documents(files)
        findings = await asyncio.to_thread(examine_provenance, files, documents, checked)
        evidence = await uploader_evidence(self.upstream, name, files, findings.publishers)
        rules = self.files.rules()
        async with self.files.locked():
            text, policy = self.files.read(name)
            require_reviewed(name, policy)
            assert policy is not None
            existing = policy.vettings.get(canonical_version(version) or version)
            if existing is not None:
                raise ReviewError(f"{name} {version} is already vetted by {existing.signed.by} on "
                                  f"{when(existing.signed)} ({existing.where}); to vet it again, "
                                  f"`{command('mirror', 'unvet', name, version)}` first")
            if pinned_publishers(policy) != pinned:
                raise ReviewError(f"the trusted publishers pinned for {name} changed while vetting; run the "
                                  "command again")
            prov_lines, verified, pin = judge_provenance(name, version, policy, findings, trusted,
                                                         self.files.project_path(name))
            lines, recorded = judge_uploaders(name, version, policy, evidence, rules, override_uploaders)
            now = self._now()
            new = edit.set_vetting(text, version, pins, by, now, note, verified, metadata_pins)
            if pin is not None:
                new = edit.add_publisher(new, publisher_fields(pin), by, now,
                                         note or f"trusted publisher confirmed when vetting {name} {version}")
            if recorded is not None:
                action, maintainers, publishers = recorded
                new = edit.set_uploaders(new, maintainers, publishers, by, now,
                                         note if action == "override-uploaders" else
                                         (note or f"first vetting ({name} {version}): trust on first use"))
            records = [record(now, by, "vet", f"{name}=={version}", None, edit.snippet(new, "vetted", version), note)]
            if pin is not None:
                records.append(record(now, by, "pin-publisher", name, edit.snippet(text, "provenance"),
                                      edit.snippet(new, "provenance"), note or pin.identity))
            if recorded is not None:
                records.append(record(now, by, recorded[0], name, edit.snippet(text, "uploaders"),
                                      edit.snippet(new, "uploaders"), note))
            path, ids = await self._change(name, new, records)
        width = max(len(f) for f in pins)
        head = [f"vetted {name} {version}: {len(pins)} file(s) pinned in {path}"]
        for filename, digest in sorted(pins.items()):
            yanked_note = "  (yanked upstream)" if filename in yanked else ""
            head.append(f"  {filename:{width}s}  sha256 {digest}{yanked_note}")
            if filename in metadata_pins:
                head.append(f"  {'':{width}s}  .metadata sha256 {metadata_pins[filename]}")
        return Outcome(tuple(head + [f"provenance: {line}" for line in prov_lines]
                             + [f"uploaders: {line}" for line in [*evidence.notes, *lines]]), path, ids)
