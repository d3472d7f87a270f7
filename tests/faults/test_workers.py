"""``[server] workers = 2``: two processes share the port, the database and the file cache; they fetch a cold page
or file once between them (leases in the shared SQLite file), and /metrics on either sums both."""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import subprocess

import aiohttp

from .conftest import MirrorProcess, write_config

JSON = "application/vnd.pypi.simple.v1+json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


async def test_two_workers_serve_pages_and_files_and_stop_together(tmp_path, upstream, dists):
    wheel = upstream.add_wheel("shared-app", "1.0", dists)
    config = write_config(tmp_path / "config.toml", upstream.url)
    text = config.read_text().replace("port = 0", f"port = {free_port()}\nworkers = 2")
    config.write_text(text)
    server = await MirrorProcess(config, tmp_path / "mirror.log").start()
    try:
        assert server.proc is not None
        workers = children(server.proc.pid)
        assert len(workers) == 2
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            async def get(url: str, **headers: str) -> tuple[int, bytes]:
                async with http.get(url, headers=headers) as resp:
                    return resp.status, await resp.read()

            upstream.delay, upstream.faults_apply_to = 0.3, "pages"  # the requests overlap at both workers
            pages = await asyncio.gather(*(get(server.index() + "shared-app/", Accept=JSON) for _ in range(20)))
            assert {s for s, _ in pages} == {200} and len({b for _, b in pages}) == 1
            upstream.delay = 0
            upstream.slow_files[wheel.filename] = (4096, 0.01)
            files = await asyncio.gather(*(get(f"{server.base}/all/files/shared-app/{wheel.filename}")
                                           for _ in range(10)))
            assert {s for s, _ in files} == {200}
            assert {hashlib.sha256(b).hexdigest() for _, b in files} == {wheel.sha256}
            # Both workers answered (SO_REUSEPORT spreads connections); /metrics of either counts every request.
            # A request is counted once its answer is sent, just after the client has it: wait until the last
            # one is (bounded), then read /metrics six times.
            for _ in range(50):
                if 'mirror_requests_total{kind="file",status="200",tier="all"} 10.0' in (
                        await get(f"{server.base}/metrics"))[1].decode():
                    break
                await asyncio.sleep(0.1)
            metrics = [(await get(f"{server.base}/metrics"))[1].decode() for _ in range(6)]
        # One fetch between the two workers (a lease in the database), whichever answered.
        assert upstream.count("/simple/shared-app/") == 1
        assert upstream.count(f"/files/{wheel.sha256}/{wheel.filename}", "GET") == 1
        for text in metrics:
            assert 'mirror_requests_total{kind="page",status="200",tier="all"} 20.0' in text
            assert 'mirror_requests_total{kind="file",status="200",tier="all"} 10.0' in text
            # Each file request is a miss (fetched, or waited for the other worker's fetch) or, for a request that
            # arrived after the file landed, a hit: ten in all, at least one miss.
            found = dict(re.findall(r'mirror_cache_results_total\{cache="file",result="(\w+)"\} ([\d.]+)', text))
            assert float(found.get("miss", 0)) >= 1 and sum(map(float, found.values())) == 10, found
    finally:
        await server.stop()
    assert server.proc.returncode == 0
    for pid in workers:
        ps = await asyncio.create_subprocess_exec("ps", "-p", str(pid), stdout=asyncio.subprocess.DEVNULL,
                                                  stderr=asyncio.subprocess.DEVNULL)
        assert await ps.wait() != 0, "worker left running"
