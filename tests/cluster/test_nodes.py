"""Three ``mirror serve`` nodes sharing PostgreSQL, a store (a directory, then a bucket on a real S3-compatible
server) and a policy directory behave as one mirror:

- 100 concurrent requests for one cold file spread over the nodes: exactly one upstream request for the file
  (and one for its project's page);
- the same for a cold page;
- a reviewer command run with node 1's configuration is served by node 3 within 5 s, and every node reports
  the policy version it serves in /healthz;
- kill -9 of the node downloading a file: a client retrying on another node gets the right bytes, and no
  partial file is ever visible in the store;
- /readyz, /metrics and the access log of each node.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sys
import time

import aiohttp

from ..faults.conftest import read_partial
from ..support.fake_upstream import JSON_TYPE, FakeFile
from .conftest import LEASE_TTL, Cluster

SIZE = 4 * 1024 * 1024


async def get(http: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, bytes]:
    async with http.get(url, headers=headers) as resp:
        return resp.status, await resp.read()


def slow_file(upstream, name: str, size: int = SIZE, seed: int = 1) -> FakeFile:  # noqa: ANN001
    """A file of ``name`` upstream streams in 64 KiB pieces every 10 ms (about 0.6 s for 4 MiB)."""
    f = upstream.add_file(name, FakeFile(f"{name.replace('-', '_')}-1.0.tar.gz", random.Random(seed).randbytes(size)))
    upstream.slow_files[f.filename] = (64 * 1024, 0.01)
    return f


async def test_100_concurrent_cold_requests_for_one_file_fetch_it_once(cluster: Cluster, upstream, http):
    f = slow_file(upstream, "herd-file")
    urls = [f"{cluster.nodes[i % 3].base}/all/files/herd-file/{f.filename}" for i in range(100)]
    answers = await asyncio.gather(*(get(http, url) for url in urls))
    assert {status for status, _ in answers} == {200}, cluster.log_text()[-3000:]
    assert {hashlib.sha256(body).hexdigest() for _, body in answers} == {f.sha256}
    assert upstream.count(f"/files/{f.sha256}/", "GET") == 1, cluster.log_text()[-3000:]
    assert upstream.count("/simple/herd-file/") == 1
    assert cluster.visible_files() == [f"sha256/{f.sha256[:2]}/{f.sha256[2:4]}/{f.sha256}"]
    landed = sum(log.read_text().count("file landed file=herd-file/") for log in cluster.logs)
    assert landed == 2  # the two nodes that did not download it streamed it from the store


async def test_100_concurrent_cold_requests_for_one_page_fetch_it_once(cluster: Cluster, upstream, http):
    upstream.add_file("herd-page", FakeFile("herd_page-1.0.tar.gz", b"sdist bytes"))
    upstream.delay, upstream.faults_apply_to = 0.3, "pages"  # a slow upstream: the requests overlap
    urls = [f"{cluster.nodes[i % 3].base}/all/simple/herd-page/" for i in range(100)]
    answers = await asyncio.gather(*(get(http, url, Accept=JSON_TYPE) for url in urls))
    assert {status for status, _ in answers} == {200}
    assert len({body for _, body in answers}) == 1
    assert upstream.count("/simple/herd-page/") == 1


async def test_a_reviewer_command_on_node_1_is_served_by_node_3_within_5_s(cluster: Cluster, upstream, http):
    upstream.add_file("shared-policy", FakeFile("shared_policy-1.0.tar.gz", b"sdist bytes"))
    node1, node3 = cluster.nodes[0], cluster.nodes[2]
    url = f"{node3.base}/reviewed/simple/shared-policy/"
    assert (await get(http, url))[0] == 404
    before = [await health(http, n.base) for n in cluster.nodes]
    assert len({h["policy"]["version"] for h in before}) == 1
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mirror", "promote", "shared-policy", "--by", "alice", "--note", "needed",
        "--config", str(cluster.configs[0]), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=cluster.configs[0].parent)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    done = time.monotonic()
    while (await get(http, url))[0] != 200:
        assert time.monotonic() - done < 5, "node 3 did not serve the promoted project within 5 s"
        await asyncio.sleep(0.05)
    served_after = time.monotonic() - done
    after = [await health(http, n.base) for n in cluster.nodes]
    deadline = time.monotonic() + 5
    while len({h["policy"]["version"] for h in after}) != 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        after = [await health(http, n.base) for n in cluster.nodes]
    versions = {h["policy"]["version"] for h in after}
    assert len(versions) == 1 and versions != {before[0]["policy"]["version"]}
    assert [h["node"] for h in after] == ["node-1", "node-2", "node-3"]
    signal = after[2]["policy"]["last_signal"]
    assert signal["by"] == "alice" and signal["action"] == "promote" and signal["version"] in versions
    print(f"node 3 served the promotion {served_after:.2f} s after the command returned (node 1's config)")
    assert node1.proc is not None  # (node 1 was never asked: the command and node 3 met in the database)
    # One audit log and one demand queue, whichever node saw what: node 3's view of the audit log has node 1's
    # command; the vetted tier asked on nodes 2 and 3 for the project it lacks is counted twice in one queue.
    assert "alice" in await cli(cluster, 2, "audit")
    for node in cluster.nodes[1:]:
        assert (await get(http, f"{node.base}/vetted/simple/shared-policy/"))[0] == 404
    deadline = time.monotonic() + 15
    while not any(line.split()[:4] == ["vetted", "shared-policy", "(any)", "2"] for line in
                  (await cli(cluster, 0, "demand")).splitlines()):
        assert time.monotonic() < deadline, await cli(cluster, 0, "demand")
        await asyncio.sleep(0.5)


async def cli(cluster: Cluster, node: int, *args: str) -> str:
    """``mirror ARGS`` with node ``node``'s configuration; its standard output."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mirror", *args, "--config", str(cluster.configs[node]),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=cluster.configs[node].parent)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def health(http: aiohttp.ClientSession, base: str) -> dict:
    async with http.get(base + "/healthz") as resp:
        assert resp.status == 200
        return await resp.json()


async def test_kill_9_of_the_downloading_node_a_retry_on_another_node_gets_the_right_bytes(cluster: Cluster,
                                                                                         upstream, http):
    f = upstream.add_file("killed", FakeFile("killed-1.0.tar.gz", random.Random(7).randbytes(SIZE)))
    upstream.slow_files[f.filename] = (64 * 1024, 0.02)  # about 1.3 s for the whole file
    first, second = cluster.nodes[0], cluster.nodes[1]
    received = bytearray()
    async with http.get(f"{first.base}/all/files/killed/{f.filename}") as resp:
        assert resp.status == 200
        async for chunk in resp.content.iter_any():
            received += chunk
            if len(received) >= 1024 * 1024:
                break
        assert await first.kill() == -9
        rest, error = await read_partial(resp)
    received += rest
    assert error is not None and len(received) < SIZE  # the client saw the cut
    assert cluster.visible_files() == []  # the dead node's temp file never became visible
    killed_at = time.monotonic()
    status, body = await get(http, f"{second.base}/all/files/killed/{f.filename}")  # the client's retry
    took = time.monotonic() - killed_at
    assert status == 200 and hashlib.sha256(body).hexdigest() == f.sha256
    assert upstream.count(f"/files/{f.sha256}/", "GET") == 2  # the dead node's, then the one that took over
    assert took < LEASE_TTL + 10, took
    assert cluster.visible_files() == [f"sha256/{f.sha256[:2]}/{f.sha256[2:4]}/{f.sha256}"]
    # A third node now serves it from the store, without upstream.
    status, body = await get(http, f"{cluster.nodes[2].base}/all/files/killed/{f.filename}")
    assert status == 200 and hashlib.sha256(body).hexdigest() == f.sha256
    assert upstream.count(f"/files/{f.sha256}/", "GET") == 2
    print(f"retry on another node after kill -9: {took:.2f} s (lease_ttl {LEASE_TTL:g} s)")


async def test_every_node_is_ready_counts_what_it_serves_and_logs_each_request(cluster: Cluster, upstream, http):
    f = slow_file(upstream, "observed", size=256 * 1024)
    for node in cluster.nodes:
        async with http.get(node.base + "/readyz") as resp:
            ready = await resp.json()
            assert resp.status == 200 and ready["status"] == "ready", ready
            assert ready["checks"]["database"]["ok"] and ready["checks"]["store"]["ok"]
    for node in cluster.nodes:
        assert (await get(http, f"{node.base}/all/files/observed/{f.filename}"))[0] == 200
    texts = []
    for node in cluster.nodes:
        async with http.get(node.base + "/metrics") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
            texts.append(await resp.text())
    # Every node served the file; one of them downloaded it, the others waited on its lease or found it stored.
    for text in texts:
        assert 'mirror_requests_total{kind="file",status="200",tier="all"} 1.0' in text
    # Node 1 fetched the page and the file; nodes 2 and 3 found both stored.
    assert 'mirror_cache_results_total{cache="file",result="miss"} 1.0' in texts[0]
    assert 'mirror_upstream_latency_seconds_count{kind="file"} 1.0' in texts[0]
    assert 'mirror_upstream_latency_seconds_count{kind="page"} 1.0' in texts[0]
    for text in texts[1:]:
        assert 'mirror_cache_results_total{cache="file",result="hit"} 1.0' in text
        assert 'mirror_cache_results_total{cache="page",result="hit"} 1.0' in text
        assert "mirror_upstream_latency_seconds_count" not in text
    log = cluster.logs[0].read_text()
    assert f'"GET /all/files/observed/{f.filename}" 200 {256 * 1024} ' in log
    assert "tier=all kind=file cache=miss" in log
