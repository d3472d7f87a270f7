"""The services of the rules from evidence: the JSON API advisories on the revalidating cache (fake upstream, real
SQLite, fake clock), the advisory change log, waivers expiring in the log, ``mirror waive``, and the dry run's
comparison and its git baseline."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mirror.adapters.db import PageStore, open_database
from mirror.adapters.db.advisories import AdvisoryStore
from mirror.adapters.db.tables import json_api_documents
from mirror.adapters.policy_git import load_policies_at
from mirror.adapters.upstream import Timeouts, open_upstream
from mirror.core.advisories import Advisory, parse_osv
from mirror.core.errors import PolicyError, ReviewError
from mirror.core.models import DistFile, ProjectDetail, Tier
from mirror.core.policy.load import parse_project
from mirror.core.policy.model import PolicySet
from mirror.core.tiers import Evidence
from mirror.services.advisories import AdvisoryService
from mirror.services.cache import CachePolicy
from mirror.services.cpu import CpuLane
from mirror.services.json_documents import JsonDocuments
from mirror.services.review import ReviewService
from mirror.services.waivers import WaiverLog
from mirror.services.whatif import WhatIf, compare_project, projects_to_compare

from ..support.databases import settings
from ..support.fake_upstream import FakeUpstream
from ..support.mirror_server import make_config
from ..support.policies import PolicyDir, review, vetted

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = await open_database(settings(database_url))
    yield engine
    await engine.dispose()


@pytest.fixture
async def service(engine: AsyncEngine, upstream: FakeUpstream) -> AsyncIterator[tuple[AdvisoryService, list[str]]]:
    client = open_upstream(upstream.url, Timeouts(2, 2, 5), 1 << 24)
    cpu = CpuLane()
    changed: list[str] = []
    clock = Clock()
    documents = JsonDocuments(client, upstream.url, PageStore(engine, json_api_documents),
                              CachePolicy(ttl=600, retry_after=60, not_found_ttl=600), cpu, clock=clock)
    svc = AdvisoryService(AdvisoryStore(engine), documents, on_change=changed.append, clock=clock)
    await svc.start()
    yield svc, changed
    await svc.close()
    await documents.close()
    await client.close()
    cpu.close()


# -- the JSON API -------------------------------------------------------------------------------------


async def test_json_api_vulnerabilities_are_read_once_and_kept_per_release(
        service: tuple[AdvisoryService, list[str]], upstream: FakeUpstream, dists: Path) -> None:
    svc, changed = service
    upstream.add_wheel("demo", "1.0", dists)
    upstream.json_api_padding, upstream.json_api_chunk = 400_000, 16 * 1024  # big, chunked, decoded off the loop
    upstream.set_vulnerabilities("demo", [{"id": "PYSEC-2026-1", "fixed_in": ["1.1"]}])
    found = await svc.for_project("demo")
    assert [(h.advisory.id, h.fixed) for h in found.hits("demo", "1.0")] == [("PYSEC-2026-1", "1.1")]
    assert changed == ["demo"]
    # fresh: no second request
    assert (await svc.for_project("demo")).hits("demo", "1.0") and upstream.count("/pypi/demo/json") == 1
    # a new release: its document no longer names 1.0, what it said about 1.0 is kept
    upstream.add_wheel("demo", "1.1", dists)
    upstream.set_vulnerabilities("demo", [])
    svc.documents.forget("demo")
    found = await svc.for_project("demo")
    assert found.hits("demo", "1.0") and not found.hits("demo", "1.1")


async def test_a_missing_or_broken_json_api_is_no_advisory(
        service: tuple[AdvisoryService, list[str]], upstream: FakeUpstream, dists: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    svc, changed = service
    upstream.add_wheel("demo", "1.0", dists)
    upstream.json_api = False
    assert not await svc.for_project("demo") and changed == []
    upstream.json_api = True
    upstream.add_wheel("other", "1.0", dists)
    upstream.set_vulnerabilities("other", [{"id": "not an id!"}])
    caplog.set_level(logging.INFO, logger="mirror")
    assert not await svc.for_project("other")
    assert any("malformed vulnerabilities" in r.getMessage() for r in caplog.records)
    # json_api=False reads the database only
    await svc.for_project("third", json_api=False)
    assert upstream.count("/pypi/third/json") == 0


def mal(aid: str, name: str, **top: object) -> Advisory:
    return parse_osv({"id": aid, "modified": "2026-01-01T00:00:00Z", **top, "affected": [
        {"package": {"ecosystem": "PyPI", "name": name}, "ranges": [{"type": "ECOSYSTEM",
                                                                    "events": [{"introduced": "0"}]}]}]})


async def test_the_change_log_re_decides_and_tracks_projects_malware_covers(
        engine: AsyncEngine, service: tuple[AdvisoryService, list[str]]) -> None:
    svc, changed = service
    reports: list[str] = []

    async def on_malware(report: Advisory) -> None:
        reports.append(report.id)

    svc.on_malware = on_malware
    revision = svc.revision
    await AdvisoryStore(engine).import_osv([mal("MAL-2026-1", "evil"), mal("GHSA-aaaa", "fine")])
    assert await svc.check_changes() == {"evil", "fine"}
    assert set(changed) == {"evil", "fine"} and reports == ["MAL-2026-1"]
    assert svc.quarantined == frozenset({"evil"}) and svc.revision == revision + 1
    assert (await svc.for_project("evil", json_api=False)).everywhere("evil") is not None
    later = parse_osv({"id": "MAL-2026-1", "modified": "2026-03-01T00:00:00Z", "withdrawn": "2026-03-01T00:00:00Z",
                       "affected": [{"package": {"ecosystem": "PyPI", "name": "evil"}}]})
    await AdvisoryStore(engine).import_osv([later])
    assert "evil" in await svc.check_changes()
    assert svc.quarantined == frozenset() and svc.revision == revision + 2


# -- waivers in the log ------------------------------------------------------------------------------


def test_waivers_are_logged_when_they_expire(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mirror.waivers")
    text = "\n".join(f'[[waiver]]\nversion = "{v}"\nrule = "cooldown"\nuntil = {until}\nreason = "r"\nby = "alice"\n'
                     for v, until in (("1.0", "2026-11-26T00:00:00Z"), ("0.9", "2026-01-01T00:00:00Z")))
    policies = PolicySet(projects={"demo": parse_project(text, "demo.toml", "demo")})
    log = WaiverLog()
    assert log.look(policies, NOW) == datetime(2026, 11, 26, tzinfo=UTC)
    assert [r.levelname for r in caplog.records] == ["INFO"]  # expired before: it can be removed
    assert log.look(policies, NOW + timedelta(days=2)) is None
    expired = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(expired) == 1 and "waiver expired: demo==1 is held by its cooldown rule again" in expired[0]
    log.look(policies, NOW + timedelta(days=3))
    assert len(caplog.records) == 2  # once


# -- mirror waive --------------------------------------------------------------------------------------


async def test_waive_writes_the_file_and_the_audit_log_and_refuses_what_makes_no_sense(
        tmp_path: Path, upstream: FakeUpstream) -> None:
    config = make_config(tmp_path, upstream.url)
    async with ReviewService(config, clock=lambda: NOW) as svc:
        outcome = await svc.waive("Demo==1.0.0", "vulnerability", "2026-12-01", "alice", "not reachable",
                                  advisory="GHSA-aaaa-bbbb-cccc")
        assert "until 2026-12-01 00:00 UTC" in outcome.lines[0] and "not reviewed" in outcome.lines[1]
        policy = parse_project(outcome.file.read_text(), "demo.toml", "demo") if outcome.file else None
        assert policy is not None and policy.waivers[0].advisory == "GHSA-aaaa-bbbb-cccc"
        assert policy.waivers[0].until == datetime(2026, 12, 1, tzinfo=UTC)
        records = await svc.audit_records("demo")
        assert [(r.action, r.target, r.note) for r in records] == [("waive", "demo==1.0.0", "not reachable")]
        assert 'id = "GHSA-aaaa-bbbb-cccc"' in (records[0].after or "")
        for args, problem in [
            (("demo", "cooldown", "2026-12-01"), "give PROJECT==VERSION"),
            (("demo==1.0", "malware", "2026-12-01"), "malware cannot be waived"),
            (("demo==1.0", "cooldown", "2026-11-01"), "not in the future"),
            (("demo==1.0", "cooldown", "next week"), "give a date"),
        ]:
            with pytest.raises(ReviewError, match=problem):
                await svc.waive(*args, by="alice", reason="r")
        with pytest.raises(ReviewError, match="only with --rule vulnerability"):
            await svc.waive("demo==1.0", "license", "2026-12-01", "alice", "r", advisory="PYSEC-1")
        with pytest.raises(ReviewError, match="cannot be waived"):  # the loader's rule, before any write
            await svc.waive("demo==1.0", "vulnerability", "2026-12-01", "alice", "r", advisory="MAL-2026-1")
        assert len(await svc.audit_records("demo")) == 1


# -- the dry run ---------------------------------------------------------------------------------------


def wheel(version: str) -> DistFile:
    return DistFile(f"demo-{version}-py3-none-any.whl", f"https://up.example/demo-{version}.whl",
                    {"sha256": (version.encode().hex() * 64)[:64]}, upload_time=NOW - timedelta(days=60))


DETAIL = ProjectDetail(name="demo", files=(wheel("1.0"), wheel("2.0")))


def policy_set(*tables: str) -> PolicySet:
    return PolicySet(projects={"demo": parse_project("\n".join(tables), "demo.toml", "demo")} if tables else {})


def test_the_dry_run_names_projects_releases_and_files() -> None:
    result = WhatIf()
    pins = {wheel("1.0").filename: wheel("1.0").sha256 or "", wheel("2.0").filename: wheel("2.0").sha256 or ""}
    served = policy_set(review(), vetted("1.0", {wheel("1.0").filename: pins[wheel("1.0").filename]}))
    proposed = policy_set(review(versions="<2"))
    compare_project(result, "demo", DETAIL, Evidence(), served, proposed, NOW)
    assert [c.line() for c in result.changes] == [
        "  - release demo 2.0 (1 file(s)): version 2.0 is outside the reviewed range <2",
        "  - project demo: no release of this project is vetted"]
    assert [c.tier for c in result.changes] == [Tier.REVIEWED, Tier.VETTED] and result.disappears
    appear = WhatIf()
    compare_project(appear, "demo", None, Evidence(), policy_set(), policy_set(review()), NOW)
    assert [(c.tier, c.kind, c.appears) for c in appear.changes] == [(Tier.REVIEWED, "project", True)]
    assert not appear.disappears and appear.without_page == ["demo"]
    # only projects whose policy differs are compared, unless tiers.toml differs
    assert projects_to_compare(served, served, ["other"]) == []
    assert projects_to_compare(served, proposed, ["other"]) == ["demo"]


def test_a_git_baseline(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    work = PolicyDir(repo / "policies")
    work.write_project("demo", review())
    (repo / "README").parent.mkdir(parents=True, exist_ok=True)
    (repo / "README").write_text("x")

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q")
    git("add", "README")
    git("-c", "user.name=t", "-c", "user.email=t@t.example", "commit", "-qm", "no policies yet")
    empty, described = load_policies_at(work.directory, "HEAD")
    assert empty.projects == {} and "git ref HEAD" in described
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t.example", "commit", "-qm", "policies")
    assert list(load_policies_at(work.directory, "HEAD")[0].projects) == ["demo"]
    work.write_project_text("demo", "[review]\ncolour = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t.example", "commit", "-qm", "broken")
    with pytest.raises(PolicyError) as caught:
        load_policies_at(work.directory, "HEAD")
    assert caught.value.file == "HEAD:policies/projects/demo.toml" and caught.value.line == 2
    for ref in ("no-such-ref", "--output=/tmp/x"):
        with pytest.raises(PolicyError):
            load_policies_at(work.directory, ref)
    with pytest.raises(PolicyError, match="git rev-parse"):
        load_policies_at(tmp_path, "HEAD")
