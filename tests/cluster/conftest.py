"""Three real ``mirror serve`` processes on three ports acting as one mirror: one PostgreSQL database, one file store
(a shared directory, or a bucket on a real S3-compatible server), one policy directory, against the fault-capable
fake upstream of the fault suite (which runs in the test's event loop)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mirror.config import StorageConfig

from ..faults.conftest import FaultyUpstream, MirrorProcess
from ..support.s3_server import S3Server

#: Seconds a lease lives unrenewed in these tests: a killed node's download is taken over after this.
LEASE_TTL = 2.0
NODES = 3


def node_config(path: Path, *, name: str, upstream_url: str, database_url: str, policies: Path,
                storage: dict[str, Any], extra: dict[str, dict[str, Any]] | None = None) -> Path:
    """A node's config.toml (loopback, any free port, short timeouts, leases of LEASE_TTL seconds)."""
    sections: dict[str, dict[str, Any]] = {
        "server": {"host": "127.0.0.1", "port": 0, "log_level": "info"},
        "upstream": {"url": upstream_url, "connect_timeout": 2, "read_timeout": 5, "page_timeout": 10,
                     "prefetch_concurrency": 0},
        "storage": storage,
        "database": {"url": database_url},
        "policies": {"path": str(policies)},
        "cluster": {"node_name": name, "lease_ttl": LEASE_TTL, "lease_poll": 0.1},
    }
    for section, values in (extra or {}).items():
        sections.setdefault(section, {}).update(values)
    lines: list[str] = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


@dataclass
class Cluster:
    """The nodes (started), their configs, and where their shared things are."""

    nodes: list[MirrorProcess]
    configs: list[Path]
    policies: Path
    storage: StorageConfig
    s3: S3Server | None = None
    logs: list[Path] = field(default_factory=list)

    def visible_files(self) -> list[str]:
        """What a reader of the store can see (file names or object keys), temp files excluded."""
        if self.s3 is not None:
            prefix = self.storage.prefix + "files/"
            return [k.removeprefix(prefix) for k in self.s3.keys(self.storage.bucket, prefix)]
        files = self.storage.path / "files"
        return sorted(str(p.relative_to(files)) for p in files.rglob("*") if p.is_file())

    def log_text(self) -> str:
        return "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace") for p in self.logs if p.exists())


@pytest.fixture
async def upstream() -> AsyncIterator[FaultyUpstream]:
    fake = FaultyUpstream()
    await fake.start()
    yield fake
    await fake.stop()


async def start_cluster(tmp_path: Path, upstream_url: str, database_url: str, s3: S3Server | None = None, *,
                        nodes: int = NODES, extra: dict[str, dict[str, Any]] | None = None) -> Cluster:
    """``nodes`` nodes sharing the database, the store (a directory, or a fresh bucket of ``s3``) and the
    policy directory, started; the caller stops them (:func:`stop_cluster`)."""
    policies = tmp_path / "policies"
    if s3 is not None:
        bucket = s3.new_bucket()
        shared = s3.storage_config(StorageConfig(path=tmp_path / "unused"), bucket, prefix="mirror")
    else:
        shared = StorageConfig(path=tmp_path / "shared-store")
    configs, logs = [], []
    for i in range(1, nodes + 1):
        name = f"node-{i}"
        configs.append(node_config(tmp_path / name / "config.toml", name=name, upstream_url=upstream_url,
                                   database_url=database_url, policies=policies,
                                   storage=storage_section(tmp_path / name, shared, s3), extra=extra))
        logs.append(tmp_path / name / "mirror.log")
    made = Cluster([MirrorProcess(config, log) for config, log in zip(configs, logs)], configs, policies, shared,
                   s3, logs)
    started = await asyncio.gather(*(n.start(timeout=60) for n in made.nodes), return_exceptions=True)
    failed = [s for s in started if isinstance(s, BaseException)]
    if failed:
        await stop_cluster(made)
        raise failed[0]
    return made


def storage_section(node_dir: Path, shared: StorageConfig, s3: S3Server | None) -> dict[str, Any]:
    """A node's ``[storage]``: the shared directory, or the shared bucket with a spool of the node's own."""
    if s3 is None:
        return {"path": str(shared.path)}
    return {"path": str(node_dir / "spool"), "url": shared.url, "endpoint_url": shared.endpoint_url,
            "region": shared.region, "access_key_id": shared.access_key_id,
            "secret_access_key": shared.secret_access_key, "addressing_style": "path"}


async def stop_cluster(cluster: Cluster) -> None:
    await asyncio.gather(*(n.stop() for n in cluster.nodes))


@pytest.fixture
async def cluster(tmp_path: Path, upstream: FaultyUpstream, postgres_url: str, backend: str,
                  request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    """Three nodes sharing PostgreSQL, the ``backend`` store and the policy directory."""
    s3: S3Server | None = request.getfixturevalue("s3_server") if backend == "s3" else None
    made = await start_cluster(tmp_path, upstream.url, postgres_url, s3)
    try:
        yield made
    finally:
        await stop_cluster(made)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session
