"""The policy directories the suite's mirrors run with: every measured project reviewed, releases vetted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: {project: {version: {filename: sha256}}}
Pins = Mapping[str, Mapping[str, Mapping[str, str]]]


def write_policies(directory: Path, projects: Iterable[str], revision: int = 0, pins: Pins | None = None) -> None:
    """tiers.toml (no cooldown) and a reviewed (and, with ``pins``, vetted) file per project.

    Each file is written to a temp name and renamed: the mirror's watcher never reads half a file.
    """
    (directory / "projects").mkdir(parents=True, exist_ok=True)
    (directory / "tiers.toml").write_text("[reviewed]\ncooldown_days = 0\nallow_prereleases = false\n")
    for project in projects:
        lines = ["[review]", 'by = "bench"', "at = 2026-01-01T00:00:00Z", f'note = "bench revision {revision}"', ""]
        for version, files in (pins or {}).get(project, {}).items():
            lines += [f'[vetted."{version}"]', 'by = "bench"', "at = 2026-01-01T00:00:00Z", "",
                      f'[vetted."{version}".files]']
            lines += [f'"{name}" = "{sha}"' for name, sha in files.items()] + [""]
        tmp = directory / "projects" / f".{project}.toml.tmp"
        tmp.write_text("\n".join(lines))
        tmp.replace(directory / "projects" / f"{project}.toml")


def pins_from_page(page: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """{version: {filename: sha256}} for every final release on a PEP 691 page (all files pinned)."""
    from packaging.utils import canonicalize_version, parse_sdist_filename, parse_wheel_filename
    from packaging.version import InvalidVersion

    pins: dict[str, dict[str, str]] = {}
    for f in page["files"]:
        name, sha = f["filename"], f.get("hashes", {}).get("sha256")
        if not sha:
            continue
        try:
            version = parse_wheel_filename(name)[1] if name.endswith(".whl") else parse_sdist_filename(name)[1]
        except (ValueError, InvalidVersion):
            continue
        if version.is_prerelease or version.is_devrelease:
            continue
        pins.setdefault(canonicalize_version(version), {})[name] = sha
    return pins
