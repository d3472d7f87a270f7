"""How a policy change reaches every node: reviewer commands of any node take one lock in the database and leave a
signal there; every node re-reads its (shared) policy directory on a new signal, even when the file system does
not show the change in its attributes yet (an NFS attribute cache), and reports what it serves. SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from mirror.adapters.db import open_database
from mirror.adapters.db.leases import LeaseTable
from mirror.adapters.policy_dir import load_policies
from mirror.config import Config
from mirror.core.errors import DatabaseError, ReviewError
from mirror.services.leases import Leases, LeaseSettings
from mirror.services.policies import PolicySignal, PolicyStore
from mirror.services.review import ReviewService
from mirror.services.review.audit import POLICY_LOCK, POLICY_SIGNAL

from ..support.databases import settings, with_database
from ..support.mirror_server import make_config

REVIEWED = '[review]\nby = "alice"\nat = 2026-01-01T00:00:00Z\n'


@pytest.fixture
async def table(database_url):
    engine = await open_database(settings(database_url))
    yield LeaseTable(engine)
    await engine.dispose()


def signal_reader(table: LeaseTable):
    async def read() -> PolicySignal | None:
        found = await table.get_value(POLICY_SIGNAL)
        return PolicySignal.decode(*found) if found is not None else None
    return read


def rewrite_keeping_attributes(path: Path, new: str) -> None:
    """Change a file's content without changing its size or mtime: what a node whose NFS attribute cache has not
    expired yet sees of another node's edit."""
    before = path.stat()
    assert len(new.encode()) == before.st_size
    path.write_text(new)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


async def test_a_signal_makes_a_node_reread_what_its_file_system_does_not_show_yet(tmp_path, table):
    directory = tmp_path / "policies"
    (directory / "projects").mkdir(parents=True)
    project = directory / "projects" / "demo.toml"
    project.write_text(REVIEWED.replace("alice", "carol"))
    store = PolicyStore(directory, signal=signal_reader(table))
    store.start()
    first = store.current.version
    assert not await store.signalled()  # no signal yet
    rewrite_keeping_attributes(project, REVIEWED.replace("alice", "dave!"))
    assert not await store.reload_if_changed() and store.current.version == first  # the watcher cannot tell
    version = load_policies(directory).version
    await table.set_value(POLICY_SIGNAL, PolicySignal(version, "dave", "promote").encode())
    assert await store.signalled()
    assert await store.reload_if_changed(force=True)
    assert store.current.version == version != first
    assert store.state.signal is not None and store.state.signal.by == "dave"
    assert not await store.signalled()  # seen, and served


async def test_a_node_keeps_rereading_until_it_serves_the_signalled_version(tmp_path, table):
    directory = tmp_path / "policies"
    (directory / "projects").mkdir(parents=True)
    store = PolicyStore(directory, signal=signal_reader(table))
    store.start()
    await store.signalled()
    await table.set_value(POLICY_SIGNAL, PolicySignal("not-yet-here", "erin", "vet").encode())
    assert await store.signalled()
    await store.reload_if_changed(force=True)
    assert await store.signalled()  # the directory does not show that version yet: look again next time
    (directory / "projects" / "demo.toml").write_text(REVIEWED)
    await table.set_value(POLICY_SIGNAL, PolicySignal(load_policies(directory).version, "erin", "vet").encode())
    assert await store.signalled()
    await store.reload_if_changed(force=True)
    assert not await store.signalled()


async def test_the_signal_found_at_start_up_is_history(tmp_path, table):
    await table.set_value(POLICY_SIGNAL, PolicySignal("an-old-version", "frank", "block").encode())
    store = PolicyStore(tmp_path / "policies", signal=signal_reader(table))
    store.start()
    assert not await store.signalled()  # (the directory may have changed since: a git pull)
    assert not await store.signalled()
    assert store.state.signal is not None and store.state.signal.version == "an-old-version"


async def test_an_unreadable_signal_is_logged_once_and_the_directory_still_watched(tmp_path, caplog):
    async def broken() -> PolicySignal | None:
        raise DatabaseError("database postgresql://mirror:***@db/mirror: connection refused")

    store = PolicyStore(tmp_path / "policies", signal=broken)
    store.start()
    with caplog.at_level(logging.WARNING, logger="mirror.policy"):
        assert not await store.signalled()
        assert not await store.signalled()
    assert sum("cannot read the policy signal" in r.getMessage() for r in caplog.records) == 1
    (tmp_path / "policies" / "projects" / "demo.toml").write_text(REVIEWED)
    assert await store.reload_if_changed()


@pytest.fixture
def config(tmp_path: Path, upstream, database_url) -> Config:  # noqa: ANN001
    base = with_database(make_config(tmp_path, upstream.url), database_url)
    return replace(base, cluster=replace(base.cluster, lease_ttl=1.0, lease_poll=0.05))


async def test_reviewer_commands_of_every_node_take_one_lock_in_the_database(config, table):
    other_node = Leases(table, "node-2/77/abcd", LeaseSettings(ttl=1.0, poll=0.05))
    async with ReviewService(config) as service:
        await service.audit.append_all([])  # the database exists (as once any node has run)
        async with other_node.hold(POLICY_LOCK, wait=1):  # a command running on another machine
            promote = asyncio.ensure_future(service.promote("demo", "alice", "needed", allow_missing=True))
            await asyncio.sleep(0.5)
            assert not promote.done()  # its own directory lock is free: the database lock holds it back
            assert not (config.policies.path / "projects" / "demo.toml").exists()
        outcome = await promote
    assert outcome.file is not None and outcome.file.exists()
    await other_node.close()
    found = await table.get_value(POLICY_SIGNAL)
    assert found is not None
    signal = PolicySignal.decode(*found)
    assert signal is not None and (signal.by, signal.action) == ("alice", "promote")
    assert signal.version == load_policies(config.policies.path).version


async def test_a_command_that_died_holding_the_lock_delays_the_next_one_by_a_lease_period(config, table):
    async with ReviewService(config) as service:
        await service.audit.append_all([])
        assert await table.take(f"{POLICY_LOCK}", "crashed-cli/1/x", ttl=1.0)  # never renewed, never released
        began = asyncio.get_running_loop().time()
        await service.block("evil-package", "alice", "malware")
        waited = asyncio.get_running_loop().time() - began
    assert 0.8 <= waited < 5, waited


async def test_a_lock_held_longer_than_a_command_waits_changes_nothing(config, table, monkeypatch):
    from mirror.services.review import audit

    monkeypatch.setattr(audit, "LOCK_WAIT", 0.3)
    holder = Leases(table, "node-3/1/x", LeaseSettings(ttl=5.0, poll=0.05))
    async with ReviewService(config) as service:
        await service.audit.append_all([])
        async with holder.hold(POLICY_LOCK, wait=1):
            with pytest.raises(ReviewError, match="nothing changed: another process has held 'policy-edit'"):
                await service.block("evil-package", "alice", "malware")
        assert await service.audit_records() == []
    await holder.close()
    assert not (config.policies.path / "projects" / "evil-package.toml").exists()


async def test_without_a_lease_table_a_command_says_nothing_changed(config, database_url):
    async with ReviewService(config) as service:
        await service.audit.append_all([])
        engine = await open_database(settings(database_url))
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE leases"))
        await engine.dispose()
        with pytest.raises(ReviewError, match="nothing changed: cannot lock the audit log in"):
            await service.block("evil-package", "alice", "malware")
    assert not (config.policies.path / "projects" / "evil-package.toml").exists()
