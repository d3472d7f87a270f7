"""SIGKILL of the real server in the middle of a download, and the restart after it.

``python -m mirror serve`` runs as a subprocess against the fake upstream (which lives in the test's
event loop). The upstream serves a 5 MB file slowly (64 KiB every 20 ms); once a client has received
1 MB through the mirror, the server is killed with SIGKILL: no cleanup code runs.

After the kill: nothing is visible in ``files/`` (a ``tmp/*.part`` left by the dead process is allowed).
After the restart: the leftovers in ``tmp/`` are gone, the SQLite database passes an integrity check,
the page is served from it (upstream down: it cannot come from anywhere else), and the download then
completes with the right sha256.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3

import pytest

from mirror.adapters.spool import host_token

from ..support.fake_upstream import JSON_TYPE, FakeFile
from .conftest import STATS, MirrorProcess, read_partial, write_config

SIZE = 5 * 1024 * 1024
CHUNK, PAUSE = 64 * 1024, 0.02  # 80 chunks: about 1.6 s for the whole file


@pytest.fixture
async def processes():
    started: list[MirrorProcess] = []
    yield started
    for proc in started:
        await proc.stop()


async def test_sigkill_mid_download_then_restart(tmp_path, upstream, http, processes):
    blob = random.Random(5).randbytes(SIZE)
    f = upstream.add_file("big-dist", FakeFile("big_dist-1.0.tar.gz", blob))
    upstream.slow_files[f.filename] = (CHUNK, PAUSE)
    config = write_config(tmp_path / "config.toml", upstream.url)
    # The killed process's lease on the file expires before the restarted one takes the download over.
    config.write_text(config.read_text() + "\n[cluster]\nlease_ttl = 2\n")
    cache = tmp_path / "cache"
    log = tmp_path / "mirror.log"

    first = await MirrorProcess(config, log).start()
    processes.append(first)
    page_url = f"{first.base}/all/simple/big-dist/"
    async with http.get(page_url, headers={"Accept": JSON_TYPE}) as resp:
        assert resp.status == 200
        page = await resp.read()

    received = bytearray()
    async with http.get(f"{first.base}/all/files/big-dist/{f.filename}") as resp:
        assert resp.status == 200 and resp.content_length == SIZE
        async for chunk in resp.content.iter_any():
            received += chunk
            if len(received) >= 1024 * 1024:
                break
        assert await first.kill() == -9
        STATS["faults injected"] += 1
        rest, error = await read_partial(resp)
    received += rest
    assert error is not None and len(received) < SIZE  # the client saw the cut, not a short "complete" file
    assert blob.startswith(bytes(received))

    assert [p for p in (cache / "files").rglob("*") if p.is_file()] == []
    leftovers = sorted(p.name for p in (cache / "tmp").iterdir())
    assert all(name.startswith(f"{host_token()}.{first.proc.pid}.") and name.endswith(".part")
               for name in leftovers), leftovers

    second = await MirrorProcess(config, log).start()
    processes.append(second)
    assert list((cache / "tmp").iterdir()) == []
    with sqlite3.connect(cache / "mirror.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert ("big-dist",) in db.execute("SELECT key FROM pages").fetchall()

    await upstream.down()
    async with http.get(f"{second.base}/all/simple/big-dist/", headers={"Accept": JSON_TYPE}) as resp:
        assert resp.status == 200 and "X-Mirror-Stale" not in resp.headers
        assert await resp.read() == page
    await upstream.up()
    upstream.reset_log()
    async with http.get(f"{second.base}/all/files/big-dist/{f.filename}") as resp:
        assert resp.status == 200
        body = await resp.read()
    assert hashlib.sha256(body).hexdigest() == f.sha256
    assert upstream.count("/simple/") == 0  # the page still came from the database
    assert [p.name for p in (cache / "files").rglob("*") if p.is_file()] == [f.sha256]
    assert "removed 1 partial download" in log.read_text() or not leftovers
