"""Offline verification of PEP 740 provenance against the trusted publishers a policy pins.

Blocking (sigstore does CPU work): call it from a thread (``asyncio.to_thread``), at vetting time or in the
background check, never on a request. Nothing here reaches the network or reads a trust root from a cache:
every signature is checked against the trust root pinned in the mirror package
(:mod:`mirror.adapters.trust_root`).

For every attestation of every bundle of a provenance object, :func:`verify` checks

1. that it attests exactly this distribution: one subject, whose name is exactly the file's name and
   whose sha256 is the file's sha256 (:class:`DigestMismatch` otherwise);
2. the Sigstore bundle: certificate chain to the Fulcio root, signed certificate timestamp, transparency
   log inclusion (proof or promise, against the pinned Rekor keys), and the DSSE signature
   (:class:`SignatureInvalid` otherwise);
3. that the signing certificate's identity is one of the pinned publishers (:class:`IdentityMismatch`
   otherwise, saying what was pinned and what the document claims, marked unverified).

Any other exception on the way (a bundle sigstore refuses to load, a bug) is a failed verification too
(:class:`VerificationFailed`): nothing but a complete, successful verification counts.

The publishers to check against always come from the policy, never from the document: the document's
own ``publisher`` fields are unsigned claims, only used to *describe* a mismatch (:func:`claimed_publishers`)
and to propose a first pin (:func:`propose`), which verifies the signature against the claim and which a
reviewer must confirm.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mirror.adapters import trust_root
from mirror.core.errors import MirrorError
from mirror.core.policy.model import (
    CircleCIPublisher,
    GitHubPublisher,
    GitLabPublisher,
    GooglePublisher,
    PublisherSyntaxError,
    TrustedPublisher,
    claimed_identity,
    parse_identity,
)

if TYPE_CHECKING:  # pypi_attestations pulls in sigstore, pydantic and cryptography: imported when verifying
    import pypi_attestations as pa

log = logging.getLogger("mirror.adapters.provenance")


class _Expected(logging.Filter):
    """Drops the warning sigstore gives for what the mirror does on purpose: the no-op policy (used only to
    tell a bad signature from a wrong signer, after the pinned policy already failed)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "no-op" not in record.getMessage()


logging.getLogger("sigstore.verify.policy").addFilter(_Expected())

#: Largest provenance document accepted or fetched (Warehouse's are a few KiB per attestation).
MAX_PROVENANCE_BYTES = 4 * 1024 * 1024


# --------------------------------------------------------------------------- errors


class ProvenanceError(MirrorError):
    """The provenance does not prove that the pinned publisher published this file.

    ``reason`` is one plain sentence, meant for reviewers and for ``explain``.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ProvenanceMissing(ProvenanceError):
    """There is no provenance for the file (none advertised, 404, or a document without attestations)."""


class ProvenanceMalformed(ProvenanceError):
    """The document is not a PEP 740 provenance object."""


class DigestMismatch(ProvenanceError):
    """The attestation is about other bytes (or another file name) than the file being checked."""


def unverified(claimed: Sequence[str]) -> str:
    """Upstream's unsigned publisher claims as data, marked as such: never a basis for a command."""
    return (f"claims (unverified) {', '.join(claimed)}" if claimed
            else "names no recognisable publisher (unverified claim)")


class IdentityMismatch(ProvenanceError):
    """A valid signature, but by someone other than the pinned publisher(s)."""

    def __init__(self, pinned: Sequence[str], claimed: Sequence[str], detail: str = "") -> None:
        self.pinned, self.claimed, self.detail = tuple(pinned), tuple(claimed), detail
        text = f"not signed by the pinned {' or '.join(self.pinned)}; the provenance {unverified(self.claimed)}"
        if set(self.claimed) & set(self.pinned):
            text += ", but its signing certificate belongs to someone else"
        super().__init__(text + (f" ({detail})" if detail else ""))


class SignatureInvalid(ProvenanceError):
    """The Sigstore bundle does not verify: certificate chain, timestamp, transparency log or signature."""


class VerificationFailed(ProvenanceError):
    """Verification stopped with an error (a bundle sigstore refuses, an unusable trust root, a bug):
    treated exactly like a signature that does not verify."""


class NoPinnedPublisher(ProvenanceError):
    """Verification was asked for without any pinned publisher (a policy matter, not a document one)."""

    def __init__(self, claimed: Sequence[str]) -> None:
        self.claimed = tuple(claimed)
        super().__init__(f"no trusted publisher is pinned; the provenance {unverified(self.claimed)}")


# --------------------------------------------------------------------------- parsing


def _loads(provenance: str | bytes | None) -> dict[str, Any]:
    if provenance is None:
        raise ProvenanceMissing("upstream serves no provenance for this file")
    if len(provenance) > MAX_PROVENANCE_BYTES:
        raise ProvenanceMalformed(f"provenance document larger than {MAX_PROVENANCE_BYTES} bytes")
    try:
        data = json.loads(provenance)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProvenanceMalformed(f"provenance is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("attestation_bundles"), list):
        raise ProvenanceMalformed("provenance is not a PEP 740 provenance object (no attestation_bundles list)")
    return data


def check_document(provenance: str | bytes) -> None:
    """Cheap structural check of a provenance document (no cryptography); raises ProvenanceError."""
    data = _loads(provenance)
    if data.get("version") != 1:
        raise ProvenanceMalformed(f"unsupported provenance version {data.get('version')!r} (expected 1)")


def claimed_publishers(provenance: str | bytes | None) -> list[str]:
    """The publisher identities the document *claims*, unverified, in order and without duplicates.

    For plain-word explanations and trust-on-first-use proposals only: never a basis for admission.
    """
    try:
        data = _loads(provenance)
    except ProvenanceError:
        return []
    found: dict[str, None] = {}
    for bundle in data["attestation_bundles"]:
        identity = claimed_identity(bundle.get("publisher") if isinstance(bundle, dict) else None)
        if identity:
            found.setdefault(identity, None)
    return list(found)


def _to_attestations(publisher: TrustedPublisher) -> Any:
    import pypi_attestations as pa

    if isinstance(publisher, GitHubPublisher):
        return pa.GitHubPublisher(repository=publisher.repository, workflow=publisher.workflow)
    if isinstance(publisher, GitLabPublisher):
        return pa.GitLabPublisher(repository=publisher.repository, workflow_filepath=publisher.workflow)
    if isinstance(publisher, GooglePublisher):
        return pa.GooglePublisher(email=publisher.email)
    if isinstance(publisher, CircleCIPublisher):
        return pa.CircleCIPublisher(project_id=publisher.project_id,
                                    pipeline_definition_id=publisher.pipeline_definition_id)
    raise TypeError(f"not a trusted publisher: {publisher!r}")  # pragma: no cover


def _parse(provenance: str | bytes | None) -> pa.Provenance:
    import pydantic
    import pypi_attestations as pa

    data = _loads(provenance)
    try:
        parsed = pa.Provenance.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise ProvenanceMalformed(f"provenance is not a valid PEP 740 object: {where}: {first.get('msg')}") from None
    if not any(b.attestations for b in parsed.attestation_bundles):
        raise ProvenanceMissing("the provenance holds no attestation")
    return parsed


# --------------------------------------------------------------------------- verification


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _subject(statement: Any, filename: str, sha256: str) -> None:
    """The statement attests exactly ``filename`` (the same string, not merely an equivalent name) with
    ``sha256``; DigestMismatch otherwise."""
    subjects = statement.get("subject") if isinstance(statement, dict) else None
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise DigestMismatch("the attestation must name exactly one file")
    subject = subjects[0]
    name = subject.get("name")
    if not isinstance(name, str) or name != filename:
        shown = json.dumps(name)[:200] if name else "an unnamed file"
        raise DigestMismatch(f"the attestation is about {shown}, not {filename}: its subject name must be "
                             "exactly the file's name")
    digests = subject.get("digest")
    digest = digests.get("sha256") if isinstance(digests, dict) else None
    if digest != sha256:
        raise DigestMismatch(f"the attestation signs sha256 {str(digest)[:64]}, but {filename} has sha256 {sha256}: "
                             "these are not the bytes the publisher signed")


def _check_subject(att: pa.Attestation, filename: str, sha256: str) -> None:
    """Step 1 on the (not yet verified) statement, so that a digest mismatch is named as such."""
    try:
        statement = att.statement
    except Exception as exc:  # noqa: BLE001 - any undecodable statement is malformed
        raise ProvenanceMalformed(f"attestation statement unreadable: {exc}") from None
    _subject(statement, filename, sha256)


class _Rejected(Exception):
    """One attestation does not verify under one policy (a pin, or the no-op policy)."""


def _verify_attestation(bundle: Any, policy: Any, filename: str, sha256: str) -> None:
    """The Sigstore bundle of one attestation verified against the pinned trust root and ``policy``,
    then its signed statement checked like pypi-attestations does (but with the exact file name).

    Raises _Rejected when sigstore says the signature or identity does not verify, DigestMismatch or
    ProvenanceMalformed for a signed statement about something else; anything else propagates.
    """
    import pypi_attestations as pa
    import sigstore.errors

    try:
        payload_type, payload = trust_root.verifier().verify_dsse(bundle, policy)
    except sigstore.errors.VerificationError as exc:
        raise _Rejected(str(exc)) from None
    if payload_type != "application/vnd.in-toto+json":
        raise ProvenanceMalformed(f"the attestation is not an in-toto statement ({payload_type[:80]})")
    statement = json.loads(payload)
    _subject(statement, filename, sha256)
    kinds = {t.value for t in pa.AttestationType}
    if statement.get("predicateType") not in kinds:
        raise ProvenanceMalformed(f"unknown attestation type {str(statement.get('predicateType'))[:120]}")


@contextmanager
def _fail_closed() -> Iterator[None]:
    """Every exception that is not already a ProvenanceError becomes a VerificationFailed."""
    try:
        yield
    except ProvenanceError:
        raise
    except trust_root.TrustRootError as exc:
        raise VerificationFailed(f"verification impossible: the mirror's trust root is unusable ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - whatever failed, nothing was proven
        text = str(exc)[:300] or "no detail"
        raise VerificationFailed(f"verification failed with an error ({type(exc).__name__}: {text}); "
                                 "treated as not verified") from None


def _signers(provenance: str | bytes | None, filename: str, sha256: str,
             pinned: Iterable[TrustedPublisher]) -> tuple[str, ...]:
    import pypi_attestations as pa
    from sigstore.verify.policy import UnsafeNoOp

    pins = list(pinned)
    sha256 = sha256.lower()
    parsed = _parse(provenance)
    claimed = claimed_publishers(provenance)
    if not pins:
        raise NoPinnedPublisher(claimed)
    try:
        pa.Distribution(name=filename, digest=sha256)
    except Exception as exc:  # noqa: BLE001 - pydantic/ValueError: not a distribution file name
        raise DigestMismatch(f"{filename} is not a distribution file name: {str(exc)[:200]}") from None
    policies = [(pin, _to_attestations(pin)._as_policy()) for pin in pins]  # noqa: SLF001 - their Sigstore policy
    signers: dict[str, None] = {}
    for bundle in parsed.attestation_bundles:
        for att in bundle.attestations:
            _check_subject(att, filename, sha256)
            sigstore_bundle = att.to_bundle()
            failures: list[str] = []
            for pin, policy in policies:
                try:
                    _verify_attestation(sigstore_bundle, policy, filename, sha256)
                except _Rejected as exc:
                    failures.append(f"{pin.identity}: {exc}")
                    continue
                signers.setdefault(pin.identity, None)
                break
            else:
                # Which part failed: the signature itself, or only whose it is?
                try:
                    _verify_attestation(sigstore_bundle, UnsafeNoOp(), filename, sha256)
                except _Rejected as exc:
                    raise SignatureInvalid(f"the signature does not verify: {exc}") from None
                raise IdentityMismatch([p.identity for p in pins], claimed, "; ".join(failures))
    assert signers  # _parse guarantees at least one attestation
    return tuple(signers)


def verify_signers(provenance: str | bytes | None, filename: str, sha256: str,
                   pinned: Iterable[TrustedPublisher]) -> tuple[str, ...]:
    """Verify every attestation of ``provenance`` for the file ``filename`` with hex ``sha256`` against
    the ``pinned`` publishers, offline. Returns the identities of the pinned publishers that signed, in
    the order of the attestations (each once).

    Raises a :class:`ProvenanceError` subclass naming the first failure; never anything else.
    """
    with _fail_closed():
        return _signers(provenance, filename, sha256, pinned)


def verify(provenance: str | bytes | None, filename: str, sha256: str,
           pinned: Iterable[TrustedPublisher]) -> str:
    """:func:`verify_signers`, returning the first signer."""
    return verify_signers(provenance, filename, sha256, pinned)[0]


def verify_file(provenance: str | bytes | None, path: Path, pinned: Iterable[TrustedPublisher],
                filename: str | None = None) -> str:
    """:func:`verify` for a file on disk (its sha256 is computed here); ``filename`` defaults to its name."""
    return verify(provenance, filename or path.name, sha256_file(path), pinned)


def propose_signers(provenance: str | bytes | None, filename: str, sha256: str) -> tuple[str, ...]:
    """Trust on first use: the publishers the document claims *that verifiably signed it*: every
    attestation must verify against one of the (strictly validated) claims, as :func:`verify_signers`.

    The identities returned are verified, so they may be shown in a command for a reviewer to confirm;
    raises ProvenanceError like :func:`verify_signers` (no valid claim is :class:`ProvenanceMalformed`).
    """
    with _fail_closed():
        claimed = claimed_publishers(provenance)
        _parse(provenance)  # malformed / missing first
        if not claimed:
            raise ProvenanceMalformed("the provenance names no publisher the mirror can pin")
        try:
            pins = [parse_identity(c) for c in claimed]
        except PublisherSyntaxError as exc:  # pragma: no cover - claimed_identity only yields valid ones
            raise ProvenanceMalformed(str(exc)) from None
        return _signers(provenance, filename, sha256, pins)


def propose(provenance: str | bytes | None, filename: str, sha256: str) -> str:
    """:func:`propose_signers`, returning the first."""
    return propose_signers(provenance, filename, sha256)[0]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of verifying one file's provenance, returned instead of raised.

    ``signers``: the identities that verifiably signed (pinned ones, or, when nothing is pinned, the
    document's own claims that verified); empty when ``error`` says why it does not verify.
    ``signed_by``: on an :class:`IdentityMismatch`, the identities that verifiably signed instead (a
    real publisher change), empty when nobody verifiable did. ``claimed``: the document's unsigned claims.
    """

    signers: tuple[str, ...] = ()
    error: ProvenanceError | None = None
    claimed: tuple[str, ...] = ()
    signed_by: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.signers)


def examine(provenance: str | bytes | None, filename: str, sha256: str,
            pinned: Sequence[TrustedPublisher]) -> Verdict:
    """Verify against ``pinned`` (or, with no pin, propose from the document's own claims); never raises.

    Blocking (sigstore): run it in a thread.
    """
    claimed = tuple(claimed_publishers(provenance))
    try:
        if not pinned:
            return Verdict(propose_signers(provenance, filename, sha256), None, claimed)
        return Verdict(verify_signers(provenance, filename, sha256, pinned), None, claimed)
    except IdentityMismatch as exc:
        try:
            signed_by = propose_signers(provenance, filename, sha256)
        except ProvenanceError:
            signed_by = ()
        return Verdict((), exc, claimed, signed_by)
    except ProvenanceError as exc:
        return Verdict((), exc, claimed)
