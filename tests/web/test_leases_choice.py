"""Which servers share their cold fetches through leases in the database: only those whose database another
process can use (PostgreSQL, or SQLite with several workers)."""

from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web

from mirror.config import DatabaseConfig, ServerConfig
from mirror.services.leases import Leases
from mirror.web.lifecycle import LEASES, shared_leases

from ..support.mirror_server import make_config


@pytest.mark.parametrize(("url", "workers", "shared"), [
    ("", 1, False),  # the default SQLite file, one process: the in-process single flight is enough
    ("", 2, True),
    ("sqlite+aiosqlite:///x.db", 1, False),
    ("postgresql+asyncpg://u:p@127.0.0.1/db", 1, True),  # other nodes may share it
])
def test_leases_only_where_the_database_is_shared(tmp_path: Path, url: str, workers: int, shared: bool) -> None:
    config = make_config(tmp_path, "http://127.0.0.1:9/simple/")
    config = replace(config, database=DatabaseConfig(url=url), server=ServerConfig(workers=workers))
    app = web.Application()
    leases = object.__new__(Leases)
    app[LEASES] = leases
    assert (shared_leases(app, config) is leases) is shared
