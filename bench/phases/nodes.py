"""Phase "nodes": several mirror nodes acting as one, against the local fake upstream, in one run.

- **Warm-page throughput** of one warm page (a synthetic ``small0``, SMALL_FILES files, PEP 691 JSON, tier
  ``all``) through 1, 2 and 3 nodes sharing one PostgreSQL database and one store directory, and through one
  node on its own SQLite file: wrk on every node at once (CONNS connections split between them) for DURATION,
  requests per second summed. The nodes and wrk share this machine's cores, so more nodes cannot add CPU here:
  the figures show what coordination costs a warm request (nothing: no lease, no database round trip), not how
  far a real cluster of machines scales.
- **Cold herd**: HERD concurrent requests for one never-seen file (HERD_SIZE bytes, upstream answering after a
  0.2 s delay) spread round robin over the 3 PostgreSQL nodes, HERD_ROUNDS times with a new file each time;
  the upstream's own request counts say how many times it was asked for the file and for its page.

PostgreSQL comes from ``NODES_DATABASE_URL`` (else ``MIRROR_TEST_DATABASE_URL``): a role that may create
databases; the phase creates a database of its own and drops it at the end. Without one the phase is skipped
with a note.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import subprocess
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.context import Context
from bench.net import JSON_ACCEPT, http_get
from bench.procs import tail
from bench.results import HerdRound, NodesResult, ThroughputRow
from bench.servers import FakeIndex, Mirror

#: The node counts measured on PostgreSQL, in order.
NODE_COUNTS = (1, 2, 3)
_FILE_DELAY = 0.2


def _admin(url: str, statement: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    async def run() -> None:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def _database(ctx: Context) -> str | None:
    """A fresh PostgreSQL database's URL, or None (after a note) when there is none to use."""
    admin = ctx.settings.nodes_database_url
    if not admin:
        ctx.note("nodes: no PostgreSQL (set NODES_DATABASE_URL or MIRROR_TEST_DATABASE_URL): skipped")
        return None
    try:
        from sqlalchemy.engine import make_url

        name = f"mirror_bench_{uuid.uuid4().hex[:10]}"
        _admin(admin, f'CREATE DATABASE "{name}"')
        return make_url(admin).set(database=name).render_as_string(hide_password=False)
    except Exception as exc:  # no driver, unreachable, refused: the phase cannot run
        ctx.note(f"nodes: cannot create a PostgreSQL database ({type(exc).__name__}: {exc}): skipped")
        return None


def _node(ctx: Context, label: str, fake: FakeIndex, storage: Path, policies: Path, database: str | None,
          name: str, access_log: bool = True) -> Mirror:
    extra = ["prefetch_concurrency = 0", "", "[cluster]", f'node_name = "{name}"']
    if database:
        extra += ["", "[database]", f"url = {json.dumps(database)}"]
    return Mirror(ctx, label, workers=1, upstream=fake.url, storage=storage, policies=policies, extra=tuple(extra),
                  server_extra=() if access_log else ("access_log = false",))


def _wrk(ctx: Context, urls: list[str]) -> tuple[float, int]:
    """wrk on every URL at once (CONNS split between them); (requests/s summed, non-2xx answers)."""
    s = ctx.settings
    conns = max(1, s.conns // len(urls))
    procs = [subprocess.Popen(["wrk", "-t1", f"-c{conns}", f"-d{s.duration}", "-H", f"Accept: {JSON_ACCEPT}", url],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for url in urls]
    rate, bad = 0.0, 0
    for proc in procs:
        out, err = proc.communicate(timeout=s.dur_s + 60)
        found = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if proc.returncode != 0 or not found:
            ctx.note(f"nodes: wrk failed (exit {proc.returncode}): {tail(err or out, 5)}")
            continue
        rate += float(found.group(1))
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        bad += int(non2xx.group(1)) if non2xx else 0
    return rate, bad


def _warm(ctx: Context, nodes: list[Mirror], label: str, database: str) -> ThroughputRow:
    urls = [f"{n.index()}small0/" for n in nodes]
    for url in urls:
        for _ in range(3):
            http_get(url, {"Accept": JSON_ACCEPT})
    ctx.say(f"nodes: wrk on {len(urls)} node(s) ({label}), {ctx.settings.duration}")
    rate, bad = _wrk(ctx, urls)
    return ThroughputRow(nodes=len(nodes), database=database, rps=rate, non2xx=bad)


def _counts(fake: FakeIndex) -> dict[str, int]:
    with urllib.request.urlopen(f"{fake.control}counts", timeout=30) as resp:  # loopback control port
        return json.loads(resp.read())


def _herd(ctx: Context, nodes: list[Mirror], fake: FakeIndex, round_: int) -> HerdRound:
    s = ctx.settings
    project, filename = f"herd{round_}", f"herd{round_}-1.0.tar.gz"
    expected = hashlib.sha256(random.Random(round_).randbytes(s.herd_size)).hexdigest()
    urls = [f"{nodes[i % len(nodes)].base}/all/files/{project}/{filename}" for i in range(s.herd)]

    def fetch(url: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(url, timeout=120) as resp:  # loopback
                return resp.status, hashlib.sha256(resp.read()).hexdigest()
        except OSError as exc:
            return getattr(exc, "code", 0) or 0, ""

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=s.herd) as pool:
        answers = list(pool.map(fetch, urls))
    seconds = time.perf_counter() - started
    counts = _counts(fake)
    file_fetches = sum(n for path, n in counts.items() if path.startswith("/files/") and path.endswith(filename))
    page_fetches = sum(n for path, n in counts.items() if path.rstrip("/") == f"/simple/{project}")
    ok = sum(1 for status, digest in answers if status == 200 and digest == expected)
    ctx.say(f"nodes: herd {round_}: {ok}/{len(answers)} right bytes in {seconds:.2f} s; upstream asked "
            f"{file_fetches}x for the file, {page_fetches}x for the page")
    return HerdRound(requests=len(answers), ok=ok, seconds=seconds, file_fetches=file_fetches,
                     page_fetches=page_fetches)


def run(ctx: Context) -> None:
    s = ctx.settings
    database = _database(ctx)
    if database is None:
        return
    fake = FakeIndex(ctx, ["--big-files", "0", "--small-files", str(s.small_files), "--herd", str(s.herd_rounds),
                           "--herd-size", str(s.herd_size), "--file-delay", str(_FILE_DELAY)],
                     label="fake upstream (nodes)")
    result = NodesResult(small_files=s.small_files, herd_size=s.herd_size, file_delay=_FILE_DELAY)
    started: list[Mirror] = []
    try:
        if not fake.start():
            return
        root = ctx.tmp / "nodes"
        (root / "policies").mkdir(parents=True)
        for access_log in (True, False):
            alone = _node(ctx, "nodes-sqlite" + ("" if access_log else "-quiet"), fake, root / "sqlite-storage",
                          root / "policies", None, "sqlite-1", access_log)
            alone.start()
            started.append(alone)
            label = "sqlite" if access_log else "sqlite, access log off"
            result.throughput.append(_warm(ctx, [alone], label, label))
            alone.stop()
            started.remove(alone)
        shared = root / "shared-storage"
        nodes = [_node(ctx, f"nodes-pg{i}", fake, shared, root / "policies", database, f"node-{i}")
                 for i in range(1, max(NODE_COUNTS) + 1)]
        for node in nodes:
            node.start()
            started.append(node)
        for count in NODE_COUNTS:
            result.throughput.append(_warm(ctx, nodes[:count], "PostgreSQL", "postgresql"))
        for round_ in range(s.herd_rounds):
            result.herd.append(_herd(ctx, nodes, fake, round_))
        ctx.results.nodes = result
    finally:
        for node in started:
            node.stop()
        fake.stop()
        try:
            from sqlalchemy.engine import make_url

            _admin(s.nodes_database_url, f'DROP DATABASE IF EXISTS "{make_url(database).database}" WITH (FORCE)')
        except Exception as exc:  # reported, not fatal: the database is a leftover of a benchmark
            ctx.note(f"nodes: could not drop the benchmark database ({exc})")
