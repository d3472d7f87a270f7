"""Fixtures of the UI, admin API and JSON API tests: a mirror with generous rate limits and a policy directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ..support.fake_upstream import FakeUpstream
from ..support.mirror_server import MirrorServer
from ..support.policies import PolicyDir
from ..support.webface import web_config


@pytest.fixture
async def site(tmp_path: Path, upstream: FakeUpstream) -> AsyncIterator[MirrorServer]:
    """The mirror in front of ``upstream``, rate limits out of the way."""
    server = MirrorServer(web_config(tmp_path, upstream.url))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def policies(tmp_path: Path) -> PolicyDir:
    """The policy directory of ``site`` (and of the ``mirror`` fixture)."""
    return PolicyDir(tmp_path / "policies")
