"""The policy directory on disk → a :class:`~mirror.core.policy.model.PolicySet` (the parsing itself is pure,
in :mod:`mirror.core.policy.load`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from packaging.utils import canonicalize_name

from mirror.core.errors import PolicyError
from mirror.core.policy.load import PROJECTS_DIR, TIERS_FILE, parse_project, parse_tiers
from mirror.core.policy.model import PolicySet, ProjectPolicy, TierRules


def load_policies(directory: Path) -> PolicySet:
    """Read every policy file under ``directory``; a missing directory means no policies.

    Raises PolicyError for the first invalid file (file names must be normalized project names).
    """
    digest = hashlib.sha256()
    rules = TierRules()
    tiers_path = directory / TIERS_FILE
    if tiers_path.is_file():
        text = _read(tiers_path)
        digest.update(b"tiers\0" + text.encode())
        rules = parse_tiers(text, str(tiers_path))
    projects: dict[str, ProjectPolicy] = {}
    project_dir = directory / PROJECTS_DIR
    if project_dir.is_dir():
        for path in sorted(project_dir.glob("*.toml")):
            stem = path.stem
            if canonicalize_name(stem) != stem:
                raise PolicyError(str(path), None,
                                  f"file name must be the normalized project name: {canonicalize_name(stem)}.toml")
            text = _read(path)
            digest.update(stem.encode() + b"\0" + text.encode() + b"\0")
            projects[stem] = parse_project(text, str(path), stem)
    return PolicySet(rules=rules, projects=projects, version=digest.hexdigest()[:16])


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(str(path), None, f"cannot read file: {exc}") from None
