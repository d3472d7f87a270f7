"""``mirror token create|list|revoke``, the real command in subprocesses; and the running server accepting
exactly the tokens it made and has not revoked."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp

from mirror.config import load_config

from .support.mirror_server import MirrorServer


async def mirror(config: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mirror", "token", *args, "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=config.parent)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_tokens_are_shown_once_stored_hashed_and_revocable(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[upstream]\nurl = "http://127.0.0.1:9/simple/"\n[storage]\npath = "cache"\n'
                      '[policies]\npath = "policies"\n')
    code, out, err = await mirror(config, "create", "--name", "alice", "--expires", "30")
    assert code == 0, err
    token = out.strip().splitlines()[-1]
    assert token.startswith("mirror_") and "shown only now" in out and "expires" in out
    code, out, _ = await mirror(config, "create", "--name", "ops", "--role", "admin")
    admin = out.strip().splitlines()[-1]
    code, listing, _ = await mirror(config, "list")
    assert code == 0 and "alice" in listing and "reviewer" in listing and "admin" in listing
    assert token not in listing and token.split("_")[-1] not in listing
    database = (tmp_path / "cache" / "mirror.db").read_bytes()
    for secret in (token, admin):
        assert secret.split("_")[-1].encode() not in database  # only a hash of the secret is kept

    server = await MirrorServer(load_config(config)).start()
    try:
        async def me(text: str) -> int:
            async with http.get(f"{server.base}/api/v1/me", headers={"Authorization": f"Bearer {text}"}) as resp:
                return resp.status

        assert await me(token) == 200 and await me(admin) == 200
        code, out, _ = await mirror(config, "revoke", "alice")
        assert code == 0 and "revoked reviewer token" in out
        assert await me(token) == 401 and await me(admin) == 200
    finally:
        await server.stop()
    code, _, err = await mirror(config, "revoke", "alice")
    assert code == 1 and "already revoked" in err
    code, _, err = await mirror(config, "revoke", "nobody")
    assert code == 1 and "no token" in err
    code, _, err = await mirror(config, "create", "--name", "two words")
    assert code == 1 and "not a valid token name" in err
    code, _, err = await mirror(config, "create", "--name", "x", "--expires", "0")
    assert code == 1 and "number of days" in err
