"""The Sigstore trust root the mirror verifies PEP 740 provenance against: pinned, shipped with the package.

``mirror/data/sigstore/trusted_root.json`` is a copy of Sigstore's production trusted root (Fulcio CA
certificates, Rekor and CT log keys, timestamp authorities); ``trusted_root.toml`` next to it records its
sha256, a version number, where it came from and when. Both are written only by
``tools/refresh_trust_root.py`` and reviewed in git. Verification never reads a trust root from anywhere
else: not from sigstore's TUF cache under ``$HOME`` (writable, and on the container's data volume), and
never from the network. A file whose sha256 differs from the recorded one is refused (:class:`TrustRootError`),
so every verification then fails closed.

Blocking (file reads, certificate parsing): the first :func:`load` should run in a thread; it is cached.
"""

from __future__ import annotations

import functools
import hashlib
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mirror.core.errors import MirrorError

if TYPE_CHECKING:  # sigstore is imported when verifying
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier

#: Where the shipped trust root lives (package data, read-only once installed).
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "data" / "sigstore"
ROOT_FILE = "trusted_root.json"
MANIFEST_FILE = "trusted_root.toml"
#: A trust root is a few KiB; anything much larger is not one.
_MAX_BYTES = 1024 * 1024


class TrustRootError(MirrorError):
    """The shipped trust root is missing, unreadable, altered (sha256 mismatch) or not a Sigstore trust root."""


@dataclass(frozen=True, slots=True)
class TrustRootInfo:
    """What ``trusted_root.toml`` records about the trust root in use."""

    version: int
    sha256: str
    source: str
    updated: str
    path: str

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "sha256": self.sha256, "source": self.source, "updated": self.updated}

    def describe(self) -> str:
        return f"version {self.version}, sha256 {self.sha256}, {self.source}, updated {self.updated}"


def manifest_text(info: TrustRootInfo) -> str:
    """``trusted_root.toml`` for ``info`` (what the refresh script writes)."""
    return ("# The Sigstore trust root the mirror verifies PEP 740 provenance against: trusted_root.json next to\n"
            "# this file, pinned by its sha256. Written by tools/refresh_trust_root.py; review every change in git.\n"
            f"version = {info.version}\n"
            f'sha256 = "{info.sha256}"\n'
            f'source = "{info.source}"\n'
            f'updated = "{info.updated}"\n')


def _manifest(directory: Path) -> TrustRootInfo:
    manifest = directory / MANIFEST_FILE
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
        version, sha256, source, updated = (data[k] for k in ("version", "sha256", "source", "updated"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError) as exc:
        raise TrustRootError(f"cannot read {manifest}: {type(exc).__name__}: {exc}") from None
    if not isinstance(version, int) or not all(isinstance(v, str) for v in (sha256, source, updated)):
        raise TrustRootError(f"{manifest}: version must be an integer; sha256, source and updated strings")
    return TrustRootInfo(version, sha256, source, updated, str(directory / ROOT_FILE))


def _read(directory: Path) -> tuple[TrustRootInfo, bytes]:
    recorded = _manifest(directory)
    manifest, sha256 = directory / MANIFEST_FILE, recorded.sha256
    path = directory / ROOT_FILE
    try:
        with path.open("rb") as fh:
            body = fh.read(_MAX_BYTES + 1)
    except OSError as exc:
        raise TrustRootError(f"cannot read {path}: {exc}") from None
    if len(body) > _MAX_BYTES:
        raise TrustRootError(f"{path} is larger than {_MAX_BYTES} bytes: not a trust root")
    actual = hashlib.sha256(body).hexdigest()
    if actual != sha256:
        raise TrustRootError(f"{path} has sha256 {actual}, but {manifest} records {sha256}: the trust root was "
                             "altered; reinstall the mirror or refresh it with tools/refresh_trust_root.py")
    return recorded, body


def parse(body: bytes) -> TrustedRoot:
    """A trusted_root.json as sigstore's object; TrustRootError when it is not a usable Sigstore trust root."""
    from sigstore.models import TrustedRoot
    from sigstore_models.trustroot import v1 as trustroot_v1

    try:
        root = TrustedRoot(trustroot_v1.TrustedRoot.from_json(body))
        root.get_fulcio_certs()  # raises when there are none: a root that can verify nothing is no root
        if not root._inner.tlogs:  # noqa: SLF001 - sigstore's Verifier needs at least one transparency log
            raise ValueError("no transparency log instance")
    except Exception as exc:  # noqa: BLE001 - pydantic, sigstore and cryptography errors alike
        raise TrustRootError(f"not a usable Sigstore trusted root: {type(exc).__name__}: {exc}") from None
    return root


def _dir(directory: Path | None) -> Path:
    return directory if directory is not None else SHIPPED_DIR


@functools.cache
def _load(directory: Path) -> tuple[TrustRootInfo, TrustedRoot]:
    info, body = _read(directory)
    return info, parse(body)


def load(directory: Path | None = None) -> tuple[TrustRootInfo, TrustedRoot]:
    """The trust root in ``directory`` (the shipped one by default), its sha256 checked against the manifest.

    Raises TrustRootError (not cached: a fixed installation is picked up by the next call).
    """
    return _load(_dir(directory))


@functools.cache
def _verifier(directory: Path) -> Verifier:
    from sigstore.verify import Verifier

    return Verifier(trusted_root=_load(directory)[1])


def verifier(directory: Path | None = None) -> Verifier:
    """A sigstore Verifier bound to the pinned trust root (and to nothing else); raises TrustRootError."""
    return _verifier(_dir(directory))


def info(directory: Path | None = None) -> TrustRootInfo:
    """What the manifest records about the trust root in use; raises TrustRootError when it is unusable."""
    return load(directory)[0]


def status(directory: Path | None = None) -> dict[str, Any]:
    """For ``/healthz`` and ``mirror check``: the trust root's version, sha256, source and date with
    ``ok`` true, or ``ok`` false and the ``problem``."""
    try:
        return {"ok": True, **info(directory).as_dict()}
    except TrustRootError as exc:
        return {"ok": False, "problem": str(exc)}


def write(directory: Path, body: bytes, source: str, *, now: datetime | None = None) -> TrustRootInfo:
    """Install ``body`` as the trust root in ``directory`` (the refresh script's job): checks that it parses,
    writes it and its manifest, the version bumped when the content changed. Raises TrustRootError."""
    parse(body)
    sha256 = hashlib.sha256(body).hexdigest()
    try:
        previous: TrustRootInfo | None = _manifest(directory)
    except TrustRootError:
        previous = None
    try:
        intact = _read(directory)[1] == body
    except TrustRootError:
        intact = False
    if previous is not None and intact:
        return previous
    version = previous.version + 1 if previous is not None else 1
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%d")
    new = TrustRootInfo(version, sha256, source.replace('"', "'"), when, str(directory / ROOT_FILE))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / ROOT_FILE).write_bytes(body)
    (directory / MANIFEST_FILE).write_text(manifest_text(new), encoding="utf-8")
    _load.cache_clear()
    _verifier.cache_clear()
    return new
