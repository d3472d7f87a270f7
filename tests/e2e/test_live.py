"""A small smoke test against the real public index; skipped when it cannot be reached."""

from __future__ import annotations

import aiohttp
import pytest
from pypi_simple import PYPI_SIMPLE_ENDPOINT

from ..support import installers
from ..support.mirror_server import MirrorServer, make_config


async def _reachable() -> bool:
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(PYPI_SIMPLE_ENDPOINT + "six/", timeout=aiohttp.ClientTimeout(total=10)) as r:
                return r.status == 200
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False


async def test_pip_downloads_through_mirror_from_public_index(tmp_path):
    if not await _reachable():
        pytest.skip("the public index is not reachable from this machine")
    server = MirrorServer(make_config(tmp_path, "pypi", connect_timeout=10, read_timeout=30, page_timeout=60))
    await server.start()
    try:
        out = tmp_path / "dl"
        result = await installers.pip("download", "--no-deps", "--isolated", "-d", out,
                                      "--index-url", server.index(), "six==1.16.0", timeout=120)
        result.check()
        assert [p.name for p in out.iterdir()] == ["six-1.16.0-py2.py3-none-any.whl"]
    finally:
        await server.stop()
