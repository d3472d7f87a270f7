"""Issue 9, point 10: the uploaders guard works against a real-shaped upstream.

The real index's JSON API answers in several chunks and, for real projects, with hundreds of kilobytes
(long descriptions, many releases). ``mirror vet`` and ``mirror check`` read the whole body (bounded), so
the maintainers are recorded, the guard fires when they change, and ``mirror check`` passes on clean data.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from mirror.adapters.policy_dir import load_policies
from mirror.config import load_config
from mirror.core.errors import UpstreamError
from mirror.services.review.evidence import json_api_url, upstream_maintainers
from mirror.services.review.upstream_reader import UpstreamReader

from ..support.fake_upstream import FakeUpstream

PROJECT = "big-json-app"


async def run_cli(config: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mirror", *args, "--config", str(config), cwd=config.parent,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
def real_shaped(tmp_path: Path, upstream: FakeUpstream, dists: Path) -> Path:
    """The fake upstream's JSON API answering > 200 KB in 16 KiB chunks; a config file pointing at it."""
    upstream.add_wheel(PROJECT, "1.0", dists)
    upstream.add_wheel(PROJECT, "2.0", dists)
    upstream.set_owners(PROJECT, ["alice", "bob"])
    upstream.json_api_padding, upstream.json_api_chunk = 250_000, 16 * 1024
    config = tmp_path / "config.toml"
    config.write_text(f'[upstream]\nurl = "{upstream.url}"\nconnect_timeout = 2\nread_timeout = 5\n'
                      'page_timeout = 10\n\n[storage]\npath = "cache"\n\n[policies]\npath = "policies"\n')
    return config


async def test_vet_records_maintainers_and_the_guard_fires_on_a_change(real_shaped, upstream):
    code, out, err = await run_cli(real_shaped, "promote", PROJECT, "--by", "alice", "--note", "ok")
    assert code == 0, err
    code, out, err = await run_cli(real_shaped, "vet", PROJECT, "1.0", "--by", "alice", "--note", "diff read")
    assert code == 0, err
    assert "recorded (trust on first use): maintainers alice, bob" in out
    assert "not JSON" not in out and "no maintainer evidence" not in out
    policies = load_config(real_shaped).policies.path
    assert load_policies(policies).of(PROJECT).uploaders.maintainers == ("alice", "bob")

    code, out, err = await run_cli(real_shaped, "check")
    assert code == 0, out + err
    assert "policies OK" in out

    upstream.set_owners(PROJECT, ["alice", "mallory"])
    code, out, err = await run_cli(real_shaped, "vet", PROJECT, "2.0", "--by", "carol", "--note", "new release")
    assert code == 1
    assert f"refusing to vet {PROJECT} 2.0" in err and "new: mallory; gone: bob" in err
    assert "2.0" not in load_policies(policies).of(PROJECT).vettings
    code, out, err = await run_cli(real_shaped, "check")
    assert code == 1 and f"upstream maintainers of {PROJECT} changed" in out


async def test_a_json_answer_over_the_limit_is_a_clear_error(real_shaped, upstream):
    config = load_config(real_shaped)
    reader = UpstreamReader(config, json_limit=100_000)
    try:
        url = json_api_url(reader.url, PROJECT)
        assert url is not None
        with pytest.raises(UpstreamError, match="exceeds the limit of 100000 bytes"):
            await reader.get_json(url)
        maintainers, why = await upstream_maintainers(reader, PROJECT)
        assert maintainers is None and why is not None and "exceeds the limit of 100000 bytes" in why
        upstream.json_api_padding = 1_000  # a small chunked answer is read whole
        assert (await reader.get_json(url))["ownership"]["roles"][0]["user"] == "alice"
    finally:
        await reader.close()
