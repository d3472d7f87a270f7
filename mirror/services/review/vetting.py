"""The decisions of ``vet``, apart from the file edits: offline verification of a release's provenance against
the pinned publishers (:mod:`mirror.adapters.provenance`), and comparison of upstream's uploaders with the recorded
``[uploaders]``; and the re-verification of vetted files' provenance that ``explain`` and ``check`` report.

Without a pinned publisher, ``vet`` proposes the one that signed (trust on first use) and pins it only when the
reviewer confirms with ``--trust-publisher``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mirror.adapters.provenance import (
    IdentityMismatch,
    ProvenanceError,
    ProvenanceMissing,
    examine,
    unverified,
)
from mirror.core.errors import ReviewError
from mirror.core.models import DistFile, ProjectDetail
from mirror.core.policy.commands import command
from mirror.core.policy.evaluate import repin_command
from mirror.core.policy.model import (
    ProjectPolicy,
    ProvenanceStatus,
    TierRules,
    TrustedPublisher,
    parse_identity,
)
from mirror.services.provenance import ProvenanceVerifier
from mirror.services.review.evidence import Evidence
from mirror.services.review.listing import summarized
from mirror.services.review.wording import listed, uploader_change, when

#: The uploaders ``vet`` records: (audit action, maintainers, publishers).
UploadersToRecord = tuple[str, tuple[str, ...], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class ProvenanceFindings:
    """What offline verification found for the files of one release.

    ``verified``: filename → pinned identity that signed it; ``proposed``: filename → identity that signed
    it, verified only against the document's own claim (no pin yet); ``signers``: filename → every identity
    that verifiably signed it (pinned or proposed); ``missing``: files without provenance; ``failures``:
    filename → why its provenance does not verify; ``signed_by``: filename → identities that verifiably
    signed a file whose signer is not pinned (a real publisher change, not a mere claim).
    """

    verified: dict[str, str] = field(default_factory=dict)
    proposed: dict[str, str] = field(default_factory=dict)
    signers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    failures: dict[str, ProvenanceError] = field(default_factory=dict)
    signed_by: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def publishers(self) -> tuple[str, ...]:
        """Every identity whose attestations verified, over all files: the only publishers ever recorded."""
        return tuple(sorted({identity for ids in self.signers.values() for identity in ids}))


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
        verdict = examine(document, f.filename, f.sha256, pins)
        if verdict.ok:
            found.signers[f.filename] = verdict.signers
            (found.verified if pins else found.proposed)[f.filename] = verdict.signers[0]
        elif isinstance(verdict.error, ProvenanceMissing):
            found.missing.append(f.filename)
        else:
            assert verdict.error is not None
            found.failures[f.filename] = verdict.error
            if verdict.signed_by:
                found.signed_by[f.filename] = verdict.signed_by
    return found


def pinned_publishers(policy: ProjectPolicy | None) -> tuple[TrustedPublisher, ...]:
    rule = policy.provenance if policy is not None else None
    return rule.publishers if rule is not None else ()


def publisher_fields(publisher: TrustedPublisher) -> dict[str, str]:
    """A pinned publisher as the keys of its ``[[provenance.publisher]]`` table, ``kind`` first."""
    return {"kind": publisher.kind, **asdict(publisher)}


def judge_provenance(name: str, version: str, policy: ProjectPolicy, found: ProvenanceFindings,
                     trusted: TrustedPublisher | None, file: Path
                     ) -> tuple[list[str], dict[str, str], TrustedPublisher | None]:
    """Decide on the release's provenance: (lines to show, filename → verified publisher to record,
    publisher to pin or None). Raises ReviewError, in plain words, when it must not be vetted.

    ``file`` is the project's policy file, named when it has no ``[provenance]``.
    """
    rule = policy.provenance
    pinned = pinned_publishers(policy)
    require = rule is not None and rule.require
    where = str(rule.where) if rule is not None else str(file)
    pinned_text = " or ".join(p.identity for p in pinned) or "nothing"
    new_trust = trusted is not None and trusted not in pinned
    signed_by = sorted({i for ids in found.signed_by.values() for i in ids})
    if new_trust and found.failures and all(isinstance(e, IdentityMismatch) for e in found.failures.values()):
        assert trusted is not None
        claims = sorted({c for e in found.failures.values() for c in getattr(e, "claimed", ())})
        raise ReviewError(f"--trust-publisher {trusted.identity}: no file of {name} {version} has provenance "
                          f"signed by it (signed by: {', '.join(signed_by) or 'no verifiable publisher'}; its "
                          f"provenance {unverified(claims)}); nothing was pinned or vetted")
    if found.failures:
        problems, unproven = [], False
        for filename, err in sorted(found.failures.items()):
            if isinstance(err, IdentityMismatch) and found.signed_by.get(filename):
                problems.append(f"  {filename}: pinned {pinned_text} ({where}); this release's provenance is signed "
                                f"by {', '.join(found.signed_by[filename])} (verified offline), not by a pinned "
                                "publisher")
            elif isinstance(err, IdentityMismatch):
                unproven = True
                problems.append(f"  {filename}: pinned {pinned_text} ({where}); this release's provenance is not "
                                "signed by a pinned publisher, nor by any publisher it names; it "
                                f"{unverified(err.claimed)}")
            else:
                unproven = True
                problems.append(f"  {filename}: {err.reason}")
        if signed_by and not unproven:
            # Only an identity whose signature verified may appear in a command, quoted.
            advice = ("A new publisher can mean a hijacked project, or just a moved repository or renamed "
                      "workflow. Check with the project; if the change is legitimate, re-pin after review "
                      f"with:\n  {repin_command(name, version, parse_identity(signed_by[0]))}")
        else:
            advice = ("This provenance does not prove who published these bytes: do not vet this release, and do "
                      "not pin a publisher on the strength of what the document claims; if it persists, report "
                      "it to the project and the index.")
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
        first = parse_identity(proposed[0])  # verified signer, validated again before it enters a command
        if require:
            raise ReviewError(
                f"refusing to vet {name} {version}: {name} requires provenance ({where}), but no trusted "
                f"publisher is pinned. Its files are signed by {', '.join(proposed)} (verified offline against "
                "the provenance's own claim). If that is the project's real publisher, pin it (trust on first "
                f"use) with:\n  {repin_command(name, version, first)}")
        lines.append(f"signed by {', '.join(proposed)} (verified offline against the provenance's own claim); "
                     "not pinned, so nothing is recorded. To pin it (trust on first use) after review, vet the "
                     f"project's next release with: {repin_command(name, 'VERSION', first)}")
    if found.missing:
        missing = summarized(sorted(found.missing), 3)
        if require:
            raise ReviewError(
                f"refusing to vet {name} {version}: {name} requires provenance ({where}), but upstream serves "
                f"none for {missing}. The release stays in 'reviewed'; it can be vetted once upstream serves "
                f"provenance signed by {pinned_text}.")
        lines.append(f"no provenance for {missing}" + (" (not required)" if rule is not None else ""))
    for filename, identity in sorted(found.verified.items()):
        lines.append(f"{filename}: verified offline, published by {identity}")
    return lines, dict(found.verified), pin


def judge_uploaders(name: str, version: str, policy: ProjectPolicy, evidence: Evidence, rules: TierRules,
                    override: bool) -> tuple[list[str], UploadersToRecord | None]:
    """Compare upstream's evidence with ``[uploaders]``: (lines to show, the uploaders to record or None).

    Raises ReviewError when they differ, the tier rules enforce them and no override was given.
    """
    seen = (f"maintainers {listed(evidence.maintainers) if evidence.maintainers is not None else 'unknown'}; "
            f"publishers {listed(evidence.publishers) if evidence.publishers is not None else 'unknown'}")
    recorded = policy.uploaders
    if recorded is None:
        if evidence.maintainers is None:
            return [f"upstream shows {seen}; nothing recorded (no maintainer evidence)"], None
        return ([f"recorded (trust on first use): {seen}"],
                ("record-uploaders", evidence.maintainers, evidence.publishers or ()))
    changes = []
    for what, old, new in (("maintainers", recorded.maintainers, evidence.maintainers),
                           ("publishers", recorded.publishers, evidence.publishers)):
        change = uploader_change(old, new) if new is not None else None
        if change is not None:
            changes.append(f"{what}: {change}")
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
            "the change is legitimate, vet it with: " + command("mirror", "vet", name, version, "--override-uploaders",
                                                                   "--by", "NAME", "--note", "TEXT")]))
    maintainers = evidence.maintainers if evidence.maintainers is not None else recorded.maintainers
    publishers = evidence.publishers if evidence.publishers is not None else recorded.publishers
    return ([f"overridden: {'; '.join(changes)}"], ("override-uploaders", maintainers, publishers))


async def current_provenance(verifier: ProvenanceVerifier, policy: ProjectPolicy, detail: ProjectDetail
                             ) -> dict[str, ProvenanceStatus]:
    """Verify now, offline, the provenance upstream serves for every vetted file of ``policy`` that is
    still listed with its pinned sha256: sha256 → status, exactly as the server's background check does
    (the same :class:`~mirror.services.provenance.ProvenanceVerifier`: its cache, age bound and errors)."""
    pins = pinned_publishers(policy)
    wanted = [(f, sha) for v in policy.vettings.values() for filename, sha in v.files.items()
              if (f := detail.file_named(filename)) is not None and f.sha256 == sha]
    if not pins:
        return {}
    return {sha: await verifier.status(f, sha, pins) for f, sha in wanted}
