"""How long the UI's pages, the JSON API and the admin API reads take when warm, with 10,000 policy files.

    python -m bench.ui_pages [--policies 10000] [--releases 300] [--requests 40]   (from the repository root)

Starts the fake upstream (one project of ``--releases`` releases, a wheel and an sdist each) and the mirror in
this process, writes ``--policies`` policy files (every other one reviewed, one in ten vetted, one in fifty
blocked), 10,000 audit records and 10,000 demand counters, warms every page, then times ``--requests``
sequential requests of each on a kept-alive connection, anonymous and logged in. Prints the median, p95 and
max in milliseconds; the target is every page under 100 ms warm. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from mirror.adapters.db.audit import AuditLog, AuditRecord, DemandLog  # noqa: E402
from mirror.web.lifecycle import ENGINE  # noqa: E402
from tests.support.fake_upstream import FakeFile, FakeUpstream  # noqa: E402
from tests.support.mirror_server import MirrorServer  # noqa: E402
from tests.support.policies import PolicyDir, block, review, vetted  # noqa: E402
from tests.support.webface import browser_session, login, make_token, web_config  # noqa: E402

BIG = "big-project"
TARGET_MS = 100.0


def write_policies(directory: PolicyDir, count: int) -> None:
    for i in range(count):
        name = f"project-{i:05d}"
        tables = []
        if i % 2 == 0:
            tables.append(review())
        if i % 10 == 0:
            tables.append(vetted("1.0", {f"project_{i:05d}-1.0-py3-none-any.whl": "a" * 64}))
        if i % 50 == 0:
            tables.append(block(reason="benchmark"))
        directory.write_project(name, *tables)
    directory.write_project(BIG, review(), vetted("1.10", {"big_project-1.10-py3-none-any.whl": "b" * 64}))


def add_big_project(upstream: FakeUpstream, releases: int) -> None:
    old = datetime.now(UTC) - timedelta(days=60)
    for i in range(releases):
        version = f"1.{i}"
        when = old + timedelta(hours=i)
        for filename in (f"big_project-{version}-py3-none-any.whl", f"big_project-{version}.tar.gz"):
            upstream.add_file(BIG, FakeFile(filename, f"{filename} bytes".encode(), upload_time=when))
    upstream.set_owners(BIG, ["alice", "bob"])


async def fill_database(server: MirrorServer) -> None:
    engine = server.app[ENGINE]
    now = time.time()
    await AuditLog(engine).append_all([
        AuditRecord(now - 10_000 + i, ("alice", "bob", "carol")[i % 3], "promote", f"project-{i % 10_000:05d}",
                    None, "[review]", f"note {i}") for i in range(10_000)])
    await DemandLog(engine).add({("reviewed", f"wanted-{i:05d}", ""): (1 + i % 97, now - i) for i in range(10_000)})


async def timed(http: aiohttp.ClientSession, url: str, count: int) -> list[float]:
    for _ in range(3):  # warm: pages fetched, decided, templates compiled
        async with http.get(url) as resp:
            assert resp.status == 200, (url, resp.status)
            await resp.read()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        async with http.get(url) as resp:
            await resp.read()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", type=int, default=10_000)
    parser.add_argument("--releases", type=int, default=300)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        policies = PolicyDir(base / "policies")
        started = time.perf_counter()
        write_policies(policies, args.policies)
        print(f"wrote {args.policies} policy files in {time.perf_counter() - started:.1f} s")
        upstream = FakeUpstream()
        await upstream.start()
        add_big_project(upstream, args.releases)
        server = await MirrorServer(web_config(base, upstream.url)).start()
        try:
            await fill_database(server)
            token = await make_token(server.app, "bench", "admin")
            pages = ["/", "/all/", "/reviewed/", f"/ui/projects/{BIG}", f"/ui/projects/{BIG}?page=10",
                     f"/ui/projects/{BIG}/1.150", "/ui/search", "/ui/search?q=project-0", "/ui/search?q=42",
                     "/ui/demand", "/ui/demand?page=100", "/ui/audit", "/ui/audit?actor=bob",
                     "/ui/audit?project=project-00042", f"/all/pypi/{BIG}/json", f"/reviewed/pypi/{BIG}/json",
                     f"/all/pypi/{BIG}/1.5/json", "/api/v1/openapi.json"]
            rows = []
            async with aiohttp.ClientSession() as anonymous, browser_session() as reviewer:
                await login(reviewer, server.base, token)
                for who, http, paths in (("anonymous", anonymous, pages),
                                         ("logged in", reviewer, pages[:14] + ["/api/v1/projects/big-project",
                                                                              "/api/v1/audit", "/api/v1/demand"])):
                    for path in paths:
                        samples = sorted(await timed(http, server.base + path, args.requests))
                        p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
                        rows.append((who, path, statistics.median(samples), p95, samples[-1]))
        finally:
            await server.stop()
            await upstream.stop()
    width = max(len(r[1]) for r in rows)
    print(f"{'who':10s} {'page':{width}s} {'median':>8s} {'p95':>8s} {'max':>8s}   (ms, warm, sequential)")
    for who, path, median, p95, worst in rows:
        mark = "" if p95 < TARGET_MS else f"   over {TARGET_MS:.0f} ms"
        print(f"{who:10s} {path:{width}s} {median:8.1f} {p95:8.1f} {worst:8.1f}{mark}")
    slow = [r for r in rows if r[3] >= TARGET_MS]
    print(f"every page p95 < {TARGET_MS:.0f} ms: {'met' if not slow else f'not met ({len(slow)} pages)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
