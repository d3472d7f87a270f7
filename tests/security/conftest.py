"""Fixtures of the security regression suite: the fault suite's upstream (slow files, faults) and quick
mirror, a canary server that records every request it gets, and helpers to write policies before start."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from ..faults.conftest import FaultyUpstream, QuickServer, fast_config, read_partial
from ..support.policies import PolicyDir


@pytest.fixture
async def upstream() -> AsyncIterator[FaultyUpstream]:
    fake = FaultyUpstream()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def policies(tmp_path: Path) -> PolicyDir:
    """The policy directory of the mirror ``start_mirror()`` starts (write policies before starting it)."""
    return PolicyDir(tmp_path / "mirror" / "policies")


@pytest.fixture
async def start_mirror(tmp_path: Path, upstream: FaultyUpstream):
    """``await start_mirror(**upstream_overrides)`` → a started QuickServer under ``tmp_path/mirror``."""
    servers: list[QuickServer] = []

    async def start(**overrides: object) -> QuickServer:
        server = QuickServer(fast_config(tmp_path / "mirror", upstream.url, **overrides))
        servers.append(await server.start())
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


class Canary:
    """A server on another loopback port standing for an internal service: it records every request and
    answers each with ``body`` (so a mirror that reached it would have bytes to pass on)."""

    def __init__(self, body: bytes = b"internal secret\n") -> None:
        self.body = body
        self.requests: list[str] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> Canary:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def _answer(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        return web.Response(body=self.body, headers={"X-Internal": "yes"})

    def url(self, path: str = "/secret", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def canary() -> AsyncIterator[Canary]:
    server = await Canary().start()
    yield server
    await server.stop()


async def get(http: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, bytes, BaseException | None]:
    """(status, body received, the error that cut it or None)."""
    async with http.get(url, headers=headers, allow_redirects=False) as resp:
        body, error = await read_partial(resp)
        return resp.status, body, error


def sha512_of(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def regular_files(server: QuickServer) -> list[Path]:
    root = server.config.storage.path / "files"
    return [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []
