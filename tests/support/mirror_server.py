"""Running the real mirror application on a loopback port for tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from aiohttp.test_utils import TestServer

from mirror.config import (
    Config,
    DatabaseConfig,
    PoliciesConfig,
    ServerConfig,
    StorageConfig,
    UpstreamConfig,
)
from mirror.web import create_app
from mirror.web.access import runner_options


def make_config(tmp_path: Path, upstream_url: str, *, storage: StorageConfig | None = None,
                **upstream: object) -> Config:
    """A config for tests: storage (unless given) and SQLite under ``tmp_path``, the given upstream, short
    timeouts."""
    up = UpstreamConfig(url=upstream_url, connect_timeout=2, read_timeout=2, page_timeout=5)
    return Config(
        server=ServerConfig(host="127.0.0.1", port=0),
        upstream=replace(up, **upstream),
        storage=storage or StorageConfig(path=tmp_path / "cache"),
        database=DatabaseConfig(),
        policies=PoliciesConfig(path=tmp_path / "policies"),
    )


class MirrorServer:
    """The mirror app on 127.0.0.1; ``restart()`` stops it and starts a new process-like instance."""

    def __init__(self, config: Config, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self._server: TestServer | None = None

    async def start(self) -> MirrorServer:
        app = create_app(self.config, clock=self.clock)
        self._server = TestServer(app, host="127.0.0.1")
        # As `mirror serve` runs it: requests counted and access-logged once answered.
        await self._server.start_server(**runner_options(app))
        return self

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.close()
            self._server = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    @property
    def app(self):
        assert self._server is not None
        return self._server.app

    @property
    def base(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}"

    def index(self, tier: str = "all") -> str:
        return f"{self.base}/{tier}/simple/"
