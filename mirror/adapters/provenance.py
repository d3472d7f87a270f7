"""Offline verification of PEP 740 provenance against the trusted publishers a policy pins.

Blocking (sigstore does CPU work and reads its bundled trust root): call it from a thread
(``asyncio.to_thread``), at vetting time or in the background check, never on a request. Nothing here
reaches the network: sigstore is used with ``offline=True``, so the trust root bundled in the sigstore
package (or an already cached copy) is used and never refreshed.

For every attestation of every bundle of a provenance object, :func:`verify` checks

1. that it attests exactly this distribution: one subject, named like the file, whose sha256 is the
   file's sha256 (:class:`DigestMismatch` otherwise);
2. the Sigstore bundle: certificate chain to the Fulcio root, signed certificate timestamp, transparency
   log inclusion (proof or promise, against the bundled Rekor keys), and the DSSE signature
   (:class:`SignatureInvalid` otherwise);
3. that the signing certificate's identity is one of the pinned publishers (:class:`IdentityMismatch`
   otherwise, saying what was pinned and what the document claims).

The publishers to check against always come from the policy, never from the document: the document's
own ``publisher`` fields are only used to *describe* a mismatch (:func:`claimed_publishers`) and to
propose a first pin (:func:`propose`), which a reviewer must confirm.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import parse_sdist_filename, parse_wheel_filename

from mirror.core.errors import MirrorError
from mirror.core.policy.model import (
    CircleCIPublisher,
    GitHubPublisher,
    GitLabPublisher,
    GooglePublisher,
    PublisherSyntaxError,
    TrustedPublisher,
    claimed_identity,
)

if TYPE_CHECKING:  # pypi_attestations pulls in sigstore, pydantic and cryptography: imported when verifying
    import pypi_attestations as pa

log = logging.getLogger("mirror.adapters.provenance")


class _Expected(logging.Filter):
    """Drops two warnings sigstore gives for what the mirror does on purpose: offline mode (the trust root
    is never refreshed) and the no-op policy (used only to tell a bad signature from a wrong signer,
    after the pinned policy already failed)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "no-op" not in message and "offline mode" not in message


for _name in ("sigstore.verify.policy", "sigstore._internal.tuf"):
    logging.getLogger(_name).addFilter(_Expected())

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


class IdentityMismatch(ProvenanceError):
    """A valid signature, but by someone other than the pinned publisher(s)."""

    def __init__(self, pinned: Sequence[str], claimed: Sequence[str], detail: str = "") -> None:
        self.pinned, self.claimed, self.detail = tuple(pinned), tuple(claimed), detail
        said = ", ".join(self.claimed) if self.claimed else "no recognisable publisher"
        text = f"pinned {' or '.join(self.pinned)}, provenance claims {said}"
        if set(self.claimed) & set(self.pinned):
            text += ", but its signing certificate belongs to someone else"
        super().__init__(text + (f" ({detail})" if detail else ""))


class SignatureInvalid(ProvenanceError):
    """The Sigstore bundle does not verify: certificate chain, timestamp, transparency log or signature."""


class NoPinnedPublisher(ProvenanceError):
    """Verification was asked for without any pinned publisher (a policy matter, not a document one)."""

    def __init__(self, claimed: Sequence[str]) -> None:
        self.claimed = tuple(claimed)
        said = ", ".join(self.claimed) if self.claimed else "no recognisable publisher"
        super().__init__(f"no trusted publisher is pinned; the provenance claims {said}")


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


def _dist_name(filename: str) -> tuple[Any, ...]:
    """A distribution file name parsed as the attestation verifier compares them; ValueError if not one."""
    if filename.endswith(".whl"):
        return tuple(parse_wheel_filename(filename))
    if filename.endswith((".tar.gz", ".zip")):
        return tuple(parse_sdist_filename(filename))
    raise ValueError(f"unknown distribution format: {filename}")


def _check_subject(att: pa.Attestation, filename: str, sha256: str) -> None:
    """Step 1 on the (not yet verified) statement, so that a digest mismatch is named as such."""
    try:
        statement = att.statement
        subjects = statement.get("subject") or []
    except Exception as exc:  # noqa: BLE001 - any undecodable statement is malformed
        raise ProvenanceMalformed(f"attestation statement unreadable: {exc}") from None
    if len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise DigestMismatch("the attestation must name exactly one file")
    subject = subjects[0]
    name = str(subject.get("name") or "")
    try:
        same_name = _dist_name(name) == _dist_name(filename)
    except ValueError:
        same_name = False
    if not same_name:
        raise DigestMismatch(f"the attestation is about {name or 'an unnamed file'}, not {filename}")
    digest = (subject.get("digest") or {}).get("sha256") if isinstance(subject.get("digest"), dict) else None
    if digest != sha256:
        raise DigestMismatch(f"the attestation signs sha256 {digest}, but {filename} has sha256 {sha256}: "
                             "these are not the bytes the publisher signed")


def verify(provenance: str | bytes | None, filename: str, sha256: str,
           pinned: Iterable[TrustedPublisher]) -> str:
    """Verify every attestation of ``provenance`` for the file ``filename`` with hex ``sha256`` against
    the ``pinned`` publishers, offline. Returns the identity of the pinned publisher that signed.

    Raises a :class:`ProvenanceError` subclass naming the first failure.
    """
    import pypi_attestations as pa
    from sigstore.verify.policy import UnsafeNoOp

    pins = list(pinned)
    sha256 = sha256.lower()
    parsed = _parse(provenance)
    claimed = claimed_publishers(provenance)
    if not pins:
        raise NoPinnedPublisher(claimed)
    try:
        dist = pa.Distribution(name=filename, digest=sha256)
    except Exception as exc:  # noqa: BLE001 - pydantic/ValueError: not a distribution file name
        raise DigestMismatch(f"{filename} is not a distribution file name: {exc}") from None
    verified: str | None = None
    for bundle in parsed.attestation_bundles:
        for att in bundle.attestations:
            _check_subject(att, filename, sha256)
            failures: list[str] = []
            for pin in pins:
                try:
                    att.verify(_to_attestations(pin), dist, offline=True)
                except pa.AttestationError as exc:
                    failures.append(f"{pin.identity}: {exc}")
                    continue
                verified = verified or pin.identity
                break
            else:
                # Which part failed: the signature itself, or only whose it is?
                try:
                    att.verify(UnsafeNoOp(), dist, offline=True)
                except pa.AttestationError as exc:
                    raise SignatureInvalid(f"the signature does not verify: {exc}") from None
                raise IdentityMismatch([p.identity for p in pins], claimed, "; ".join(failures))
    assert verified is not None  # _parse guarantees at least one attestation
    return verified


def verify_file(provenance: str | bytes | None, path: Path, pinned: Iterable[TrustedPublisher],
                filename: str | None = None) -> str:
    """:func:`verify` for a file on disk (its sha256 is computed here); ``filename`` defaults to its name."""
    return verify(provenance, filename or path.name, sha256_file(path), pinned)


def propose(provenance: str | bytes | None, filename: str, sha256: str) -> str:
    """Trust on first use: the publisher the document claims, *if* the document verifies against it.

    Returns that identity for a reviewer to confirm; raises ProvenanceError like :func:`verify` (a
    claim that is not a recognisable publisher is :class:`ProvenanceMalformed`).
    """
    from mirror.core.policy.model import parse_identity

    claimed = claimed_publishers(provenance)
    _parse(provenance)  # malformed / missing first
    if not claimed:
        raise ProvenanceMalformed("the provenance names no publisher the mirror can pin")
    try:
        pins = [parse_identity(c) for c in claimed]
    except PublisherSyntaxError as exc:  # pragma: no cover - claimed_identity only yields valid ones
        raise ProvenanceMalformed(str(exc)) from None
    return verify(provenance, filename, sha256, pins)
