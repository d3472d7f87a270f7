"""Running the real ``mirror`` command in a subprocess (asyncio, so servers under test keep running in the loop)."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .fake_upstream import FakeUpstream


@dataclass
class Run:
    code: int
    out: str
    err: str

    def ok(self) -> str:
        assert self.code == 0, f"exit {self.code}:\n{self.out}\n{self.err}"
        return self.out


def write_config(directory: Path, upstream: FakeUpstream, extra: str = "") -> Path:
    """``directory/config.toml``: the fake upstream, short timeouts, ``cache`` and ``policies`` beside it (the
    paths :func:`tests.support.mirror_server.make_config` uses, so a server of that config shares them)."""
    path = directory / "config.toml"
    path.write_text(f'[upstream]\nurl = "{upstream.url}"\nconnect_timeout = 2\nread_timeout = 5\npage_timeout = 10\n\n'
                    '[storage]\npath = "cache"\n\n[policies]\npath = "policies"\n' + extra)
    return path


async def mirror(*args: str | Path, config: Path | None = None, cwd: Path | None = None, stdin: str | None = None,
                 env: dict[str, str] | None = None, timeout: float = 180) -> Run:
    """``python -m mirror ARGS [--config CONFIG]`` in ``cwd`` (the config's directory by default)."""
    argv = [sys.executable, "-m", "mirror", *map(str, args)] + (["--config", str(config)] if config else [])
    environment = {k: v for k, v in os.environ.items() if k != "MIRROR_CONFIG"}
    environment.update(env or {})
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=cwd or (config.parent if config else None), env=environment)
    out, err = await asyncio.wait_for(proc.communicate((stdin or "").encode()), timeout)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())
