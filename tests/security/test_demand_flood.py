"""Issue 9, point 12: the demand queue cannot be flooded.

Names upstream does not have never enter the queue: a name is counted only once upstream is known to have
it, which a background resolver finds out (through the page cache, a bounded number of names a second),
never the 404 itself. The queue's memory and its table are bounded (``[demand] max_rows``, the least
requested, then longest unrequested, rows dropped).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import string
import sys
import time
from pathlib import Path

import aiohttp

from mirror.adapters.db import open_database
from mirror.adapters.db.audit import DemandLog
from mirror.config import DatabaseConfig
from mirror.services.demand import DemandRecorder, Limits

from ..faults.conftest import MirrorProcess, write_config
from ..support.policies import PolicyDir, review, wait_until

FLOOD = 40_000
CONCURRENCY = 48
FLOOD_DEADLINE = 240.0  # seconds; the flood takes well under a minute here


def random_name(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=12)) + "-" + str(rng.randrange(10**6))


def db_state(db: Path) -> tuple[list[tuple], list[str], int]:
    """(demand rows, page keys, bytes of the database and its WAL)."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT tier, project, version, count FROM demand ORDER BY tier, project").fetchall()
        keys = [k for (k,) in conn.execute("SELECT key FROM pages ORDER BY key")]
    finally:
        conn.close()
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    return rows, keys, size


async def demand_output(config: Path) -> list[str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mirror", "demand", "--config", str(config), cwd=config.parent,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode().splitlines()


async def test_forty_thousand_random_names_do_not_grow_the_queue(tmp_path, upstream, dists):
    for name in ("wanted-lib", "later-lib", "known-lib"):
        upstream.add_wheel(name, "1.0", dists)
    policies = PolicyDir(tmp_path / "policies")
    policies.write_project("known-lib", review())
    config = write_config(tmp_path / "config.toml", upstream.url)
    config.write_text(config.read_text().replace('log_level = "info"', 'log_level = "warning"'))
    server = await MirrorProcess(config, tmp_path / "mirror.log").start()
    db = tmp_path / "cache" / "mirror.db"
    rng = random.Random(12)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as http:
            async def get(path: str) -> int:
                async with http.get(server.base + path) as resp:
                    await resp.read()
                    return resp.status

            assert await get("/all/simple/known-lib/") == 200
            rows, pages_before, size_before = db_state(db)
            assert rows == []
            paths = []
            for i in range(FLOOD):
                name = random_name(rng)
                paths.append([f"/reviewed/simple/{name}/", f"/vetted/simple/{name}/",
                              f"/vetted/files/{name}/{name.replace('-', '_')}-1.0.tar.gz",
                              f"/reviewed/files/known-lib/known_lib-{i}.0-py3-none-any.whl"][i % 4])
            for at in (FLOOD // 4, FLOOD // 2, 3 * FLOOD // 4):  # a real project, asked for during the flood
                paths[at:at] = ["/reviewed/simple/wanted-lib/"] * 3
            queue = iter(paths)
            statuses: list[int] = []

            async def client() -> None:
                for path in queue:
                    statuses.append(await get(path))

            started = time.monotonic()
            upstream.reset_log()
            await asyncio.wait_for(asyncio.gather(*(client() for _ in range(CONCURRENCY))), FLOOD_DEADLINE)
            elapsed = time.monotonic() - started
            assert len(statuses) == FLOOD + 9 and set(statuses) == {404}
            # After the flood, a project asked for once is counted too.
            assert await get("/reviewed/simple/later-lib/") == 404
            await wait_until(lambda: {r[1] for r in db_state(db)[0]} == {"wanted-lib", "later-lib"},
                             "both real projects in the demand table", deadline=30, interval=0.5)
        checks = upstream.count("/simple/")
    finally:
        await server.stop()

    rows, pages_after, size_after = db_state(db)
    assert rows == [("reviewed", "later-lib", "", 1), ("reviewed", "wanted-lib", "", 9)]
    lines = await demand_output(config)
    assert len(lines) == 3 and "wanted-lib" in lines[1] and "later-lib" in lines[2], lines
    assert set(pages_after) - set(pages_before) <= {"wanted-lib", "later-lib"}  # no random name stored
    assert size_after - size_before < 256 * 1024, (size_before, size_after)
    # Upstream was asked about a bounded number of names: at most 10 a second, not one per request.
    assert checks <= 10 * (elapsed + 31) + 10, (checks, elapsed)
    print(f"\n{FLOOD} requests in {elapsed:.1f} s; {checks} upstream checks; "
          f"database {size_before} -> {size_after} bytes")


async def test_the_demand_table_is_capped_least_requested_dropped(database_url):
    engine = await open_database(DatabaseConfig(url=database_url))
    try:
        log = DemandLog(engine, max_rows=10)
        await log.add({("reviewed", f"p{i:02d}", ""): (i + 1, 1000.0 + i) for i in range(30)})
        assert sorted(e.project for e in await log.entries()) == [f"p{i:02d}" for i in range(20, 30)]
        await log.add({("reviewed", "new", ""): (1, 5000.0)})  # the least requested goes
        assert "new" not in {e.project for e in await log.entries()} and len(await log.entries()) == 10
        await log.add({("reviewed", "popular", ""): (100, 5000.0), ("reviewed", "p25", ""): (50, 5000.0)})
        entries = await log.entries()
        assert len(entries) == 10 and [e.project for e in entries[:2]] == ["popular", "p25"]
        assert "p20" not in {e.project for e in entries}
    finally:
        await engine.dispose()


class Sink:
    def __init__(self) -> None:
        self.batches: list[dict] = []

    async def add(self, counts) -> None:
        self.batches.append(dict(counts))


async def test_the_recorder_counts_only_names_upstream_has_and_stays_bounded():
    real = {"real-one", "real-two"}
    asked: list[str] = []

    async def exists(project: str) -> bool | None:
        asked.append(project)
        return None if project == "flaky" else project in real

    sink = Sink()
    recorder = DemandRecorder(sink, exists, limits=Limits(candidates=100, checks_per_second=1000.0))
    for i in range(5000):  # a flood: far more names than the recorder keeps
        recorder.record("reviewed", f"random-{i}")
    assert len(recorder._candidates) == 100
    for _ in range(3):
        recorder.record("reviewed", "real-one")
    recorder.record("vetted", "real-one", "1.0")
    recorder.record("reviewed", "flaky")
    recorder.record("vetted", "known", "2.0", exists=True)  # the caller has its page: counted at once
    task = asyncio.ensure_future(recorder.run(interval=0.05))
    try:
        await wait_until(lambda: not recorder._candidates, "every candidate checked")
        recorder.record("reviewed", "real-two")
        await asyncio.sleep(0.3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    counted: dict = {}
    for batch in sink.batches:
        for key, (count, _) in batch.items():
            counted[key] = counted.get(key, 0) + count
    assert counted == {("reviewed", "real-one", ""): 3, ("vetted", "real-one", "1.0"): 1,
                       ("vetted", "known", "2.0"): 1, ("reviewed", "real-two", ""): 1}
    assert asked[0] == "real-one"  # the most requested name is checked first
    assert len(asked) <= 100 + 3
    recorder.record("reviewed", "random-4999")  # known absent now: not even a candidate
    assert "random-4999" not in recorder._candidates
