"""The policy directory on disk → a :class:`~mirror.core.policy.model.PolicySet` (the parsing itself is pure,
in :mod:`mirror.core.policy.load`).

A directory that is missing, or whose ``projects`` or ``tiers.toml`` is not what it should be, is a broken
policy (PolicyError), never "no policies": a git checkout, an rsync or a remount can make a directory vanish
for a moment, and reading that as an empty set would lift every block. Only a directory that exists and
holds no project file is an (explicit) empty set; :func:`create_policy_dir` makes one at start-up.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from mirror.core.errors import PolicyError
from mirror.core.policy.load import PROJECTS_DIR, TIERS_FILE, parse_project, parse_tiers
from mirror.core.policy.model import PolicySet, ProjectPolicy, TierRules

#: What git should ignore in a policy directory: the reviewer commands' lock file and their staged edits.
GITIGNORE = ("# Written by mirror: the lock file of the reviewer commands and their unfinished edits.\n"
             ".lock\n.*.tmp\n")


def ensure_gitignore(directory: Path) -> None:
    """Write ``directory/.gitignore`` (see :data:`GITIGNORE`) when there is none; an existing one is the
    policy repository's own and is left alone. Best effort: a read-only directory is not an error here."""
    path = directory / ".gitignore"
    if path.exists():
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError:
        return
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(GITIGNORE)


def create_policy_dir(directory: Path) -> bool:
    """Create ``directory`` (and its ``projects``) as an explicit, valid empty policy set when it is missing.

    Returns True when it was created. Raises PolicyError when it cannot be created, or exists and is not a
    directory.
    """
    if directory.is_dir():
        return False
    if directory.exists():
        raise PolicyError(str(directory), None, "the policy directory is not a directory")
    try:
        (directory / PROJECTS_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PolicyError(str(directory), None,
                          f"cannot create the policy directory: {exc.strerror or exc}") from None
    ensure_gitignore(directory)
    return True


def load_policies(directory: Path, *, allow_missing: bool = False) -> PolicySet:
    """Read every policy file under ``directory``.

    Raises PolicyError for the first problem: the directory is missing (unless ``allow_missing``, for the
    reviewer commands, where it means "nothing decided yet"), ``projects`` or ``tiers.toml`` exist but are
    not a directory / a regular file or cannot be listed or read, a file name is not a normalized project
    name, or a file is invalid.
    """
    kind = _kind(directory)
    if kind is None:
        if allow_missing:
            return PolicySet()
        raise PolicyError(str(directory), None, "the policy directory is missing")
    if kind != "dir":
        raise PolicyError(str(directory), None, "the policy directory is not a directory")
    digest = hashlib.sha256()
    rules = TierRules()
    tiers_path = directory / TIERS_FILE
    tiers_kind = _kind(tiers_path)
    if tiers_kind is not None:
        if tiers_kind != "file":
            raise PolicyError(str(tiers_path), None, "not a regular file")
        text = _read(tiers_path)
        digest.update(b"tiers\0" + text.encode())
        rules = parse_tiers(text, str(tiers_path))
    projects: dict[NormalizedName, ProjectPolicy] = {}
    project_dir = directory / PROJECTS_DIR
    projects_kind = _kind(project_dir)
    if projects_kind is not None and projects_kind != "dir":
        raise PolicyError(str(project_dir), None, "not a directory")
    for path in _project_files(project_dir) if projects_kind else ():
        stem = path.stem
        name = canonicalize_name(stem)
        if name != stem:
            raise PolicyError(str(path), None,
                              f"file name must be the normalized project name: {name}.toml")
        text = _read(path)
        digest.update(stem.encode() + b"\0" + text.encode() + b"\0")
        projects[name] = parse_project(text, str(path), stem)
    return PolicySet(rules=rules, projects=projects, version=digest.hexdigest()[:16])


def _kind(path: Path) -> str | None:
    """"dir", "file" or "other" for what ``path`` is (symbolic links followed), None when it does not exist."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:  # a parent is a file
            return None
        raise PolicyError(str(path), None, f"cannot stat: {exc.strerror or exc}") from None
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def _project_files(project_dir: Path) -> list[Path]:
    """The ``*.toml`` files of ``projects/``, sorted; an unlistable directory is an error, not an empty one."""
    try:
        names = os.listdir(project_dir)
    except OSError as exc:
        raise PolicyError(str(project_dir), None, f"cannot list the directory: {exc.strerror or exc}") from None
    return sorted(project_dir / name for name in names if name.endswith(".toml"))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(str(path), None, f"cannot read file: {exc}") from None
