"""Running real pip and uv in subprocesses, isolated from this machine's pip/uv configuration."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from uv import find_uv_bin


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus pip/uv settings (a machine may configure extra indexes or find-links)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, UV_NO_CONFIG="1", NO_PROXY="127.0.0.1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", UV_NO_PROGRESS="1")
    env.update(extra)
    return env


@dataclass
class Result:
    returncode: int
    output: str

    def check(self) -> Result:
        assert self.returncode == 0, self.output
        return self


async def run(*argv: str | Path, timeout: float = 180, env: dict[str, str] | None = None) -> Result:
    """Run a command without blocking the event loop (servers under test live in it)."""
    proc = await asyncio.create_subprocess_exec(
        *map(str, argv), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env=env or clean_env())
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return Result(proc.returncode, out.decode(errors="replace"))


async def pip(*args: str | Path, cache_dir: Path | None = None, **kw) -> Result:
    """``python -m pip`` with only the given index; no cache unless ``cache_dir`` is given."""
    cache = ["--cache-dir", str(cache_dir)] if cache_dir else ["--no-cache-dir"]
    return await run(sys.executable, "-m", "pip", *cache, *args, **kw)


async def uv(*args: str | Path, cache_dir: Path | None = None, **kw) -> Result:
    """``uv`` with only the given index; no cache unless ``cache_dir`` is given."""
    cache = ["--cache-dir", str(cache_dir)] if cache_dir else ["--no-cache"]
    return await run(find_uv_bin(), *args, *cache, **kw)


#: Seconds a single installer run may take before a test fails (CI runs on 2 cores).
INSTALL_TIMEOUT = 120


async def install(tool: str, index_url: str, target: Path, *args: str | Path, check: bool = True) -> Result:
    """Install with ``tool`` ("pip" or "uv") into ``target``, with ``index_url`` as the only index.

    Asserts success unless ``check=False``.
    """
    if tool == "pip":
        result = await pip("install", "--no-input", "--target", target, "--index-url", index_url, *args,
                           timeout=INSTALL_TIMEOUT)
    else:
        result = await uv("pip", "install", "--target", target, "--python", sys.executable,
                          "--index-url", index_url, *args, timeout=INSTALL_TIMEOUT)
    return result.check() if check else result


def installed(target: Path) -> dict[str, str]:
    """``{dist basename: version}`` of the ``*.dist-info`` directories in ``target``."""
    if not target.is_dir():
        return {}
    found = {}
    for d in target.glob("*.dist-info"):
        name, _, version = d.name.removesuffix(".dist-info").rpartition("-")
        found[name.lower()] = version
    return found
