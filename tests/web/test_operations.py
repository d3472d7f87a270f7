"""What operators get from a running mirror: the access log (text and JSON), /metrics, /readyz and /healthz."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace

import pytest

from mirror.config import ServerConfig
from mirror.web.access import ACCESS_LOGGER, MAX_PATH, JsonFormatter

from ..faults.conftest import raw_request
from ..support.databases import drop_postgres_database, with_database
from ..support.fake_upstream import JSON_TYPE, FakeFile
from ..support.mirror_server import MirrorServer, make_config


@pytest.fixture
def access(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    return caplog


def lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == ACCESS_LOGGER]


async def until(condition, timeout: float = 5.0) -> None:  # noqa: ANN001
    """Wait for ``condition()`` (the access line is written just after the response reached the client)."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - a list of log records: nothing to wait on but time
            await asyncio.sleep(0.01)


async def test_one_access_line_per_request_with_status_bytes_duration_tier_kind_and_cache(mirror, upstream, http,
                                                                                        access):
    upstream.add_file("demo-app", FakeFile("demo_app-1.0.tar.gz", b"sdist bytes" * 100))
    bodies = []
    for _ in range(2):
        async with http.get(mirror.index() + "demo-app/", headers={"Accept": JSON_TYPE,
                                                                    "Accept-Encoding": "identity"}) as resp:
            bodies.append(await resp.read())
    async with http.get(mirror.index("vetted") + "demo-app/") as resp:
        assert resp.status == 404
    async with http.get(f"{mirror.base}/all/files/demo-app/demo_app-1.0.tar.gz") as resp:
        assert await resp.read() == b"sdist bytes" * 100
    await until(lambda: len(lines(access)) == 4)
    first, second, refused, file = lines(access)
    assert first.getMessage().startswith('127.0.0.1 "GET /all/simple/demo-app/" 200 ')
    fields = [r.__dict__["access"] for r in (first, second, refused, file)]
    assert [(f["status"], f["tier"], f["kind"], f["cache"]) for f in fields] == [
        (200, "all", "page", "miss"), (200, "all", "page", "hit"), (404, "vetted", "page", "-"),
        (200, "all", "file", "miss")]
    assert [fields[0]["bytes"], fields[1]["bytes"], fields[3]["bytes"]] == [len(bodies[0]), len(bodies[1]), 1100]
    assert all(f["duration_ms"] >= 0 and f["method"] == "GET" for f in fields)
    assert second.getMessage().endswith("tier=all kind=page cache=hit")


async def test_json_log_lines_and_hostile_paths(mirror, access):
    port = int(mirror.base.rsplit(":", 1)[1])
    assert (await raw_request(port, "GET", '/all/simple/"quoted"\x1b[31m/')).status == 400  # refused by the parser
    assert (await raw_request(port, "GET", "/all/simple/%22quoted%22%1B/")).status == 404
    assert (await raw_request(port, "GET", "/all/simple/" + "a" * 5000 + "/")).status == 404
    await until(lambda: len(lines(access)) == 3)
    refused, quoted, long = lines(access)
    # (aiohttp refuses quotes, control characters and non-ASCII in a path; the line escapes them regardless)
    assert refused.getMessage().startswith('127.0.0.1 "UNKNOWN /" 400 ')
    assert refused.getMessage().endswith("tier=- kind=none cache=-")
    assert '"GET /all/simple/%22quoted%22%1B/" 404' in quoted.getMessage()
    assert len(long.__dict__["access"]["path"]) == MAX_PATH + 3 and len(long.getMessage()) < MAX_PATH + 200
    data = json.loads(JsonFormatter().format(quoted))
    assert data["logger"] == ACCESS_LOGGER and data["level"] == "info" and data["status"] == 404
    assert data["path"] == "/all/simple/%22quoted%22%1B/" and data["kind"] == "page" and data["tier"] == "all"
    other = json.loads(JsonFormatter().format(logging.LogRecord("mirror.pages", logging.WARNING, __file__, 1,
                                                                "stale page=%s", ("x",), None)))
    assert other["message"] == "stale page=x" and other["level"] == "warning" and "time" in other


async def test_the_access_log_can_be_off_while_requests_are_still_counted(tmp_path, upstream, http, access):
    config = make_config(tmp_path, upstream.url)
    server = MirrorServer(replace(config, server=replace(config.server, access_log=False)))
    await server.start()
    try:
        for _ in range(3):
            async with http.get(server.base + "/healthz") as resp:
                assert resp.status == 200
        async with http.get(server.base + "/metrics") as resp:
            text = await resp.text()
        assert 'mirror_requests_total{kind="health",status="200",tier="-"} 3.0' in text
    finally:
        await server.stop()
    assert lines(access) == []


async def test_metrics_count_requests_cache_results_refusals_bytes_and_upstream_latency(mirror, upstream, http):
    upstream.add_file("demo-app", FakeFile("demo_app-1.0.tar.gz", b"x" * 1000))
    for _ in range(3):
        async with http.get(mirror.index() + "demo-app/", headers={"Accept": JSON_TYPE}) as resp:
            assert resp.status == 200
    for _ in range(2):
        async with http.get(f"{mirror.base}/all/files/demo-app/demo_app-1.0.tar.gz") as resp:
            assert len(await resp.read()) == 1000
    async with http.get(mirror.index("reviewed") + "demo-app/") as resp:
        assert resp.status == 404
    async with http.get(mirror.index() + "no-such-project/") as resp:
        assert resp.status == 404
    async with http.get(f"{mirror.base}/all/files/demo-app/other-1.0.tar.gz") as resp:
        assert resp.status == 404
        refusal = len(await resp.read())
    await asyncio.sleep(0.1)
    async with http.get(mirror.base + "/metrics") as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await resp.text()
    for expected in (
        'mirror_requests_total{kind="page",status="200",tier="all"} 3.0',
        'mirror_requests_total{kind="file",status="200",tier="all"} 2.0',
        'mirror_requests_total{kind="page",status="404",tier="reviewed"} 1.0',
        'mirror_cache_results_total{cache="page",result="miss"} 2.0',  # demo-app, and no-such-project (a 404)
        'mirror_cache_results_total{cache="file",result="miss"} 1.0',
        'mirror_cache_results_total{cache="file",result="hit"} 1.0',
        'mirror_refusals_total{reason="not_in_tier"} 1.0',
        'mirror_refusals_total{reason="not_found"} 1.0',
        'mirror_refusals_total{reason="file_not_listed"} 1.0',
        f'mirror_served_bytes_total{{kind="file"}} {2000 + refusal:.1f}',
        'mirror_upstream_latency_seconds_count{kind="file"} 1.0',
        'mirror_downloads_in_flight 0.0',
        'mirror_policy_version_info{version=',
        'mirror_policy_reload_errors_total 0.0',
        'mirror_node_info{node=',
    ):
        assert expected in text, expected
    # The page asked for twice more while fresh in memory; and once by the demand queue, checking that upstream has
    # the project the reviewed tier was asked for.
    assert 'mirror_cache_results_total{cache="page",result="hit"} 3.0' in text


async def test_readyz_is_ready_then_not_when_the_store_is_gone(mirror, http):
    async with http.get(mirror.base + "/readyz") as resp:
        ready = await resp.json()
    assert resp.status == 200 and ready["status"] == "ready"
    assert ready["checks"]["database"] == {"ok": True} and ready["checks"]["store"]["ok"]
    assert ready["checks"]["policies"]["ok"] and ready["node"] == mirror.config.node_name
    (mirror.config.storage.path / "files").rename(mirror.config.storage.path / "files-moved")
    await asyncio.sleep(1.1)  # a readiness answer is reused for a second
    async with http.get(mirror.base + "/readyz") as resp:
        answer = await resp.json()
    assert resp.status == 503 and answer["status"] == "not ready"
    assert not answer["checks"]["store"]["ok"] and answer["checks"]["database"]["ok"]
    assert str(mirror.config.storage.path) not in json.dumps(answer)  # no server path for a load balancer
    async with http.get(mirror.base + "/healthz") as resp:
        assert resp.status == 200  # alive all the same: a load balancer stops sending, nothing restarts it


async def test_readyz_is_not_ready_while_the_database_is_unreachable(tmp_path, upstream, http, postgres_url):
    server = MirrorServer(with_database(make_config(tmp_path, upstream.url), postgres_url))
    await server.start()
    try:
        drop_postgres_database(postgres_url)  # (its connections are closed by force)
        async with http.get(server.base + "/readyz") as resp:
            answer = await resp.json()
        assert resp.status == 503 and not answer["checks"]["database"]["ok"]
        assert "mirror-ci-password" not in json.dumps(answer)
        async with http.get(server.base + "/healthz") as resp:
            assert resp.status == 200
    finally:
        await server.stop()


async def test_healthz_names_the_node_and_the_policy_version(tmp_path, upstream, http):
    config = make_config(tmp_path, upstream.url)
    config = replace(config, cluster=replace(config.cluster, node_name="edge-7"))
    server = MirrorServer(config)
    await server.start()
    try:
        async with http.get(server.base + "/healthz") as resp:
            health = await resp.json()
    finally:
        await server.stop()
    assert health["node"] == "edge-7" and health["policy"]["version"] and health["policy"]["last_signal"] is None
    assert ServerConfig().access_log and ServerConfig().log_format == "text"  # the defaults


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_mirror_serve_logs_in_the_configured_format(fmt, capsys):
    from mirror.web.access import configure_logging

    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger(ACCESS_LOGGER).level)
    try:
        configure_logging(ServerConfig(log_format=fmt, log_level="warning"))
        logging.getLogger("mirror.pages").warning("stale page=%s", "demo")
        logging.getLogger("mirror.pages").info("not shown at log_level warning")
        logging.getLogger(ACCESS_LOGGER).info('1.2.3.4 "GET /" 200', extra={"access": {"status": 200, "path": "/"}})
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger(ACCESS_LOGGER).setLevel(saved[2])
    out = capsys.readouterr().err.splitlines()
    assert len(out) == 2  # the access line is written whatever log_level says
    if fmt == "json":
        first, access = (json.loads(line) for line in out)
        assert first["message"] == "stale page=demo" and first["logger"] == "mirror.pages"
        assert access["status"] == 200 and access["path"] == "/" and "message" not in access
    else:
        assert out[0].endswith("WARNING mirror.pages: stale page=demo")
        assert out[1].endswith('INFO mirror.access: 1.2.3.4 "GET /" 200')
