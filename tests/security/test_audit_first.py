"""Issue 9, point 8: audit first, or not at all.

A reviewer command stores its audit records before it replaces the policy file (an atomic rename), and
withdraws them if the rename fails: no outcome leaves a changed policy without its record. A database that
refuses the records leaves the policy unchanged, and the command says so in one line, exit code 1.

The read-only database is real: file or directory permission bits. Tests run as root here, and root ignores
permission bits, so the CLI subprocess then runs without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (dropped
from its capability bounding set before exec): the kernel enforces the bits on it like on any user.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mirror.config import load_config
from mirror.core.errors import ReviewError
from mirror.services.review import ReviewService

from ..support.fake_upstream import FakeUpstream

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


def drop_file_permission_override() -> None:
    """preexec_fn: as root, give up the capabilities that bypass file permission bits (no-op otherwise)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def permissions_enforced(read_only_file: Path) -> bool:
    """Whether a process started like the CLI below is refused writing ``read_only_file``."""
    probe = subprocess.run([sys.executable, "-c", f"open({str(read_only_file)!r}, 'ab')"],
                           preexec_fn=drop_file_permission_override, capture_output=True)
    return probe.returncode != 0


def skip_or_fail(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


async def run_cli(config: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mirror", *args, "--config", str(config), cwd=config.parent,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, preexec_fn=drop_file_permission_override)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def audit_rows(db: Path) -> list[tuple]:
    """The audit table; closing this last connection also checkpoints and removes the WAL files."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT id, action, target FROM audit ORDER BY id").fetchall()
    finally:
        conn.close()


def snapshot(policies: Path) -> dict[str, bytes]:
    """Every file under the policy directory (temporary files included) and its bytes."""
    return {str(p.relative_to(policies)): p.read_bytes() for p in sorted(policies.rglob("*"))
            if p.is_file() and p.name != ".lock"}


@pytest.fixture
async def reviewed(tmp_path: Path, upstream: FakeUpstream, dists: Path):
    """A config with the database in its own directory, one promoted project and its audit record."""
    upstream.add_wheel("audited-app", "1.0", dists)
    upstream.add_wheel("other-app", "1.0", dists)  # promote checks that upstream has it
    upstream.set_owners("audited-app", ["alice"])
    (tmp_path / "db").mkdir()
    config = tmp_path / "config.toml"
    config.write_text(f'[upstream]\nurl = "{upstream.url}"\nconnect_timeout = 2\nread_timeout = 5\n'
                      'page_timeout = 10\n\n[storage]\npath = "cache"\n\n[database]\n'
                      'url = "sqlite+aiosqlite:///db/mirror.db"\n\n[policies]\npath = "policies"\n')
    code, out, err = await run_cli(config, "promote", "audited-app", "--by", "alice", "--note", "ok")
    assert code == 0, err
    db = tmp_path / "db" / "mirror.db"
    assert [(a, t) for _, a, t in audit_rows(db)] == [("promote", "audited-app")]
    assert sorted(p.name for p in db.parent.iterdir()) == ["mirror.db"]  # no WAL file to write into
    return config, tmp_path / "policies", db


def make_read_only(db: Path, what: str) -> None:
    if what == "file":
        db.chmod(0o444)
    else:
        db.parent.chmod(0o555)  # no journal or WAL file can be created next to it


COMMANDS = {
    "promote": ("promote", "other-app", "--by", "bob", "--note", "new"),
    "block": ("block", "audited-app==1.0", "--by", "sec", "--reason", "malicious"),
    "vet": ("vet", "audited-app", "1.0", "--by", "alice", "--note", "diff read"),
    "demote": ("demote", "audited-app", "--by", "alice", "--reason", "unmaintained"),
}


@pytest.mark.parametrize("what", ["file", "directory"])
@pytest.mark.parametrize("command", list(COMMANDS))
async def test_a_read_only_database_leaves_the_policy_unchanged(reviewed, what, command):
    config, policies, db = reviewed
    before_files, before_rows = snapshot(policies), audit_rows(db)
    make_read_only(db, what)
    try:
        if not permissions_enforced(db if what == "file" else db.parent / "probe"):
            skip_or_fail("file permission bits are not enforced for this test's subprocesses")
        code, out, err = await run_cli(config, *COMMANDS[command])
    finally:
        db.chmod(0o644)
        db.parent.chmod(0o755)
    assert code == 1, (out, err)
    assert out == ""
    # (the database's lock of reviewer commands is the first write: it fails first, with the same promise)
    assert err.count("\n") == 1 and err.startswith(("mirror: nothing changed: cannot write to the audit log in ",
                                                     "mirror: nothing changed: cannot lock the audit log in ")), err
    assert "readonly" in err or "unable to open" in err, err
    assert "Traceback" not in err and "[SQL:" not in err
    assert snapshot(policies) == before_files  # not a byte changed, no temporary file left
    assert audit_rows(db) == before_rows
    # Once the database is writable again the same command works, and is recorded.
    code, out, err = await run_cli(config, *COMMANDS[command])
    assert code == 0, err
    assert len(audit_rows(db)) > len(before_rows) and snapshot(policies) != before_files


async def test_a_failed_rename_withdraws_the_records(tmp_path, upstream, monkeypatch):
    from mirror.services.review import files

    (tmp_path / "config.toml").write_text(f'[upstream]\nurl = "{upstream.url}"\n')
    config = load_config(tmp_path / "config.toml")
    upstream.every_name = True  # promote checks that upstream has the project
    async with ReviewService(config) as service:
        await service.promote("renamed-app", "alice", "ok")
        path = service.project_path("renamed-app")
        text, before = path.read_text(), await service.audit_records()

        def failing_replace(src: object, dst: object) -> None:
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(files.os, "replace", failing_replace)
        with pytest.raises(ReviewError, match="nothing changed"):
            await service.block("renamed-app", "sec", "malicious")
        monkeypatch.undo()
        assert path.read_text() == text
        assert await service.audit_records() == before
        assert [p.name for p in path.parent.iterdir()] == [path.name]  # the staged file is gone
        assert stat.S_ISREG(path.stat().st_mode)
