"""What a dependency walk reads from a source distribution: its ``PKG-INFO`` and ``pyproject.toml``.

Only the two top-level members ``<name>-<version>/PKG-INFO`` and ``<name>-<version>/pyproject.toml`` are read
(never extracted to disk), each size-capped, and the archive is walked for at most :data:`MAX_MEMBERS`
members: an sdist is hostile input. Blocking: run :func:`read_sdist` in a thread.
"""

from __future__ import annotations

import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

#: Largest PKG-INFO / pyproject.toml read.
MAX_MEMBER_BYTES = 4 * 1024 * 1024
#: Most archive members looked at before giving up (the two files are near the start of real sdists).
MAX_MEMBERS = 20_000

_WANTED = ("PKG-INFO", "pyproject.toml")


@dataclass(frozen=True, slots=True)
class SdistFiles:
    """The bytes of the sdist's top-level ``PKG-INFO`` and ``pyproject.toml`` (None when absent)."""

    pkg_info: bytes | None
    pyproject: bytes | None


def _wanted(member: str) -> str | None:
    """``PKG-INFO`` / ``pyproject.toml`` when ``member`` is that file in the archive's single top directory."""
    parts = member.split("/")
    if len(parts) == 2 and parts[0] and parts[0] not in (".", "..") and parts[1] in _WANTED:
        return parts[1]
    return None


def read_sdist(source: Path | BinaryIO, filename: str) -> SdistFiles:
    """The two files of the sdist ``filename`` (``.tar.gz``/``.tgz``/``.tar.bz2``/``.tar.xz``/``.tar``/
    ``.zip``); raises ValueError when it cannot be read as such an archive."""
    try:
        found = _read_zip(source) if filename.endswith(".zip") else _read_tar(source)
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
        raise ValueError(f"{filename} is not a readable source archive ({type(exc).__name__})") from exc
    return SdistFiles(found.get("PKG-INFO"), found.get("pyproject.toml"))


def _read_zip(source: Path | BinaryIO) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with zipfile.ZipFile(source) as archive:
        for count, entry in enumerate(archive.infolist()):
            if count >= MAX_MEMBERS:
                break
            key = _wanted(entry.filename)
            if key and key not in found and entry.file_size <= MAX_MEMBER_BYTES:
                found[key] = archive.read(entry)
    return found


def _read_tar(source: Path | BinaryIO) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    opened = (tarfile.open(name=source, mode="r:*") if isinstance(source, Path)
              else tarfile.open(fileobj=source, mode="r:*"))
    with opened as archive:
        for count, info in enumerate(archive):
            if count >= MAX_MEMBERS or len(found) == len(_WANTED):
                break
            key = _wanted(info.name)
            if key and key not in found and info.isfile() and info.size <= MAX_MEMBER_BYTES:
                member = archive.extractfile(info)
                if member is not None:
                    found[key] = member.read(MAX_MEMBER_BYTES + 1)[:MAX_MEMBER_BYTES]
    return found
