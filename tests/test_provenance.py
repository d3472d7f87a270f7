"""Offline PEP 740 verification (mirror.adapters.provenance) with a real distribution and its real provenance.

Every test runs with the network refused (only loopback is allowed) and with an empty HOME: the Sigstore
trust root comes from the mirror package (mirror/data/sigstore/), never from anywhere else.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mirror.adapters import provenance as prov
from mirror.core.policy.model import (
    GitHubPublisher,
    GitLabPublisher,
    GooglePublisher,
    parse_identity,
)

from .support.provenance import (
    EMAIL,
    FILENAME,
    IDENTITY,
    OTHER_EMAIL,
    SHA256,
    NetworkGuard,
    claiming,
    provenance_text,
    sdist_bytes,
    tampered_signature,
)

PINNED = GooglePublisher(EMAIL)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> NetworkGuard:
    home = tmp_path / "home"
    home.mkdir()
    for var in ("HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(var, str(home) if var == "HOME" else str(home / var.lower()))
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # an unroutable proxy, should anything try
    guard = NetworkGuard(monkeypatch)
    yield guard
    assert guard.attempts == [], f"verification tried to reach the network: {guard.attempts}"


def test_the_pinned_publisher_verifies() -> None:
    assert prov.verify(provenance_text(), FILENAME, SHA256, [PINNED]) == IDENTITY


def test_verify_file_hashes_the_file_on_disk(tmp_path: Path) -> None:
    path = tmp_path / FILENAME
    path.write_bytes(sdist_bytes())
    assert prov.verify_file(provenance_text(), path, [PINNED]) == IDENTITY


def test_one_of_several_pins_is_enough_and_is_the_one_returned() -> None:
    pins = [GitHubPublisher("someone/else", "release.yml"), GooglePublisher(OTHER_EMAIL), PINNED]
    assert prov.verify(provenance_text(), FILENAME, SHA256, pins) == IDENTITY


@pytest.mark.parametrize("pin", [
    GooglePublisher(OTHER_EMAIL),
    GitHubPublisher("googleapis/gcb-attestation-test", "release.yml"),
    GitLabPublisher("group/gcb-attestation-test", ".gitlab-ci.yml"),
], ids=["other-google-account", "github", "gitlab"])
def test_a_wrong_pinned_identity_is_refused(pin) -> None:
    with pytest.raises(prov.IdentityMismatch) as caught:
        prov.verify(provenance_text(), FILENAME, SHA256, [pin])
    err = caught.value
    assert err.pinned == (pin.identity,) and err.claimed == (IDENTITY,)
    assert str(err).startswith(f"not signed by the pinned {pin.identity}; the provenance claims (unverified) "
                               f"{IDENTITY}")


def test_a_forged_publisher_claim_does_not_help() -> None:
    """The document's ``publisher`` field is not signed: claiming the pinned identity proves nothing."""
    forged = claiming({"kind": "Google", "email": OTHER_EMAIL})
    with pytest.raises(prov.IdentityMismatch) as caught:
        prov.verify(forged, FILENAME, SHA256, [GooglePublisher(OTHER_EMAIL)])
    assert "signing certificate belongs to someone else" in str(caught.value)
    # ...and a claim of someone else does not stop the real signer from verifying.
    assert prov.verify(forged, FILENAME, SHA256, [PINNED]) == IDENTITY


def test_tampered_file_same_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / FILENAME
    path.write_bytes(sdist_bytes() + b"\0")
    with pytest.raises(prov.DigestMismatch) as caught:
        prov.verify_file(provenance_text(), path, [PINNED])
    assert SHA256 in str(caught.value) and "not the bytes the publisher signed" in str(caught.value)


def test_attestation_for_another_file_name_is_refused() -> None:
    with pytest.raises(prov.DigestMismatch, match="not gcb_attestation_test-0.0.1.tar.gz"):
        prov.verify(provenance_text(), "gcb_attestation_test-0.0.1.tar.gz", SHA256, [PINNED])


def test_broken_signature_is_refused() -> None:
    with pytest.raises(prov.SignatureInvalid, match="signature does not verify"):
        prov.verify(tampered_signature(), FILENAME, SHA256, [PINNED])


def test_altered_statement_is_refused() -> None:
    """Changing the signed statement (here: the digest it names) breaks the signature."""
    import base64

    data = json.loads(provenance_text())
    envelope = data["attestation_bundles"][0]["attestations"][0]["envelope"]
    statement = json.loads(base64.b64decode(envelope["statement"]))
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    envelope["statement"] = base64.b64encode(json.dumps(statement).encode()).decode()
    with pytest.raises(prov.SignatureInvalid):
        prov.verify(json.dumps(data), FILENAME, "0" * 64, [PINNED])


@pytest.mark.parametrize("text, error", [
    (None, prov.ProvenanceMissing),
    ('{"version": 1, "attestation_bundles": []}', prov.ProvenanceMissing),
    ("not json", prov.ProvenanceMalformed),
    ('{"version": 1}', prov.ProvenanceMalformed),
    ('{"version": 1, "attestation_bundles": [{"publisher": {"kind": "Google"}, "attestations": [{}]}]}',
     prov.ProvenanceMalformed),
])
def test_missing_or_malformed_provenance(text, error) -> None:
    with pytest.raises(error):
        prov.verify(text, FILENAME, SHA256, [PINNED])


def test_no_pin_is_an_error_that_names_the_claim() -> None:
    with pytest.raises(prov.NoPinnedPublisher) as caught:
        prov.verify(provenance_text(), FILENAME, SHA256, [])
    assert caught.value.claimed == (IDENTITY,)


def test_every_failure_is_a_provenance_error() -> None:
    for cls in (prov.ProvenanceMissing, prov.ProvenanceMalformed, prov.DigestMismatch, prov.IdentityMismatch,
                prov.SignatureInvalid, prov.NoPinnedPublisher):
        assert issubclass(cls, prov.ProvenanceError)


def test_claimed_publishers_and_trust_on_first_use_proposal() -> None:
    assert prov.claimed_publishers(provenance_text()) == [IDENTITY]
    assert prov.claimed_publishers(None) == [] and prov.claimed_publishers("garbage") == []
    assert prov.propose(provenance_text(), FILENAME, SHA256) == IDENTITY
    assert parse_identity(IDENTITY) == PINNED
    # A proposal is only made when the document verifies against its own claim.
    with pytest.raises(prov.IdentityMismatch):
        prov.propose(claiming({"kind": "Google", "email": OTHER_EMAIL}), FILENAME, SHA256)
    with pytest.raises(prov.DigestMismatch):
        prov.propose(provenance_text(), FILENAME, "1" * 64)


def test_check_document_is_structural_only() -> None:
    prov.check_document(provenance_text())
    prov.check_document(tampered_signature())  # well-formed; the signature is not looked at here
    for bad in ("[]", '{"version": 2, "attestation_bundles": []}', "{"):
        with pytest.raises(prov.ProvenanceMalformed):
            prov.check_document(bad)
