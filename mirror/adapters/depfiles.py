"""Requirements and lock files read from disk into a :class:`~mirror.core.sets.SetInput` (the parsing is pure,
in :mod:`mirror.core.requirements` and :mod:`mirror.core.locks`).

``-r``/``-c`` includes are read relative to the including file, local files only (a URL include is refused:
a reviewer's command does not fetch from wherever a file points). Every error is a DependencyFileError naming
the file and line.
"""

from __future__ import annotations

import os
from pathlib import Path

from mirror.core.depfiles import DependencyFileError
from mirror.core.locks import MAX_LOCK_BYTES, parse_lock
from mirror.core.requirements import MAX_FILE_BYTES, parse_requirements, resolve_include
from mirror.core.sets import SetInput, from_lock, from_requirements


def _read(path: Path, limit: int, shown: str) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise DependencyFileError(shown, "no such file") from None
    except OSError as exc:
        raise DependencyFileError(shown, f"cannot read it: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise DependencyFileError(shown, f"larger than the {limit} bytes accepted")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DependencyFileError(shown, "not UTF-8 text") from None


def is_lock_file(path: Path) -> bool:
    """``uv.lock``, ``pylock.toml``, ``pylock.NAME.toml`` (or any ``.toml``/``.lock``): a lock file; anything
    else is read as a requirements file."""
    return path.suffix in (".toml", ".lock")


def read_requirements(path: Path) -> SetInput:
    """A requirements file and its includes."""
    shown = str(path)

    def include(including: str, reference: str) -> tuple[str, str]:
        if "://" in reference:
            raise LookupError("includes by URL are not read; download the file and include it by path")
        target = resolve_include(including, reference)
        return target, _read(Path(target), MAX_FILE_BYTES, target)

    text = _read(path, MAX_FILE_BYTES, shown)
    parsed = parse_requirements(text, shown, include=include, environ=dict(os.environ))
    return from_requirements(parsed, shown)


def read_lock(path: Path) -> SetInput:
    """A PEP 751 ``pylock.toml`` or a ``uv.lock``."""
    shown = str(path)
    return from_lock(parse_lock(_read(path, MAX_LOCK_BYTES, shown), shown))


def read_set(path: Path) -> SetInput:
    """A lock file (see :func:`is_lock_file`) or a requirements file."""
    return read_lock(path) if is_lock_file(path) else read_requirements(path)
