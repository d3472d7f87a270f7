"""The cache directory stops accepting writes while the server runs.

Tests run as root here, and root ignores permission bits, so "read-only" is made in ways that hold for
every user: ``tmp/`` replaced by a regular file (no temp file can be created in it), the shard directory
a file would be renamed into replaced by a regular file (the verified file cannot be put in place), and,
for the real server in a subprocess, a file-size limit (RLIMIT_FSIZE, so writes fail with EFBIG like a
full disk). The chmod 0o555 variant runs only where permissions are enforced (not as root).

What is asserted: a cold file request gets a clean, prompt error (a 502/503 with a message before any
byte, or, once streaming has begun, a cut connection) and nothing is cached; meanwhile the server keeps
answering /healthz, cached pages and cached files; once the disk is writable again the file is fetched.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import resource
import shutil
import signal
import stat
import sys
import time
from pathlib import Path

import aiofiles
import aiohttp
import pytest

from ..support.fake_upstream import JSON_TYPE, FakeFile
from .conftest import STATS, MirrorProcess, read_partial, write_config

PROMPT = 2.0  # seconds: an error must come at least this fast (the upstream answers at once)


def permissions_enforced(directory: Path) -> bool:
    probe = directory / "probe"
    probe.mkdir()
    probe.chmod(0o555)
    try:
        (probe / "x").write_bytes(b"")
    except PermissionError:
        return True
    finally:
        probe.chmod(0o755)
        shutil.rmtree(probe)
    return False


@pytest.fixture
def project(upstream):
    cached = upstream.add_file("disk-app", FakeFile("disk_app-1.0.tar.gz", b"cached " * 20000))
    cold = upstream.add_file("disk-app", FakeFile("disk_app-2.0.tar.gz", bytes(range(256)) * 3000))
    return cached, cold


async def get(http: aiohttp.ClientSession, url: str, method: str = "GET", timeout: float = PROMPT, **headers: str):
    """(status or None, body, error): None when no answer came within ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            async with http.request(method, url, headers=headers) as resp:
                body, error = await read_partial(resp)
                return resp.status, body, error
    except TimeoutError:
        return None, b"", TimeoutError(f"no answer within {timeout} s")


async def still_serving(http, mirror, cached: FakeFile) -> None:
    assert (await get(http, mirror.base + "/healthz"))[0] == 200
    status, body, _ = await get(http, mirror.index() + "disk-app/", Accept=JSON_TYPE)
    assert status == 200 and b"disk_app-2.0" in body
    status, body, error = await get(http, f"{mirror.base}/all/files/disk-app/{cached.filename}")
    assert (status, error, body) == (200, None, cached.content)


async def warm(http, mirror, cached: FakeFile) -> None:
    assert (await get(http, mirror.index() + "disk-app/", Accept=JSON_TYPE))[0] == 200
    assert (await get(http, f"{mirror.base}/all/files/disk-app/{cached.filename}"))[0] == 200


def check_cold_answer(method: str, status, body: bytes, error, elapsed: float, full: bytes) -> None:
    STATS["faults injected"] += 1
    assert status is not None, f"{method}: no answer within {PROMPT} s (the request hangs)"
    assert status != 500, body[:300]
    if status == 200 and method == "GET":
        # Streaming had begun when the disk refused: the connection must be cut, never a full body.
        assert error is not None and len(body) < len(full)
        STATS["unverified bytes delivered before the cut"] += len(body)
    else:
        assert status in (502, 503) and (body.strip() or method == "HEAD"), (status, body[:300])
    assert elapsed < PROMPT


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_tmp_dir_replaced_by_a_file(mirror, project, http, method, caplog):
    cached, cold = project
    await warm(http, mirror, cached)
    tmp = mirror.config.storage.path / "tmp"
    shutil.rmtree(tmp)
    tmp.write_bytes(b"not a directory")
    started = time.monotonic()
    status, body, error = await get(http, f"{mirror.base}/all/files/disk-app/{cold.filename}", method)
    check_cold_answer(method, status, body, error, time.monotonic() - started, cold.content)
    assert not mirror.storage.path_for("sha256", cold.sha256).exists()
    await still_serving(http, mirror, cached)

    tmp.unlink()
    tmp.mkdir()
    status, body, error = await get(http, f"{mirror.base}/all/files/disk-app/{cold.filename}")
    assert (status, error) == (200, None) and hashlib.sha256(body).hexdigest() == cold.sha256


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_files_shard_not_writable(mirror, project, http, method):
    cached, cold = project
    await warm(http, mirror, cached)
    final = mirror.storage.path_for("sha256", cold.sha256)
    blocker = final.parent.parent  # files/sha256/<aa>: where the verified file would be renamed into
    assert not blocker.exists() or blocker == mirror.storage.path_for("sha256", cached.sha256).parent.parent
    if blocker.exists():
        pytest.skip("both test files share a shard directory")
    blocker.write_bytes(b"not a directory")
    started = time.monotonic()
    status, body, error = await get(http, f"{mirror.base}/all/files/disk-app/{cold.filename}", method)
    check_cold_answer(method, status, body, error, time.monotonic() - started, cold.content)
    assert mirror.temp_files() == []
    await still_serving(http, mirror, cached)

    blocker.unlink()
    status, body, error = await get(http, f"{mirror.base}/all/files/disk-app/{cold.filename}")
    assert (status, error) == (200, None) and hashlib.sha256(body).hexdigest() == cold.sha256
    assert final.is_file()


@pytest.mark.parametrize("err", [errno.EMFILE, errno.EIO])
async def test_reading_the_temp_file_fails_after_the_headers(mirror, project, http, monkeypatch, err):
    """A client streaming a download reads the temp file through its own descriptor; opening it can fail
    with something other than "not found" (too many open files under a herd, an I/O error). The 200
    headers are out by then: the connection must be cut promptly, not left waiting for a body."""
    cached, cold = project
    await warm(http, mirror, cached)
    real_open = aiofiles.open

    def failing_open(path, mode="r", *args, **kwargs):
        if mode == "rb" and str(path).endswith(".part"):
            raise OSError(err, os.strerror(err), str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(aiofiles, "open", failing_open)
    started = time.monotonic()
    status, body, error = await get(http, f"{mirror.base}/all/files/disk-app/{cold.filename}")
    check_cold_answer("GET", status, body, error, time.monotonic() - started, cold.content)
    await still_serving(http, mirror, cached)


async def test_chmod_read_only_cache(tmp_path, mirror, project, http):
    if not permissions_enforced(tmp_path):
        pytest.skip("running as root: permission bits do not stop writes (the tests above cover this)")
    cached, cold = project
    await warm(http, mirror, cached)
    root = mirror.config.storage.path
    dirs = [root / "tmp", *(p for p in (root / "files").rglob("*") if p.is_dir()), root / "files"]
    modes = {d: stat.S_IMODE(d.stat().st_mode) for d in dirs}
    for d in dirs:
        d.chmod(0o555)
    try:
        started = time.monotonic()
        status, body, error = await get(http, f"{mirror.base}/all/files/disk-app/{cold.filename}")
        check_cold_answer("GET", status, body, error, time.monotonic() - started, cold.content)
        await still_serving(http, mirror, cached)
    finally:
        for d, mode in modes.items():
            d.chmod(mode)


async def test_write_fails_midway_like_a_full_disk(tmp_path, upstream, project, http):
    """The real server with RLIMIT_FSIZE = 1 MiB: writing a 3 MiB file fails with EFBIG halfway."""
    cached, _ = project
    big = upstream.add_file("disk-app", FakeFile("disk_app-3.0.tar.gz", bytes(range(251)) * 12532))  # ~3 MiB
    limit = 1024 * 1024

    def limit_file_size() -> None:  # runs in the child before exec
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    config = write_config(tmp_path / "config.toml", upstream.url)
    server = await MirrorProcess(config, tmp_path / "mirror.log", preexec_fn=limit_file_size).start()
    try:
        await warm(http, server, cached)
        started = time.monotonic()
        status, body, error = await get(http, f"{server.base}/all/files/disk-app/{big.filename}")
        check_cold_answer("GET", status, body, error, time.monotonic() - started, big.content)
        assert [p for p in (tmp_path / "cache" / "files").rglob("*") if p.stat().st_size > limit] == []
        assert list((tmp_path / "cache" / "tmp").iterdir()) == []
        await still_serving(http, server, cached)
        log = (tmp_path / "mirror.log").read_text()
        assert "File too large" in log or "EFBIG" in log or "Errno 27" in log, log[-2000:]
    finally:
        await server.stop()


async def test_storage_path_under_a_regular_file_fails_at_start_with_a_clear_error(tmp_path, upstream):
    (tmp_path / "blocker").write_bytes(b"a file, not a directory")
    config = write_config(tmp_path / "config.toml", upstream.url, storage="blocker/cache")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mirror", "serve", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=tmp_path,
        env=dict(os.environ, NO_PROXY="127.0.0.1"))
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    STATS["faults injected"] += 1
    assert proc.returncode != 0
    assert b"blocker" in err, err[-2000:]
