"""Reviewers change policies with the real CLI, many at once, while the server answers clients."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from mirror.adapters.db import open_database
from mirror.adapters.db.audit import AuditLog
from mirror.adapters.policy_dir import load_policies
from mirror.config import load_config

from ..support.mirror_server import MirrorServer

# Names far apart, so that the typo-squat gate lets every promotion through.
PROJECTS = ["alpha-lib", "bravo-tool", "charlie-kit", "delta-api", "echo-sdk", "foxtrot-io", "golf-utils", "hotel-web"]
JSON = "application/vnd.pypi.simple.v1+json"


async def run_cli(config: Path, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mirror", *args, "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=config.parent)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode()


async def test_concurrent_cli_changes_while_serving_lose_no_audit_record(tmp_path, upstream, dists, http):
    for name in PROJECTS:
        upstream.add_wheel(name, "1.0", dists)
    config_path = tmp_path / "config.toml"
    config_path.write_text(
        f'[upstream]\nurl = "{upstream.url}"\n[storage]\npath = "cache"\n[policies]\npath = "policies"\n'
        '[server]\nlog_level = "warning"\n')
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "tiers.toml").write_text("[reviewed]\ncooldown_days = 0\n")
    config = load_config(config_path)
    server = MirrorServer(config)
    await server.start()
    stop = asyncio.Event()
    answers: list[int] = []

    async def clients() -> None:  # keep the server busy with every tier until the reviewers are done
        while not stop.is_set():
            for tier in ("all", "reviewed", "vetted"):
                async with http.get(f"{server.index(tier)}{PROJECTS[len(answers) % 8]}/",
                                    headers={"Accept": JSON}) as resp:
                    answers.append(resp.status)

    load = asyncio.ensure_future(clients())
    try:
        commands = [("promote", name, "--by", f"rev{i}", "--note", "ok") for i, name in enumerate(PROJECTS)]
        commands += [("block", f"{name}==0.9", "--by", "sec", "--reason", "old") for name in PROJECTS]
        results = await asyncio.gather(*(run_cli(config_path, *c) for c in commands))
        assert all(code == 0 for code, _ in results), [out for code, out in results if code]
        # The running server picks the changes up: every project is now reviewed.
        for _ in range(100):
            statuses = []
            for name in PROJECTS:
                async with http.get(f"{server.index('reviewed')}{name}/", headers={"Accept": JSON}) as resp:
                    statuses.append(resp.status)
            if statuses == [200] * 8:
                break
            await asyncio.sleep(0.1)
        assert statuses == [200] * 8
    finally:
        stop.set()
        await load
        await server.stop()
    assert answers and set(answers) <= {200, 404}  # never a 5xx while files changed underneath
    policies = load_policies(tmp_path / "policies")
    for name in PROJECTS:
        p = policies.of(name)
        assert p.review is not None and len(p.blocks) == 1
    engine = await open_database(config.database_settings)
    try:
        records = await AuditLog(engine).records()
    finally:
        await engine.dispose()
    assert sorted((r.action, r.target) for r in records) == sorted(
        [("promote", n) for n in PROJECTS] + [("block", f"{n}==0.9") for n in PROJECTS])
