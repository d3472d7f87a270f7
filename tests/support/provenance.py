"""The real PEP 740 fixture (``tests/data/provenance/``, see its README.md) and policy tables for it.

One real sdist of the public project ``gcb-attestation-test`` and its real provenance object: one
attestation signed by a Google Cloud service account, verifiable offline with the Sigstore trust root
pinned in the mirror package.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from .fake_upstream import FakeFile, FakeUpstream
from .policies import SIGNED_AT, Raw, toml_key, toml_value

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "data" / "provenance"
PROJECT = "gcb-attestation-test"
VERSION = "0.0.0"
FILENAME = "gcb_attestation_test-0.0.0.tar.gz"
SHA256 = "461317362419124b6012e855423a9078d6de8aed3e74fa78cc74d669b23dc6cf"
EMAIL = "919436158236-compute@developer.gserviceaccount.com"
IDENTITY = f"Google:{EMAIL}"
OTHER_EMAIL = "release-bot@other-project.iam.gserviceaccount.com"
OLD = datetime.now(UTC) - timedelta(days=30)


def _table(header: str, keys: Mapping[str, Any]) -> str:
    return "\n".join([header] + [f"{toml_key(k)} = {toml_value(v)}" for k, v in keys.items()]) + "\n"


def _require_fixture() -> Path:
    assert (FIXTURE_DIR / FILENAME).is_file(), f"provenance fixture missing from {FIXTURE_DIR}"
    return FIXTURE_DIR


def sdist_bytes() -> bytes:
    return (_require_fixture() / FILENAME).read_bytes()


def provenance_text() -> str:
    return (_require_fixture() / f"{FILENAME}.provenance").read_text(encoding="utf-8")


def tampered_signature(text: str | None = None) -> str:
    """The provenance with one bit of its DSSE signature flipped: still well-formed, no longer valid."""
    data = json.loads(text or provenance_text())
    envelope = data["attestation_bundles"][0]["attestations"][0]["envelope"]
    sig = bytearray(base64.b64decode(envelope["signature"]))
    sig[10] ^= 1
    envelope["signature"] = base64.b64encode(bytes(sig)).decode()
    return json.dumps(data)


def claiming(publisher: Mapping[str, str], text: str | None = None) -> str:
    """The provenance with its (unsigned) ``publisher`` claim replaced; the signature is untouched."""
    data = json.loads(text or provenance_text())
    data["attestation_bundles"][0]["publisher"] = dict(publisher)
    return json.dumps(data)


def add_fixture(upstream: FakeUpstream, *, content: bytes | None = None, provenance: str | None | bool = True,
                upload_time: datetime = OLD) -> FakeFile:
    """Serve the fixture sdist (or ``content`` under its name) with its provenance (``True``), another
    provenance text, or none (``None``/``False``)."""
    text = provenance_text() if provenance is True else (provenance or None)
    return upstream.add_file(PROJECT, FakeFile(FILENAME, content if content is not None else sdist_bytes(),
                                               upload_time=upload_time, provenance=text))


def google(email: str = EMAIL) -> dict[str, str]:
    return {"kind": "Google", "email": email}


def provenance_policy(*publishers: Mapping[str, str], require: bool = True) -> str:
    """``[provenance]`` with ``require`` and one ``[[provenance.publisher]]`` per publisher."""
    text = _table("[provenance]", {"require": require, "by": "alice", "at": Raw(SIGNED_AT)})
    for p in publishers:
        text += "\n" + _table("[[provenance.publisher]]", dict(p))
    return text


def vetted_with_provenance(version: str, files: Mapping[str, str], verified: Mapping[str, str] | None = None,
                           by: str = "alice") -> str:
    """``[vetted."V"]`` with ``.files`` (sha256 pins) and, when given, ``.provenance`` (verified publishers)."""
    text = _table(f'[vetted."{version}"]', {"by": by, "at": Raw(SIGNED_AT), "note": "diff read"})
    text += "\n" + _table(f'[vetted."{version}".files]', dict(files))
    if verified:
        text += "\n" + _table(f'[vetted."{version}".provenance]', dict(verified))
    return text


class NetworkGuard:
    """Refuses, and records, every connection or name lookup that is not to the loopback interface."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.attempts: list[Any] = []
        real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo
        real_connect_ex = socket.socket.connect_ex

        def loopback(address: Any) -> bool:
            host = address[0] if isinstance(address, tuple) else address
            return isinstance(host, str) and (host in ("localhost", "::1") or host.startswith("127."))

        def connect(sock: socket.socket, address: Any) -> Any:
            if sock.family in (socket.AF_INET, socket.AF_INET6) and not loopback(address):
                self.attempts.append(address)
                raise OSError(f"network disabled in tests: connect to {address!r}")
            return real_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> Any:
            if sock.family in (socket.AF_INET, socket.AF_INET6) and not loopback(address):
                self.attempts.append(address)
                raise OSError(f"network disabled in tests: connect to {address!r}")
            return real_connect_ex(sock, address)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else host
            if name is not None and not loopback((name,)):
                self.attempts.append(name)
                raise socket.gaierror(f"network disabled in tests: lookup of {name!r}")
            return real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)



def offline_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> NetworkGuard:
    """An empty HOME and XDG dirs, and no network but loopback: verification must need neither."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local"))
    return NetworkGuard(monkeypatch)
