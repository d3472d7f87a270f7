"""The reviewer commands (``mirror promote``, ``vet``, ``demote``, ``unvet``, ``block``, ``unblock``,
``explain``, ``check``, ``audit``, ``demand``): everything but argument parsing and printing.

Every change edits one ``<policies>/projects/<name>.toml`` (created when missing) with
:mod:`mirror.policy.edit`, which keeps comments and layout. The read-modify-write happens under an
exclusive ``flock`` on ``<policies>/.lock``, so concurrent invocations never lose an edit; the new text
is validated with :func:`~mirror.policy.load.parse_project` before it replaces the file atomically
(temporary file + ``os.replace``), and every change is appended to the audit log. Refusals raise
:class:`~mirror.errors.ReviewError` with a message meant for the reviewer.

``vet`` pins the sha256 of every file of a release exactly as the configured upstream advertises it,
and checks the project's uploaders (trust on first use): maintainers from the upstream JSON API's
``ownership.roles``, trusted publishers from the PEP 740 provenance of the release's files. Where a file
has provenance, ``vet`` verifies it offline (:mod:`mirror.provenance`) against the publishers pinned in
``[provenance]`` and records the verified publisher per file; without a pin it proposes the publisher
that signed (trust on first use) and pins it only when the reviewer confirms with ``--trust-publisher``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterable

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .config import Config
from .db.audit import AuditLog, AuditRecord, DemandEntry, DemandLog
from .errors import ParseError, PolicyError, ProjectNotFound, ReviewError, UpstreamError
from .models import DistFile, ProjectDetail
from .policy import edit
from .policy.evaluate import ProvenanceStatuses, canonical_version, decide_provenance, repin_command
from .policy.explain import Explanation, explain
from .policy.load import PROJECTS_DIR, TIERS_FILE, load_policies, parse_project, parse_tiers
from .policy.lookalike import lookalikes, popular_names
from .policy.model import (
    ProjectPolicy,
    ProvenanceStatus,
    PublisherSyntaxError,
    Signature,
    TierRules,
    TrustedPublisher,
    parse_identity,
)
from .provenance import IdentityMismatch, ProvenanceError, ProvenanceMissing, claimed_publishers, propose, verify

if TYPE_CHECKING:  # aiohttp (and pypi_simple) are imported only by the commands that talk to upstream
    import aiohttp

LOCK_FILE = ".lock"
#: How long a command waits for another one holding the policy lock.
LOCK_TIMEOUT = 60.0
_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_JSON_LIMIT = 64 * 1024 * 1024


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command did: lines to show the reviewer, the file changed, the audit records written."""

    lines: tuple[str, ...]
    file: Path | None = None
    audit_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of ``check``, printed as ``file:line: message``."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


@dataclass(frozen=True, slots=True)
class Evidence:
    """Who upstream says may publish a project; ``None`` = unknown (and ``notes`` say why)."""

    maintainers: tuple[str, ...] | None
    publishers: tuple[str, ...] | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProvenanceFindings:
    """What offline verification found for the files of one release.

    ``verified``: filename → pinned identity that signed it; ``proposed``: filename → identity that signed
    it, verified only against the document's own claim (no pin yet); ``missing``: files without
    provenance; ``failures``: filename → why its provenance does not verify.
    """

    verified: dict[str, str] = field(default_factory=dict)
    proposed: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    failures: dict[str, ProvenanceError] = field(default_factory=dict)


def examine_provenance(files: Iterable[DistFile], documents: dict[str, bytes | None],
                       pins: tuple[TrustedPublisher, ...]) -> ProvenanceFindings:
    """Verify each file's provenance document against ``pins`` (or, with no pin, against its own claim).

    Blocking (sigstore, offline): run it in a thread.
    """
    found = ProvenanceFindings()
    for f in files:
        document = documents.get(f.filename)
        if document is None or not f.sha256:
            found.missing.append(f.filename)
            continue
        try:
            if pins:
                found.verified[f.filename] = verify(document, f.filename, f.sha256, pins)
            else:
                found.proposed[f.filename] = propose(document, f.filename, f.sha256)
        except ProvenanceMissing:
            found.missing.append(f.filename)
        except ProvenanceError as exc:
            found.failures[f.filename] = exc
    return found


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


# --------------------------------------------------------------------------- small helpers


def project_name(raw: str) -> str:
    """The normalized name of a project given on the command line; ReviewError when it is no valid name."""
    raw = raw.strip()
    if not _NAME.match(raw):
        raise ReviewError(f"{raw!r} is not a valid project name (letters, digits, '.', '_' and '-')")
    return canonicalize_name(raw)


def release_version(raw: str) -> str:
    """The PEP 440 normalized form of a version given on the command line (``2.32.03`` → ``2.32.3``)."""
    try:
        return str(Version(raw.strip()))
    except InvalidVersion:
        raise ReviewError(f"{raw!r} is not a valid version (PEP 440, e.g. 2.32.3)") from None


def parse_target(raw: str) -> tuple[str, str | None]:
    """``PROJECT`` or ``PROJECT==VERSION`` → (normalized name, normalized version or None)."""
    name, sep, version = raw.partition("==")
    if not sep:
        if any(op in raw for op in "<>=!~"):
            raise ReviewError(f"{raw!r}: give PROJECT or PROJECT==VERSION (other specifiers are not supported here)")
        return project_name(raw), None
    return project_name(name), release_version(version)


def _text(value: str | None, what: str, *, required: bool) -> str | None:
    value = (value or "").strip() or None
    if required and value is None:
        raise ReviewError(f"{what} must not be empty")
    return value


def when(signed: Signature) -> str:
    return f"{signed.at:%Y-%m-%d %H:%M} UTC" if signed.at else "an unknown date"


def _names(values: Iterable[str]) -> str:
    values = sorted(values)
    return ", ".join(values) if values else "none"


def publisher_identity(publisher: Any) -> str | None:
    """A PEP 740 publisher object as one identity string (``GitHub:owner/repo@release.yml``)."""
    if not isinstance(publisher, dict):
        return None
    kind = str(publisher.get("kind") or "unknown")
    if kind == "GitHub" and publisher.get("repository"):
        return f"GitHub:{publisher['repository']}@{publisher.get('workflow') or '?'}"
    if kind == "GitLab" and publisher.get("repository"):
        return f"GitLab:{publisher['repository']}@{publisher.get('workflow_filepath') or '?'}"
    if kind == "Google" and publisher.get("email"):
        return f"Google:{publisher['email']}"
    if kind == "CircleCI" and publisher.get("project_id"):
        return f"CircleCI:{publisher['project_id']}/{publisher.get('pipeline_definition_id') or '?'}"
    claims = ",".join(f"{k}={v}" for k, v in sorted(publisher.items())
                      if k not in ("kind", "claims", "environment") and isinstance(v, (str, int)))
    return f"{kind}:{claims}"


def json_api_url(simple_url: str, name: str) -> str | None:
    """The JSON API URL of a project next to a simple index (``.../simple/`` → ``.../pypi/<name>/json``)."""
    if not simple_url.endswith("/simple/"):
        return None
    return simple_url[: -len("simple/")] + f"pypi/{name}/json"


# --------------------------------------------------------------------------- the service


class ReviewService:
    """The reviewer commands against one configuration. Use ``async with``, or call :meth:`close`."""

    def __init__(self, config: Config, *, clock: Callable[[], datetime] | None = None,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.config = config
        self.directory = config.policies.path
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._session = session
        self._own_session = session is None
        self._engine = None

    async def __aenter__(self) -> "ReviewService":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    # ------------------------------------------------------------------ files

    def project_path(self, name: str) -> Path:
        return self.directory / PROJECTS_DIR / f"{name}.toml"

    def _now(self) -> datetime:
        return self._clock().astimezone(timezone.utc).replace(microsecond=0)

    def _read(self, name: str) -> tuple[str, ProjectPolicy | None]:
        """The project's file text (a new header when missing) and its parsed policy (None when missing)."""
        path = self.project_path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return edit.new_project_file(name), None
        except (OSError, UnicodeDecodeError) as exc:
            raise ReviewError(f"cannot read {path}: {exc}") from None
        try:
            return text, parse_project(text, str(path), name)
        except PolicyError as exc:
            raise ReviewError(f"{exc}\nfix this file first (`mirror check` lists every problem)") from None

    def _write(self, name: str, text: str) -> Path:
        """Validate ``text`` as the project's policy, then replace the file atomically."""
        path = self.project_path(name)
        try:
            parse_project(text, str(path), name)
        except PolicyError as exc:  # an edit must never produce a file the server would refuse
            raise ReviewError(f"the edit would make {path} invalid, nothing was written: {exc}") from None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileNotFoundError):
                os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise ReviewError(f"cannot write {path}: {exc}") from None
        return path

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        """Hold the exclusive lock of the policy directory (polling, so waiting never blocks the loop)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        lock_path = self.directory / LOCK_FILE
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            deadline = time.monotonic() + LOCK_TIMEOUT
            delay = 0.005
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise ReviewError(f"cannot lock {lock_path}: {exc}") from None
                if time.monotonic() > deadline:
                    raise ReviewError(f"another mirror command holds {lock_path} for more than "
                                      f"{LOCK_TIMEOUT:g}s; try again")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.1)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _rules(self) -> TierRules:
        path = self.directory / TIERS_FILE
        if not path.is_file():
            return TierRules()
        try:
            return parse_tiers(path.read_text(encoding="utf-8"), str(path))
        except PolicyError as exc:
            raise ReviewError(f"{exc}\nfix this file first (`mirror check` lists every problem)") from None

    def _reviewed_names(self, *, besides: str) -> dict[str, str]:
        """Reviewed projects other than ``besides`` → their file. An unreadable file counts as reviewed."""
        found: dict[str, str] = {}
        for path in sorted((self.directory / PROJECTS_DIR).glob("*.toml")):
            name = path.stem
            if name == besides:
                continue
            try:
                policy = parse_project(path.read_text(encoding="utf-8"), str(path), name)
            except (OSError, UnicodeDecodeError, PolicyError):
                found[canonicalize_name(name)] = str(path)  # safe side: it may well be reviewed
                continue
            if policy.review is not None:
                found[name] = str(path)
        return found

    # ------------------------------------------------------------------ audit log

    async def _database(self):
        if self._engine is None:
            from .db.engine import open_database

            self._engine = await open_database(self.config.database_url)
        return self._engine

    async def _audit(self, at: datetime, actor: str, action: str, target: str, before: str | None,
                     after: str | None, note: str | None) -> int:
        try:
            return await AuditLog(await self._database()).append(AuditRecord(
                at=at.timestamp(), actor=actor, action=action, target=target, before=before, after=after,
                note=note or ""))
        except Exception as exc:  # the file is already changed: say so instead of failing silently
            raise ReviewError(f"the policy file was changed but the audit record could not be written: "
                              f"{type(exc).__name__}: {exc}") from exc

    async def audit_records(self, project: str | None = None) -> list[AuditRecord]:
        name = project_name(project) if project else None
        return await AuditLog(await self._database()).records(name)

    async def demand_entries(self, tier: str | None = None) -> list[DemandEntry]:
        return await DemandLog(await self._database()).entries(tier)

    # ------------------------------------------------------------------ promote / demote

    async def promote(self, project: str, by: str, note: str | None = None, *,
                      allow_similar: bool = False) -> Outcome:
        """Add ``[review]``: the project enters ``reviewed``. Refuses look-alikes of known projects."""
        name = project_name(project)
        by = _text(by, "--by", required=True)
        note = _text(note, "--note", required=False)
        if allow_similar and not note:
            raise ReviewError("--allow-similar needs --note saying why this is not a typo-squat")
        async with self._locked():
            text, policy = self._read(name)
            if policy is not None and policy.review is not None:
                r = policy.review
                raise ReviewError(f"{name} is already reviewed by {r.signed.by} on {when(r.signed)} ({r.where})")
            reviewed = self._reviewed_names(besides=name)
            popular = popular_names()
            similar = lookalikes(name, [*reviewed, *popular])
            described = [f"'{s.name}' ({s.reason}; " + (f"reviewed here, {reviewed[s.name]})" if s.name in reviewed
                                                          else "a popular project)") for s in similar]
            if similar and not allow_similar:
                raise ReviewError(
                    f"refusing to promote '{name}': it looks like {', '.join(described)}.\n"
                    f"A look-alike name is how typo-squats get installed. If '{name}' really is the project "
                    f"you mean, run again with --allow-similar --note \"why\".")
            now = self._now()
            new = edit.set_review(text, by, now, note)
            path = self._write(name, new)
            audit_note = note or ""
            if similar:
                audit_note += f" [allowed although similar to {', '.join(s.name for s in similar)}]"
            ident = await self._audit(now, by, "promote", name, edit.snippet(text, "review"),
                                      edit.snippet(new, "review"), audit_note.strip())
        lines = [f"promoted {name} into 'reviewed' ({path})"]
        if similar:
            lines.append(f"note: allowed although it looks like {', '.join(described)}")
        if policy is not None and policy.project_block is not None:
            lines.append(f"note: {name} is blocked ({policy.project_block.reason}): "
                         f"it stays out of every tier until `mirror unblock {name}`")
        return Outcome(tuple(lines), path, (ident,))

    async def demote(self, project: str, by: str, reason: str) -> Outcome:
        """Remove ``[review]``: the project leaves ``reviewed`` (and ``vetted``)."""
        name = project_name(project)
        by = _text(by, "--by", required=True)
        reason = _text(reason, "--reason", required=True)
        async with self._locked():
            text, policy = self._read(name)
            if policy is None or policy.review is None:
                raise ReviewError(f"{name} is not reviewed (no [review] in {self.project_path(name)})")
            now = self._now()
            new = edit.remove_review(text)
            path = self._write(name, new)
            ident = await self._audit(now, by, "demote", name, edit.snippet(text, "review"), None, reason)
        lines = [f"demoted {name}: it is no longer in 'reviewed' or 'vetted' ({path})"]
        if policy.vettings:
            lines.append(f"note: {len(policy.vettings)} vetted release(s) stay in the file; they take effect "
                         f"again if {name} is promoted again")
        return Outcome(tuple(lines), path, (ident,))

    # ------------------------------------------------------------------ block / unblock

    async def block(self, target: str, by: str, reason: str) -> Outcome:
        """Add a ``[[block]]`` of the project, or of one release (``PROJECT==VERSION``)."""
        name, version = parse_target(target)
        by = _text(by, "--by", required=True)
        reason = _text(reason, "--reason", required=True)
        spec = f"=={version}" if version else None
        shown = f"{name}=={version}" if version else name
        async with self._locked():
            text, policy = self._read(name)
            for b in policy.blocks if policy else ():
                if (b.versions is None and spec is None) or (
                        b.versions is not None and spec is not None and str(b.versions) == spec):
                    raise ReviewError(f"{shown} is already blocked by {b.signed.by} on {when(b.signed)}: "
                                      f"{b.reason} ({b.where})")
            now = self._now()
            new = edit.add_block(text, spec, reason, by, now)
            path = self._write(name, new)
            ident = await self._audit(now, by, "block", shown, None, edit.snippet(new, "block", spec), reason)
        what = f"release {version} of {name}" if version else f"{name} (every release)"
        return Outcome((f"blocked {what} in every tier ({path})",), path, (ident,))

    async def unblock(self, target: str, by: str, reason: str) -> Outcome:
        """Remove the blocks of the project (``PROJECT``) or of one release (``PROJECT==VERSION``)."""
        name, version = parse_target(target)
        by = _text(by, "--by", required=True)
        reason = _text(reason, "--reason", required=True)
        spec = f"=={version}" if version else None
        shown = f"{name}=={version}" if version else name
        async with self._locked():
            text, policy = self._read(name)
            new, count = edit.remove_blocks(text, spec)
            if count == 0:
                existing = [f"{b.versions or 'whole project'} ({b.where})" for b in (policy.blocks if policy else ())]
                raise ReviewError(f"no block of {shown} to remove; blocks of {name}: "
                                  + ("; ".join(existing) if existing else "none"))
            now = self._now()
            path = self._write(name, new)
            ident = await self._audit(now, by, "unblock", shown, edit.snippet(text, "block", spec), None, reason)
        return Outcome((f"unblocked {shown} ({count} block(s) removed from {path})",), path, (ident,))

    # ------------------------------------------------------------------ vet / unvet

    async def unvet(self, project: str, version: str, by: str, reason: str) -> Outcome:
        """Remove ``[vetted."VERSION"]``: the release leaves ``vetted``."""
        name = project_name(project)
        version = release_version(version)
        by = _text(by, "--by", required=True)
        reason = _text(reason, "--reason", required=True)
        async with self._locked():
            text, policy = self._read(name)
            if policy is None or canonical_version(version) not in policy.vettings:
                vetted = sorted(policy.vettings, key=Version) if policy else []
                raise ReviewError(f"{name} {version} is not vetted; vetted releases of {name}: "
                                  + (", ".join(vetted) if vetted else "none"))
            version = edit.vetted_key(text, version) or version  # as the file (and the vet record) spell it
            now = self._now()
            new = edit.remove_vetting(text, version)
            path = self._write(name, new)
            ident = await self._audit(now, by, "unvet", f"{name}=={version}", edit.snippet(text, "vetted", version),
                                      None, reason)
        return Outcome((f"unvetted {name} {version}: it is no longer in 'vetted' ({path})",), path, (ident,))

    def _require_reviewed(self, name: str, policy: ProjectPolicy | None) -> None:
        if policy is None or policy.review is None:
            raise ReviewError(f"{name} is not reviewed, so none of its releases can be vetted; promote it "
                              f"first: mirror promote {name} --by NAME --note TEXT")

    async def vet(self, project: str, version: str, by: str, note: str | None = None, *,
                  override_uploaders: bool = False, trust_publisher: str | None = None) -> Outcome:
        """Pin the sha256 of every file of a release as upstream advertises it; verify its provenance
        against the pinned publishers (``trust_publisher``: pin this identity too, after review); check
        the uploaders."""
        name = project_name(project)
        version = release_version(version)
        by = _text(by, "--by", required=True)
        note = _text(note, "--note", required=False)
        if override_uploaders and not note:
            raise ReviewError("--override-uploaders needs --note saying why the new uploaders are trusted")
        trusted: TrustedPublisher | None = None
        if trust_publisher is not None:
            try:
                trusted = parse_identity(trust_publisher)
            except PublisherSyntaxError as exc:
                raise ReviewError(f"--trust-publisher: {exc}") from None
        before = self._read(name)[1]
        self._require_reviewed(name, before)  # fail fast, before any network
        detail = await self._project_detail(name)
        files = [f for f in detail.files if canonical_version(f.version) == canonical_version(version)]
        if not files:
            available = detail.computed_versions()
            raise ReviewError(f"upstream lists no files of {name} {version}; available versions: "
                              + (", ".join(available[-30:]) if available else "none"))
        unpinnable = [f.filename for f in files if not f.sha256]
        if unpinnable:
            raise ReviewError(f"upstream advertises no sha256 for {', '.join(unpinnable)}: cannot pin {name} {version}")
        pins = {f.filename: f.sha256 for f in files if f.sha256}
        yanked = {f.filename for f in files if f.is_yanked}
        assert before is not None
        pinned = _pinned(before)
        checked = pinned + ((trusted,) if trusted is not None and trusted not in pinned else ())
        documents = await self._provenance_documents(files)
        findings = await asyncio.to_thread(examine_provenance, files, documents, checked)
        evidence = await self.evidence(name, files)
        rules = self._rules()
        async with self._locked():
            text, policy = self._read(name)
            self._require_reviewed(name, policy)
            assert policy is not None
            existing = policy.vettings.get(canonical_version(version) or version)
            if existing is not None:
                raise ReviewError(f"{name} {version} is already vetted by {existing.signed.by} on "
                                  f"{when(existing.signed)} ({existing.where}); to vet it again, "
                                  f"`mirror unvet {name} {version}` first")
            if _pinned(policy) != pinned:
                raise ReviewError(f"the trusted publishers pinned for {name} changed while vetting; run the "
                                  "command again")
            prov_lines, verified, pin = self._judge_provenance(name, version, policy, findings, trusted)
            lines, recorded = self._judge_uploaders(name, version, policy, evidence, rules, override_uploaders)
            now = self._now()
            new = edit.set_vetting(text, version, pins, by, now, note, verified)
            if pin is not None:
                new = edit.add_publisher(new, publisher_fields(pin), by, now,
                                         note or f"trusted publisher confirmed when vetting {name} {version}")
            if recorded is not None:
                action, maintainers, publishers = recorded
                new = edit.set_uploaders(new, maintainers, publishers, by, now,
                                         note if action == "override-uploaders" else
                                         (note or f"first vetting ({name} {version}): trust on first use"))
            path = self._write(name, new)
            ids = [await self._audit(now, by, "vet", f"{name}=={version}", None,
                                     edit.snippet(new, "vetted", version), note)]
            if pin is not None:
                ids.append(await self._audit(now, by, "pin-publisher", name, edit.snippet(text, "provenance"),
                                             edit.snippet(new, "provenance"), note or pin.identity))
            if recorded is not None:
                ids.append(await self._audit(now, by, recorded[0], name, edit.snippet(text, "uploaders"),
                                             edit.snippet(new, "uploaders"), note))
        width = max(len(f) for f in pins)
        head = [f"vetted {name} {version}: {len(pins)} file(s) pinned in {path}"]
        head += [f"  {filename:{width}s}  sha256 {digest}" + ("  (yanked upstream)" if filename in yanked else "")
                 for filename, digest in sorted(pins.items())]
        return Outcome(tuple(head + [f"provenance: {line}" for line in prov_lines]
                             + [f"uploaders: {line}" for line in [*evidence.notes, *lines]]), path, tuple(ids))

    def _judge_provenance(self, name: str, version: str, policy: ProjectPolicy, found: ProvenanceFindings,
                          trusted: TrustedPublisher | None
                          ) -> tuple[list[str], dict[str, str], TrustedPublisher | None]:
        """Decide on the release's provenance: (lines to show, filename → verified publisher to record,
        publisher to pin or None). Raises ReviewError, in plain words, when it must not be vetted."""
        rule = policy.provenance
        pinned = _pinned(policy)
        require = rule is not None and rule.require
        where = str(rule.where) if rule is not None else str(self.project_path(name))
        pinned_text = " or ".join(p.identity for p in pinned) or "nothing"
        new_trust = trusted is not None and trusted not in pinned
        if new_trust and found.failures and all(isinstance(e, IdentityMismatch) for e in found.failures.values()):
            assert trusted is not None
            claims = sorted({c for e in found.failures.values() for c in getattr(e, "claimed", ())})
            raise ReviewError(f"--trust-publisher {trusted.identity}: no file of {name} {version} has provenance "
                              f"signed by it (its provenance claims {', '.join(claims) or 'no recognisable publisher'}"
                              f"); nothing was pinned or vetted")
        if found.failures:
            problems, claims = [], []
            for filename, err in sorted(found.failures.items()):
                if isinstance(err, IdentityMismatch):
                    said = ", ".join(err.claimed) or "no recognisable publisher"
                    problems.append(f"  {filename}: pinned {pinned_text} ({where}); this release's provenance claims "
                                    f"{said}, and it is not signed by a pinned publisher")
                    claims += [c for c in err.claimed if c not in claims]
                else:
                    problems.append(f"  {filename}: {err.reason}")
            if claims:
                advice = ("A new publisher can mean a hijacked project, or just a moved repository or renamed "
                          "workflow. Check with the project; if the change is legitimate, re-pin after review "
                          f"with:\n  {repin_command(name, version, claims[0])}")
            else:
                advice = ("This provenance does not prove who published these bytes: do not vet this release; "
                          "if it persists, report it to the project and the index.")
            raise ReviewError("\n".join([f"refusing to vet {name} {version}: its provenance does not verify:",
                                          *problems, advice]))
        lines: list[str] = []
        pin: TrustedPublisher | None = None
        if new_trust:
            assert trusted is not None
            if trusted.identity not in found.verified.values():
                seen = sorted(set(found.verified.values()))
                raise ReviewError(f"--trust-publisher {trusted.identity}: no file of {name} {version} has provenance "
                                  f"signed by it (signed by: {', '.join(seen) or 'nobody'}); nothing was pinned")
            pin = trusted
            lines.append(f"pinned {trusted.identity} as a trusted publisher of {name} (confirmed with "
                         "--trust-publisher)")
        if not pinned and pin is None and found.proposed:
            proposed = sorted(set(found.proposed.values()))
            command = f"mirror vet {name} {version} --trust-publisher '{proposed[0]}' --by NAME --note TEXT"
            if require:
                raise ReviewError(
                    f"refusing to vet {name} {version}: {name} requires provenance ({where}), but no trusted "
                    f"publisher is pinned. Its files are signed by {', '.join(proposed)} (verified offline against "
                    "the provenance's own claim). If that is the project's real publisher, pin it (trust on first "
                    f"use) with:\n  {command}")
            lines.append(f"signed by {', '.join(proposed)} (verified offline against the provenance's own claim); "
                         "not pinned, so nothing is recorded. To pin it (trust on first use) after review, add "
                         f"--trust-publisher '{proposed[0]}' to this project's next `mirror vet`")
        if found.missing:
            missing = ", ".join(sorted(found.missing))
            if require:
                raise ReviewError(
                    f"refusing to vet {name} {version}: {name} requires provenance ({where}), but upstream serves "
                    f"none for {missing}. The release stays in 'reviewed'; it can be vetted once upstream serves "
                    f"provenance signed by {pinned_text}.")
            lines.append(f"no provenance for {missing}" + (" (not required)" if rule is not None else ""))
        for filename, identity in sorted(found.verified.items()):
            lines.append(f"{filename}: verified offline, published by {identity}")
        return lines, dict(found.verified), pin

    async def _provenance_documents(self, files: Iterable[DistFile]) -> dict[str, bytes | None]:
        """filename → the provenance document upstream serves for it now (None: none advertised, or 404)."""
        client = await self._upstream_client()
        documents: dict[str, bytes | None] = {}
        for f in files:
            if not f.provenance:
                documents[f.filename] = None
                continue
            try:
                page = await client.fetch_provenance(f.provenance)
            except UpstreamError as exc:
                raise ReviewError(f"cannot read the provenance of {f.filename} from upstream ({exc}); "
                                  "not vetting without it") from None
            documents[f.filename] = getattr(page, "body", None)
        return documents

    async def current_provenance(self, policy: ProjectPolicy, detail: ProjectDetail) -> dict[str, ProvenanceStatus]:
        """Verify now, offline, the provenance upstream serves for every vetted file of ``policy`` that is
        still listed with its pinned sha256: sha256 → status (as the server's background check does)."""
        pins = _pinned(policy)
        wanted = [f for v in policy.vettings.values() for filename, sha in v.files.items()
                  if (f := detail.file_named(filename)) is not None and f.sha256 == sha]
        if not pins or not wanted:
            return {}
        try:
            documents = await self._provenance_documents(wanted)
        except ReviewError:
            return {}
        now = self._now()
        identities = tuple(p.identity for p in pins)

        def check() -> dict[str, ProvenanceStatus]:
            out: dict[str, ProvenanceStatus] = {}
            for f in wanted:
                document = documents.get(f.filename)
                assert f.sha256 is not None
                if document is None:
                    why = ("upstream no longer advertises provenance for this file" if not f.provenance
                           else "upstream's provenance for this file is gone (404)")
                    out[f.sha256] = ProvenanceStatus(None, why, (), now, identities)
                    continue
                claimed = tuple(claimed_publishers(document))
                try:
                    out[f.sha256] = ProvenanceStatus(verify(document, f.filename, f.sha256, pins), "", claimed, now,
                                                     identities)
                except ProvenanceError as exc:
                    out[f.sha256] = ProvenanceStatus(None, exc.reason, claimed, now, identities)
            return out

        return await asyncio.to_thread(check)

    def _judge_uploaders(self, name: str, version: str, policy: ProjectPolicy, evidence: Evidence,
                         rules: TierRules, override: bool
                         ) -> tuple[list[str], tuple[str, tuple[str, ...], tuple[str, ...]] | None]:
        """Compare upstream's evidence with ``[uploaders]``: (lines to show, the uploaders to record or None).

        Raises ReviewError when they differ, the tier rules enforce them and no override was given.
        """
        seen = (f"maintainers {_names(evidence.maintainers) if evidence.maintainers is not None else 'unknown'}; "
                f"publishers {_names(evidence.publishers) if evidence.publishers is not None else 'unknown'}")
        recorded = policy.uploaders
        if recorded is None:
            if evidence.maintainers is None:
                return [f"upstream shows {seen}; nothing recorded (no maintainer evidence)"], None
            return ([f"recorded (trust on first use): {seen}"],
                    ("record-uploaders", evidence.maintainers, evidence.publishers or ()))
        changes = []
        for what, old, new in (("maintainers", recorded.maintainers, evidence.maintainers),
                               ("publishers", recorded.publishers, evidence.publishers)):
            if new is None:
                continue
            added, gone = set(new) - set(old), set(old) - set(new)
            if added or gone:
                changes.append(f"{what}: recorded {_names(old)}; upstream now {_names(new)}"
                               f" (new: {_names(added)}; gone: {_names(gone)})")
        if not changes:
            return [f"upstream shows {seen}: matches [uploaders] recorded by {recorded.signed.by}"], None
        if not rules.require_uploaders:
            return ([f"warning: upstream's uploaders differ from those recorded ({'; '.join(changes)}); not "
                     f"enforced because require_uploaders = false ({rules.uploaders_where})"], None)
        if not override:
            raise ReviewError("\n".join([
                f"refusing to vet {name} {version}: upstream's uploaders differ from the ones recorded in "
                f"{recorded.where} by {recorded.signed.by} on {when(recorded.signed)}:",
                *(f"  {c}" for c in changes),
                "A new uploader can mean a hijacked account or a transferred project. Check who they are; if "
                "the change is legitimate, run again with --override-uploaders --note \"why\"."]))
        maintainers = evidence.maintainers if evidence.maintainers is not None else recorded.maintainers
        publishers = evidence.publishers if evidence.publishers is not None else recorded.publishers
        return ([f"overridden: {'; '.join(changes)}"], ("override-uploaders", maintainers, publishers))

    # ------------------------------------------------------------------ upstream

    async def _http(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(auto_decompress=True)
        return self._session

    def _timeout(self) -> aiohttp.ClientTimeout:
        import aiohttp

        up = self.config.upstream
        return aiohttp.ClientTimeout(total=up.page_timeout, connect=up.connect_timeout, sock_read=up.read_timeout)

    async def _upstream_client(self) -> Any:
        from .upstream import Timeouts, UpstreamClient

        up = self.config.upstream
        return UpstreamClient(await self._http(), self.config.upstream_url,
                              Timeouts(up.connect_timeout, up.read_timeout, up.page_timeout), up.max_page_bytes)

    async def fetch_detail(self, name: str) -> ProjectDetail:
        """The project's page from the configured upstream (JSON preferred); raises the upstream errors."""
        from .simple.parse import parse_project_page
        from .upstream import FetchedPage

        client = await self._upstream_client()
        page = await client.fetch_project(name)
        assert isinstance(page, FetchedPage)  # no ETag sent, so never NotModified
        return parse_project_page(page.body, page.content_type, project=name, page_url=page.url,
                                  header_serial=page.serial)

    async def _project_detail(self, name: str) -> ProjectDetail:
        try:
            return await self.fetch_detail(name)
        except ProjectNotFound:
            raise ReviewError(f"upstream ({self.config.upstream_url}) has no project {name}") from None
        except (UpstreamError, ParseError) as exc:
            raise ReviewError(f"cannot get {name}'s page from upstream: {exc}") from None

    async def _get_json(self, url: str) -> Any:
        """GET a JSON document; None on 404, UpstreamError on anything else that is not JSON."""
        import aiohttp

        try:
            async with (await self._http()).get(url, timeout=self._timeout(),
                                                headers={"Accept": "application/json"}) as resp:
                if resp.status == 404:
                    return None
                if resp.status != 200:
                    raise UpstreamError(url, f"HTTP {resp.status}", status=resp.status)
                body = await resp.content.read(_JSON_LIMIT + 1)
                if len(body) > _JSON_LIMIT:
                    raise UpstreamError(url, "answer too large")
        except asyncio.TimeoutError:
            raise UpstreamError(url, "timed out") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(url, f"{type(exc).__name__}: {exc}") from None
        try:
            return json.loads(body)
        except ValueError:
            raise UpstreamError(url, "answer is not JSON") from None

    async def maintainers(self, name: str) -> tuple[tuple[str, ...] | None, str | None]:
        """Upstream's ``ownership.roles[].user`` of the project: (users, None) or (None, why unknown)."""
        url = json_api_url(self.config.upstream_url, name)
        if url is None:
            return None, "upstream has no JSON API next to its simple index: no maintainer evidence"
        try:
            data = await self._get_json(url)
        except UpstreamError as exc:
            return None, f"cannot read upstream's JSON API ({exc}): no maintainer evidence"
        if data is None:
            return None, f"upstream's JSON API has no {name} ({url} answered 404): no maintainer evidence"
        roles = data.get("ownership", {}).get("roles") if isinstance(data, dict) and isinstance(
            data.get("ownership"), dict) else None
        if not isinstance(roles, list):
            return None, "upstream's JSON API gives no ownership roles: no maintainer evidence"
        users = {r["user"] for r in roles if isinstance(r, dict) and isinstance(r.get("user"), str)}
        return tuple(sorted(users)), None

    async def publishers(self, files: Iterable[DistFile]) -> tuple[tuple[str, ...] | None, str | None]:
        """Trusted publishers named by the PEP 740 provenance of ``files``: (identities, None) or (None, why)."""
        urls = sorted({f.provenance for f in files if f.provenance})
        if not urls:
            return (), None
        found: set[str] = set()
        for url in urls:
            try:
                data = await self._get_json(url)
            except UpstreamError as exc:
                return None, f"cannot read provenance ({exc}): no publisher evidence"
            bundles = data.get("attestation_bundles") if isinstance(data, dict) else None
            if not isinstance(bundles, list):
                return None, f"provenance at {url} has no attestation_bundles: no publisher evidence"
            for bundle in bundles:
                identity = publisher_identity(bundle.get("publisher") if isinstance(bundle, dict) else None)
                if identity:
                    found.add(identity)
        return tuple(sorted(found)), None

    async def evidence(self, name: str, files: Iterable[DistFile]) -> Evidence:
        files = list(files)
        (maintainers, why_m), (publishers, why_p) = await asyncio.gather(self.maintainers(name),
                                                                         self.publishers(files))
        notes = [n for n in (why_m, why_p) if n]
        if publishers == () and not any(f.provenance for f in files):
            notes.append("no PEP 740 provenance on these files: no trusted publisher seen")
        return Evidence(maintainers, publishers, tuple(notes))

    # ------------------------------------------------------------------ explain / check

    async def explain(self, project: str, version: str | None = None) -> ExplainResult:
        """Per tier: in or out, which rule decides, and how to change it; from the policies alone when
        upstream cannot be reached."""
        name = project_name(project)
        policies = load_policies(self.directory)
        notes: list[str] = []
        detail = None
        reachable = True
        try:
            detail = await self.fetch_detail(name)
        except ProjectNotFound:
            notes.append(f"upstream has no project {name}")
        except (UpstreamError, ParseError) as exc:
            reachable = False
            notes.append(f"upstream unreachable ({exc}): explained from the policies alone")
        policy = policies.of(name)
        if policy is not None and policy.uploaders is not None:
            u = policy.uploaders
            notes.append(f"uploaders recorded by {u.signed.by} on {when(u.signed)}: maintainers "
                         f"{_names(u.maintainers)}; publishers {_names(u.publishers)} ({u.where})")
            if reachable:
                current, why = await self.maintainers(name)
                if current is None:
                    notes.append(f"uploaders: {why}")
                elif set(current) != set(u.maintainers):
                    notes.append(f"uploaders CHANGED upstream: maintainers now {_names(current)}")
                else:
                    notes.append("uploaders: upstream's maintainers match the recorded ones")
        statuses: dict[str, ProvenanceStatus] = {}
        if detail is not None and policy is not None and policy.provenance is not None:
            statuses = await self.current_provenance(policy, detail)
        result = explain(name, version, detail, policies, self._clock().astimezone(timezone.utc), statuses)
        return ExplainResult(result, reachable, tuple(notes))

    async def check(self, *, offline: bool = False) -> list[Problem]:
        """Every problem of the policy files, and vetted releases the provenance rule withholds; unless
        ``offline``, also uploaders that changed upstream and provenance that no longer verifies."""
        problems: list[Problem] = []
        tiers = self.directory / TIERS_FILE
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
                    detail = await self.fetch_detail(policy.name)
                except (ProjectNotFound, UpstreamError, ParseError) as exc:
                    rule = policy.provenance
                    assert rule is not None
                    problems.append(Problem(rule.where.file, rule.where.line,
                                            f"[provenance]: cannot re-verify {policy.name}'s provenance: {exc}"))
                else:
                    statuses = await self.current_provenance(policy, detail)
            for vetting in sorted(policy.vettings.values(), key=lambda v: Version(v.version)):
                for filename, sha in sorted(vetting.files.items()):
                    listed = detail.file_named(filename) if detail is not None else None
                    if detail is not None and (listed is None or listed.sha256 != sha):
                        continue  # gone or other bytes upstream: the hash pin already keeps it out
                    f = listed or DistFile(filename, "", {"sha256": sha})
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
                current, why = await self.maintainers(policy.name)
            if current is None:
                return Problem(u.where.file, u.where.line, f"[uploaders]: cannot compare with upstream: {why}")
            added, gone = set(current) - set(u.maintainers), set(u.maintainers) - set(current)
            if not added and not gone:
                return None
            return Problem(u.where.file, u.where.line,
                           f"[uploaders]: upstream maintainers of {policy.name} changed since {u.signed.by} recorded "
                           f"them on {when(u.signed)}: recorded {_names(u.maintainers)}; upstream now "
                           f"{_names(current)} (new: {_names(added)}; gone: {_names(gone)})")

        found = await asyncio.gather(*(one(p) for p in policies))
        return [p for p in found if p is not None]


def _problem(exc: PolicyError) -> Problem:
    return Problem(exc.file, exc.line, f"{exc.key}: {exc.problem}" if exc.key else exc.problem)


def _pinned(policy: ProjectPolicy | None) -> tuple[TrustedPublisher, ...]:
    rule = policy.provenance if policy is not None else None
    return rule.publishers if rule is not None else ()


def publisher_fields(publisher: TrustedPublisher) -> dict[str, str]:
    """A pinned publisher as the keys of its ``[[provenance.publisher]]`` table, ``kind`` first."""
    from dataclasses import asdict

    return {"kind": publisher.kind, **asdict(publisher)}
