"""Writing policy files for a running mirror, and waiting until it has picked them up.

Tests write TOML text straight into the mirror's policies directory (as a reviewer editing the policy
repository would) and then wait for the server's poller to reload: :meth:`PolicyDir.applied` polls
``GET /explain/<project>`` until its ``policy_version`` is the version of what is on disk now.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
from packaging.utils import canonicalize_name

from mirror.adapters.policy_dir import load_policies

__all__ = ["PolicyDir", "Raw", "review", "block", "vetted", "line_of", "wait_until", "SIGNED_AT"]

#: The ``at`` written into every signature (any fixed UTC date-time will do).
SIGNED_AT = "2026-01-15T10:00:00Z"
#: Seconds to wait for the server's poller (it polls every second) to pick up an edit.
RELOAD_DEADLINE = 5.0


class Raw(str):
    """Text written into TOML as is (e.g. a date-time literal)."""


def toml_value(value: Any) -> str:
    """``value`` as a TOML literal: Raw, str, bool, int, float, or a list of those."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML literal for {value!r}")


def toml_key(key: str) -> str:
    """A bare key when TOML allows one, else a quoted key (file names contain dots)."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _table(header: str, keys: Mapping[str, Any]) -> str:
    lines = [header] + [f"{toml_key(k)} = {toml_value(v)}" for k, v in keys.items() if v is not None]
    return "\n".join(lines) + "\n"


def _signed(by: str, note: str | None) -> dict[str, Any]:
    return {"by": by, "at": Raw(SIGNED_AT), "note": note}


def review(by: str = "alice", note: str | None = "reviewed for the tests", **rules: Any) -> str:
    """A ``[review]`` table; ``rules`` are versions, exclude, cooldown_days, allow_prereleases."""
    return _table("[review]", {**_signed(by, note), **rules})


def block(reason: str = "blocked by the tests", versions: str | None = None, by: str = "bob") -> str:
    """A ``[[block]]`` entry; without ``versions`` it blocks the whole project."""
    return _table("[[block]]", {"by": by, "at": Raw(SIGNED_AT), "versions": versions, "reason": reason})


def vetted(version: str, files: Mapping[str, str], by: str = "alice", note: str | None = "diff read") -> str:
    """``[vetted."<version>"]`` and its ``.files`` table pinning ``filename → sha256``."""
    text = _table(f'[vetted."{version}"]', _signed(by, note))
    return text + "\n" + _table(f'[vetted."{version}".files]', dict(files))


def line_of(text: str, startswith: str) -> int:
    """1-based number of the first line of ``text`` starting with ``startswith``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith(startswith):
            return number
    raise ValueError(f"no line starts with {startswith!r}")


async def wait_until(probe: Callable[[], Any], what: str | Callable[[], str], deadline: float = RELOAD_DEADLINE,
                     interval: float = 0.05) -> Any:
    """Call (and await, if needed) ``probe`` until it returns something truthy; AssertionError after
    ``deadline`` seconds, naming ``what`` and the last value seen."""
    end = time.monotonic() + deadline
    while True:
        last = probe()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if time.monotonic() > end:
            described = what() if callable(what) else what
            raise AssertionError(f"after {deadline:g} s still waiting for {described}; last probe: {last!r}")
        await asyncio.sleep(interval)


class PolicyDir:
    """The policies directory of one mirror: ``tiers.toml`` and ``projects/<name>.toml``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def project_path(self, name: str) -> Path:
        return self.directory / "projects" / f"{canonicalize_name(name)}.toml"

    @property
    def tiers_path(self) -> Path:
        return self.directory / "tiers.toml"

    def _write(self, path: Path, text: str) -> Path:
        """Write atomically (temp file + rename) so the poller never reads half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        return path

    def write_project(self, name: str, *tables: str, header: str | None = None) -> Path:
        """``projects/<normalized name>.toml`` made of ``tables`` (TOML text), after a comment line."""
        text = f"# {header or canonicalize_name(name)}: written by the tests\n\n" + "\n".join(tables)
        return self._write(self.project_path(name), text)

    def write_project_text(self, name: str, text: str) -> Path:
        """``projects/<normalized name>.toml`` with exactly ``text`` (which may be invalid)."""
        return self._write(self.project_path(name), text)

    def write_tiers(self, text: str) -> Path:
        return self._write(self.tiers_path, text)

    def remove(self, path: Path) -> None:
        path.unlink()

    def version_on_disk(self) -> str:
        """The ``policy_version`` the server reports once it has loaded the files now on disk."""
        return load_policies(self.directory).version

    async def served_version(self, http: aiohttp.ClientSession, base: str, project: str) -> str:
        async with http.get(f"{base}/explain/{project}") as resp:
            assert resp.status == 200, await resp.text()
            return (await resp.json())["policy_version"]

    async def applied(self, http: aiohttp.ClientSession, base: str, project: str = "any-project") -> str:
        """Wait until the server at ``base`` serves the policies on disk; returns their version.

        Raises (PolicyError) if the files on disk are invalid: use it after valid edits only.
        """
        want = self.version_on_disk()
        seen: list[str] = []

        async def probe() -> bool:
            seen.append(await self.served_version(http, base, project))
            return seen[-1] == want

        await wait_until(probe, lambda: f"policy version {want} (server reports {seen[-1]})")
        return want
