"""The cluster keeps serving when its parts fail (three ``mirror serve`` nodes; a PostgreSQL server of the test's
own that it stops and starts; a real S3-compatible server it freezes and continues):

- database down: warm pages and cached files are still served by every node; a cold page (and a file of it)
  answers 503 with Retry-After, quickly; a reviewer command fails with one line and changes nothing; /readyz
  503 naming the database, /healthz 200; when it returns every node serves cold pages again within seconds,
  and the audit log and the store hold what they held, plus what was fetched after;
- a node started while the database (or the store) is down says what it waits for, answers /readyz 503, and
  serves once it answers;
- store down: pages are still served; new file requests answer 503 with Retry-After; /readyz 503 naming the
  store; when it returns the file is served and only complete, verified files are in the bucket;
- a process that dies holding the reviewers' lock delays the next command by at most a lease period;
- a multi-host database URL (a dead host first) is followed to the live one.

Each test prints what it measured (answers by status, recovery times).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import random
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from mirror.config import StorageConfig

from ..faults.conftest import FaultyUpstream, MirrorProcess, read_partial
from ..support.fake_upstream import JSON_TYPE, FakeFile
from ..support.pg_instance import PgInstance
from ..support.s3_server import S3Server
from .conftest import LEASE_TTL, Cluster, node_config, start_cluster, stop_cluster, storage_section

#: Short timeouts, so that a dependency that does not answer costs seconds, not minutes.
FAST = {"database": {"connect_timeout": 2, "pool_timeout": 3, "statement_timeout": 5},
        "storage": {"connect_timeout": 1, "read_timeout": 2, "attempts": 1},
        "cluster": {"ready_timeout": 1, "retry_after": 3, "reconnect_interval": 1}}
#: The longest a request may take while a dependency is down (the timeouts above, plus a margin).
BOUND = 8.0


@pytest.fixture
def pg() -> AsyncIterator[PgInstance]:
    instance = PgInstance.create()
    yield instance
    instance.destroy()


@pytest.fixture
async def db_cluster(tmp_path: Path, upstream: FaultyUpstream, pg: PgInstance) -> AsyncIterator[Cluster]:
    made = await start_cluster(tmp_path, upstream.url, pg.url, extra=FAST)
    try:
        yield made
    finally:
        await stop_cluster(made)


class Tally:
    """Every answer of a test, by status; the slowest."""

    def __init__(self) -> None:
        self.statuses: collections.Counter[int] = collections.Counter()
        self.slowest = 0.0

    async def get(self, http: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, bytes, dict[str, str]]:
        began = time.monotonic()
        async with http.get(url, headers=headers) as resp:
            body = await resp.read()
            self.statuses[resp.status] += 1
            self.slowest = max(self.slowest, time.monotonic() - began)
            return resp.status, body, dict(resp.headers)

    def server_errors(self) -> dict[int, int]:
        return {code: n for code, n in self.statuses.items() if code >= 500}


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def tree_digest(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): sha(p.read_bytes()) for p in sorted(path.rglob("*")) if p.is_file()}


async def cli(config: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mirror", *args, "--config", str(config), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=config.parent)
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def until(predicate, timeout: float, pause: float = 0.1) -> float:  # noqa: ANN001
    """Seconds until ``await predicate()`` is true; fails after ``timeout``."""
    began = time.monotonic()
    while not await predicate():
        assert time.monotonic() - began < timeout, f"not within {timeout} s"
        await asyncio.sleep(pause)
    return time.monotonic() - began


async def test_database_down_warm_served_cold_503_reviewers_refused_then_recovery_by_itself(
        db_cluster: Cluster, upstream: FaultyUpstream, pg: PgInstance, http: aiohttp.ClientSession):
    cluster, tally = db_cluster, Tally()
    warm = upstream.add_file("warm-one", FakeFile("warm_one-1.0.tar.gz", random.Random(1).randbytes(200_000)))
    cold = upstream.add_file("cold-one", FakeFile("cold_one-1.0.tar.gz", b"cold bytes"))
    late = upstream.add_file("warm-one", FakeFile("warm_one-2.0.tar.gz", random.Random(2).randbytes(50_000)))
    for node in cluster.nodes:
        status, _, _ = await tally.get(http, node.index() + "warm-one/", Accept=JSON_TYPE)
        assert status == 200
        status, body, _ = await tally.get(http, f"{node.base}/all/files/warm-one/{warm.filename}")
        assert status == 200 and sha(body) == warm.sha256
    assert (await cli(cluster.configs[0], "promote", "warm-one", "--by", "alice", "--note", "before"))[0] == 0
    audit_before = pg.psql("SELECT count(*) FROM audit").strip()
    policies_before = tree_digest(cluster.policies)
    store_before = cluster.visible_files()

    pg.stop("fast")
    down_at = time.monotonic()
    for node in cluster.nodes:  # warm pages and cached files: still served, every node
        for _ in range(5):
            status, _, _ = await tally.get(http, node.index() + "warm-one/", Accept=JSON_TYPE)
            assert status == 200
        status, body, _ = await tally.get(http, f"{node.base}/all/files/warm-one/{warm.filename}")
        assert status == 200 and sha(body) == warm.sha256
        # A file of a warm page not fetched yet: fetched without coordination (the database is not needed).
        status, body, _ = await tally.get(http, f"{node.base}/all/files/warm-one/{late.filename}")
        assert status == 200 and sha(body) == late.sha256
    for node in cluster.nodes:  # a cold page, and a file of it: 503 with Retry-After, within the bound
        began = time.monotonic()
        status, body, headers = await tally.get(http, node.index() + "cold-one/", Accept=JSON_TYPE)
        assert (status, headers.get("Retry-After")) == (503, "3"), body
        assert b"database" in body and time.monotonic() - began < BOUND
        status, _, headers = await tally.get(http, f"{node.base}/all/files/cold-one/{cold.filename}")
        assert (status, headers.get("Retry-After")) == (503, "3")
        status, body, _ = await tally.get(http, node.base + "/readyz")
        ready = json.loads(body)
        assert status == 503 and not ready["checks"]["database"]["ok"], ready
        assert "database" in ready["checks"]["database"]["problem"] and ready["checks"]["store"]["ok"]
        assert (await tally.get(http, node.base + "/healthz"))[0] == 200
    assert upstream.count("/simple/cold-one/") == 0  # a cold page is refused before upstream is asked
    code, out, err = await cli(cluster.configs[1], "promote", "cold-one", "--by", "bob", "--note", "during")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "database" in err, (out, err)
    assert tree_digest(cluster.policies) == policies_before  # the command changed nothing
    during = dict(tally.statuses)
    assert tally.server_errors() == {503: 3 * 3}, during  # (cold page, its file, /readyz) on each node
    assert tally.slowest < BOUND

    pg.start()
    up_at = time.monotonic()
    recovered: list[float] = []
    for node in cluster.nodes:
        async def serves(node: MirrorProcess = node) -> bool:
            status, _, _ = await tally.get(http, node.index() + "cold-one/", Accept=JSON_TYPE)
            return status == 200

        await until(serves, 20)
        recovered.append(time.monotonic() - up_at)
        await until(lambda node=node: ready_now(http, node), 10)
    assert max(recovered) < 10, recovered
    code, _, err = await cli(cluster.configs[1], "promote", "cold-one", "--by", "bob", "--note", "after")
    assert code == 0, err
    assert int(pg.psql("SELECT count(*) FROM audit")) == int(audit_before) + 1
    for node in cluster.nodes:
        status, body, _ = await tally.get(http, f"{node.base}/all/files/cold-one/{cold.filename}")
        assert status == 200 and sha(body) == cold.sha256
    store_after = cluster.visible_files()
    assert set(store_before) < set(store_after) and len(store_after) == len(store_before) + 2
    assert 500 not in tally.statuses
    print(f"database down {up_at - down_at:.1f} s: answers during {during}; slowest answer {tally.slowest:.2f} s; "
          f"cold pages served again {', '.join(f'{t:.2f}' for t in recovered)} s after it returned; "
          f"audit {audit_before} -> {int(audit_before) + 1} records; store {len(store_before)} -> {len(store_after)}")


async def ready_now(http: aiohttp.ClientSession, node: MirrorProcess) -> bool:
    async with http.get(node.base + "/readyz") as resp:
        return resp.status == 200


async def test_a_database_that_does_not_answer_costs_a_cold_request_the_timeouts_and_a_warm_one_nothing(
        tmp_path: Path, upstream: FaultyUpstream, pg: PgInstance, http: aiohttp.ClientSession):
    cluster = await start_cluster(tmp_path, upstream.url, pg.url, nodes=1, extra=FAST)
    node, tally = cluster.nodes[0], Tally()
    try:
        upstream.add_file("warm-two", FakeFile("warm_two-1.0.tar.gz", b"sdist"))
        upstream.add_file("cold-two", FakeFile("cold_two-1.0.tar.gz", b"sdist"))
        assert (await tally.get(http, node.index() + "warm-two/", Accept=JSON_TYPE))[0] == 200
        pg.pause()  # connections are accepted, statements sent, nothing answers
        try:
            began = time.monotonic()
            assert (await tally.get(http, node.index() + "warm-two/", Accept=JSON_TYPE))[0] == 200
            warm = time.monotonic() - began
            began = time.monotonic()
            status, _, headers = await tally.get(http, node.index() + "cold-two/", Accept=JSON_TYPE)
            cold = time.monotonic() - began
            assert (status, headers.get("Retry-After")) == (503, "3")
            # The pooled connection's check is abandoned after connect_timeout, a new connection after
            # connect_timeout: the configured bounds, never a hang.
            assert cold < 2 * FAST["database"]["connect_timeout"] + 3, cold
            began = time.monotonic()
            assert not await ready_now(http, node)
            ready = time.monotonic() - began
            assert ready < FAST["cluster"]["ready_timeout"] + 1
        finally:
            pg.resume()
        took = await until(lambda: ready_now(http, node), 20)
        assert (await tally.get(http, node.index() + "cold-two/", Accept=JSON_TYPE))[0] == 200
        assert 500 not in tally.statuses
        print(f"database frozen: warm page {warm * 1000:.0f} ms, cold page 503 after {cold:.2f} s, /readyz 503 "
              f"after {ready:.2f} s; ready again {took:.2f} s after it continued")
    finally:
        await stop_cluster(cluster)


@pytest.mark.parametrize("down", ["database", "store"])
async def test_a_node_started_while_a_dependency_is_down_waits_then_serves(
        tmp_path: Path, upstream: FaultyUpstream, pg: PgInstance, http: aiohttp.ClientSession,
        request: pytest.FixtureRequest, down: str):
    upstream.add_file("started", FakeFile("started-1.0.tar.gz", b"sdist"))
    storage: dict[str, object] = {"path": str(tmp_path / "store")}
    s3: S3Server | None = None
    if down == "store":
        s3 = request.getfixturevalue("s3_server")
        shared = s3.storage_config(StorageConfig(path=tmp_path / "unused"), s3.new_bucket())
        storage = storage_section(tmp_path / "late", shared, s3)
        s3.pause()
    else:
        pg.stop("fast")
    config = node_config(tmp_path / "late" / "config.toml", name="late", upstream_url=upstream.url,
                         database_url=pg.url, policies=tmp_path / "policies", storage=storage, extra=FAST)
    node = MirrorProcess(config, tmp_path / "late" / "mirror.log")
    try:
        await node.start(timeout=30)  # it listens, and /healthz answers 200, without its database or store
        up = "store" if down == "database" else "database"
        async with http.get(node.base + "/healthz") as resp:
            health = await resp.json()
            assert resp.status == 200 and health["status"] == "starting" and list(health["waiting_for"]) == [down]
        async with http.get(node.base + "/readyz") as resp:
            ready = await resp.json()
            assert resp.status == 503 and not ready["checks"][down]["ok"] and ready["checks"][up]["ok"]
        async with http.get(node.index() + "started/") as resp:
            assert resp.status == 503 and resp.headers["Retry-After"] == "3"
        assert f"waiting for the {down}" in node.log.read_text()
        if s3 is not None:
            s3.resume()
        else:
            pg.start()
        took = await until(lambda: ready_now(http, node), 20)
        async with http.get(node.index() + "started/", headers={"Accept": JSON_TYPE}) as resp:
            assert resp.status == 200
        print(f"a node started without its {down} served {took:.2f} s after the {down} returned")
    finally:
        if s3 is not None:
            s3.resume()
        await node.stop()


async def test_store_down_pages_served_new_files_503_then_recovery_and_only_whole_files_stored(
        tmp_path: Path, upstream: FaultyUpstream, s3_server: S3Server, pg: PgInstance, http: aiohttp.ClientSession):
    cluster = await start_cluster(tmp_path, upstream.url, pg.url, s3_server, extra=FAST)
    tally = Tally()
    try:
        first = upstream.add_file("stored", FakeFile("stored-1.0.tar.gz", random.Random(3).randbytes(100_000)))
        second = upstream.add_file("stored", FakeFile("stored-2.0.tar.gz", random.Random(4).randbytes(100_000)))
        upstream.add_file("other", FakeFile("other-1.0.tar.gz", b"other"))
        big = upstream.add_file("stored", FakeFile("stored-3.0.tar.gz", random.Random(5).randbytes(24 * 1024 * 1024)))
        upload = upstream.add_file("stored", FakeFile("stored-4.0.tar.gz", random.Random(6).randbytes(2 * 1024 * 1024)))
        for node in cluster.nodes:
            assert (await tally.get(http, node.index() + "stored/", Accept=JSON_TYPE))[0] == 200
        assert (await tally.get(http, f"{cluster.nodes[0].base}/all/files/stored/{first.filename}"))[0] == 200
        assert (await tally.get(http, f"{cluster.nodes[0].base}/all/files/stored/{big.filename}"))[0] == 200
        # A file streaming from the store when it stops answering, and one being downloaded from upstream (to
        # enter the store at its end): each finishes whole, or the client sees the cut.
        streaming = await http.get(f"{cluster.nodes[1].base}/all/files/stored/{big.filename}")
        head = await streaming.content.read(64 * 1024)
        upstream.slow_files[upload.filename] = (64 * 1024, 0.02)
        downloading = await http.get(f"{cluster.nodes[2].base}/all/files/stored/{upload.filename}")
        first_bytes = await downloading.content.read(64 * 1024)
        s3_server.pause()
        down_at = time.monotonic()
        try:
            outcomes = []
            for resp, got, f in ((streaming, head, big), (downloading, first_bytes, upload)):
                rest, cut = await read_partial(resp)
                resp.release()
                received = got + rest
                whole = cut is None and sha(received) == f.sha256
                assert whole or (cut is not None and len(received) < len(f.content))
                outcomes.append("finished" if cut is None else f"cut after {len(received):,} bytes")
            streamed = " / ".join(outcomes)
            for node in cluster.nodes:
                assert (await tally.get(http, node.index() + "stored/", Accept=JSON_TYPE))[0] == 200
                status, _, headers = await tally.get(http, f"{node.base}/all/files/stored/{second.filename}")
                assert (status, headers.get("Retry-After")) == (503, "3")
                status, body, _ = await tally.get(http, node.base + "/readyz")
                ready = json.loads(body)
                assert status == 503 and not ready["checks"]["store"]["ok"] and ready["checks"]["database"]["ok"]
            # A cold page needs the database and upstream, not the store.
            assert (await tally.get(http, cluster.nodes[1].index() + "other/", Accept=JSON_TYPE))[0] == 200
            during = dict(tally.statuses)
            assert tally.server_errors() == {503: 6}, during
        finally:
            s3_server.resume()
        up_at = time.monotonic()

        async def serves() -> bool:
            status, body, _ = await tally.get(http, f"{cluster.nodes[2].base}/all/files/stored/{second.filename}")
            return status == 200 and sha(body) == second.sha256

        took = await until(serves, 20)
        keys = s3_server.keys(cluster.storage.bucket, cluster.storage.prefix + "files/sha256/")
        client = s3_server.client()
        for key in keys:  # every object is whole and verified: its bytes hash to its name
            body = client.get_object(Bucket=cluster.storage.bucket, Key=key)["Body"].read()
            assert sha(body) == key.rsplit("/", 1)[1]
        assert 3 <= len(keys) <= 4  # (the file downloaded during the outage is there only if its upload landed)
        assert 500 not in tally.statuses
        print(f"store frozen {up_at - down_at:.1f} s: answers {during}; slowest {tally.slowest:.2f} s; a file "
              f"streaming from it / being downloaded: {streamed}; a new file was served {took:.2f} s after it "
              "continued")
    finally:
        await stop_cluster(cluster)


async def test_a_process_dying_with_the_reviewers_lock_delays_the_next_command_by_one_lease_at_most(
        tmp_path: Path, db_cluster: Cluster, upstream: FaultyUpstream, pg: PgInstance):
    cluster = db_cluster
    upstream.add_file("after-crash", FakeFile("after_crash-1.0.tar.gz", b"sdist"))
    holder = await asyncio.create_subprocess_exec(sys.executable, "-c", _HOLD_LOCK, pg.url, str(LEASE_TTL),
                                                  stdout=asyncio.subprocess.PIPE)
    assert holder.stdout is not None
    assert (await asyncio.wait_for(holder.stdout.readline(), 30)).strip() == b"held"
    holder.kill()  # dies holding it (kill -9): nobody releases it, nobody renews it
    await holder.wait()
    killed = time.monotonic()
    code, _, err = await cli(cluster.configs[2], "promote", "after-crash", "--by", "carol", "--note", "after a crash")
    took = time.monotonic() - killed
    assert code == 0, err
    assert took < LEASE_TTL + 10, took
    assert "carol" in (await cli(cluster.configs[0], "audit"))[1]
    print(f"reviewer command after a holder died: {took:.2f} s (lease_ttl {LEASE_TTL:g} s)")


_HOLD_LOCK = """
import asyncio, sys
from mirror.adapters.db.engine import create_engine
from mirror.adapters.db.leases import LeaseTable
from mirror.config import DatabaseConfig
from mirror.services.review.audit import POLICY_LOCK

async def main():
    engine = create_engine(DatabaseConfig(url=sys.argv[1]))
    assert await LeaseTable(engine).take(POLICY_LOCK, "doomed-reviewer", float(sys.argv[2]))
    print("held", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_a_multi_host_database_url_reaches_the_live_host(tmp_path: Path, upstream: FaultyUpstream,
                                                               pg: PgInstance, http: aiohttp.ClientSession):
    upstream.add_file("multi", FakeFile("multi-1.0.tar.gz", b"sdist"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # nothing listens here once closed
    url = (f"postgresql+asyncpg://postgres:{pg.url.split(':')[2].split('@')[0]}@/mirror"
           f"?host=127.0.0.1:{dead}&host=127.0.0.1:{pg.port}&target_session_attrs=read-write")
    config = node_config(tmp_path / "multi" / "config.toml", name="multi", upstream_url=upstream.url,
                         database_url=url, policies=tmp_path / "policies", storage={"path": str(tmp_path / "store")},
                         extra=FAST)
    node = MirrorProcess(config, tmp_path / "multi" / "mirror.log")
    await node.start(timeout=30)
    try:
        await until(lambda: ready_now(http, node), 15)
        async with http.get(node.index() + "multi/", headers={"Accept": JSON_TYPE}) as resp:
            assert resp.status == 200
    finally:
        await node.stop()
