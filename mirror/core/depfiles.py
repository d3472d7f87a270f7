"""What the readers of dependency files share: their one error, hash-digest checks, bounded TOML loading.

Requirements files, lock files and ``pyproject.toml`` come from users' repositories and sdists; every
reader reports a bad one the same way — file, line and key — and checks digests the same way.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from typing import Any

from .errors import MirrorError

_ALGORITHM = re.compile(r"[a-z0-9_]{1,32}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column \d+\)$")


class DependencyFileError(MirrorError):
    """A requirements file, lock file or ``pyproject.toml`` cannot be read as one.

    ``file``, ``line`` and ``key`` (when known) locate the problem.
    """

    def __init__(self, file: str, problem: str, *, line: int | None = None, key: str | None = None) -> None:
        self.file, self.problem, self.line, self.key = file, problem, line, key
        where = file + (f", line {line}" if line else "") + (f", key '{key}'" if key else "")
        super().__init__(f"{where}: {problem}")


def digest_problem(algorithm: str, digest: str) -> str | None:
    """Why ``digest`` is not a hex digest of ``algorithm`` (lowercase name), or None when it is one.

    The length is checked for the algorithms hashlib guarantees; other names are kept if the digest is
    hex, so that a lock file naming a newer algorithm still reads (its files then cannot be checked).
    """
    if not _ALGORITHM.fullmatch(algorithm):
        return f"{algorithm[:40]!r} is not a hash algorithm name"
    if not digest or not _HEX.fullmatch(digest):
        return f"{algorithm} digest {digest[:140]!r} is not hexadecimal"
    if algorithm in hashlib.algorithms_guaranteed:
        size = hashlib.new(algorithm).digest_size * 2
        if size and len(digest) != size:
            return f"{algorithm} digest has {len(digest)} hex digits, not {size}"
    return None


def load_toml(text: str, file: str, max_chars: int) -> dict[str, Any]:
    """``text`` as TOML, or DependencyFileError naming the file and the line of the syntax error."""
    if len(text) > max_chars:
        raise DependencyFileError(file, f"{len(text)} characters is more than the {max_chars} accepted")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = _TOML_POSITION.search(message)
        line = int(position[1]) if position else None
        raise DependencyFileError(file, f"not valid TOML: {_TOML_POSITION.sub('', message)}", line=line) from exc
