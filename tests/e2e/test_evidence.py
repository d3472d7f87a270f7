"""End to end: rules from evidence (issue 13) with real pip and uv and the real ``mirror`` command.

Advisories come from the fake upstream's JSON API (``vulnerabilities``) and from OSV files the tests write and
import with ``mirror advisories import`` (another process, like an operator's cron job) while the server runs;
licences from PEP 639 and classifier-only wheels; waivers from ``mirror waive``, expiring on a fake clock; the
dry run is ``mirror check --what-if``. Waits poll the server (``/explain``, pages), never a bare sleep.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mirror.adapters.db.audit import AuditLog
from mirror.web.lifecycle import ENGINE
from mirror.web.state import SERVICES

from ..support import installers
from ..support.dists import sha256_of
from ..support.fake_upstream import FakeUpstream
from ..support.installers import Result, installed
from ..support.mirror_server import MirrorServer, make_config
from ..support.policies import PolicyDir, review, vetted, wait_until

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
OLD = datetime.now(UTC) - timedelta(days=60)
#: The server reads the advisory change log every 2 s; an import is visible well within this.
SEEN = 15.0


class Clock:
    """Wall-clock seconds that a test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, days: float) -> None:
        self.offset += days * 86400


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def server(tmp_path: Path, upstream: FakeUpstream, clock: Clock) -> AsyncIterator[MirrorServer]:
    """The mirror on the fake clock (the tiers decide at ``clock()``)."""
    mirror = MirrorServer(make_config(tmp_path, upstream.url), clock=clock)
    await mirror.start()
    yield mirror
    await mirror.stop()


@pytest.fixture
def config_file(tmp_path: Path, upstream: FakeUpstream) -> Path:
    """A config file for the ``mirror`` command naming the server's upstream, storage, database and policies."""
    path = tmp_path / "config.toml"
    path.write_text(f'[upstream]\nurl = "{upstream.url}"\n\n[storage]\npath = "{tmp_path / "cache"}"\n\n'
                    f'[policies]\npath = "{tmp_path / "policies"}"\n', encoding="utf-8")
    return path


async def cli(config: Path, *args: str) -> Result:
    """Run the real ``mirror`` command in another process."""
    return await installers.run(sys.executable, "-m", "mirror", *args, "--config", str(config), timeout=120)


async def page(http: aiohttp.ClientSession, mirror: MirrorServer, tier: str, project: str) -> dict[str, Any]:
    async with http.get(f"{mirror.index(tier)}{project}/", headers={"Accept": JSON_TYPE}) as resp:
        assert resp.status == 200, await resp.text()
        return json.loads(await resp.read())


async def versions(http: aiohttp.ClientSession, mirror: MirrorServer, tier: str, project: str) -> list[str]:
    return (await page(http, mirror, tier, project))["versions"]


async def explained(http: aiohttp.ClientSession, mirror: MirrorServer, project: str, version: str) -> dict[str, Any]:
    async with http.get(f"{mirror.base}/explain/{project}/{version}") as resp:
        data = await resp.json()
    return {t["tier"]: t for t in data["tiers"]} | {"notes": data["notes"]}


async def until_versions(http: aiohttp.ClientSession, mirror: MirrorServer, tier: str, project: str,
                         expected: list[str], deadline: float = SEEN) -> None:
    seen: list[list[str]] = []

    async def probe() -> bool:
        seen.append(await versions(http, mirror, tier, project))
        return seen[-1] == expected

    await wait_until(probe, lambda: f"{tier} {project} to list {expected} (lists {seen[-1]})", deadline, 0.2)


async def install(tool: str, mirror: MirrorServer, tier: str, target: Path, *args: str, check: bool = True
                  ) -> Result:
    return await installers.install(tool, mirror.index(tier), target, "--no-deps", *args, check=check)


def write_osv(directory: Path, aid: str, project: str, *, ranges: list[dict[str, Any]] | None = None,
              versions: list[str] | None = None, modified: str = "2026-01-02T03:04:05Z", **top: Any) -> Path:
    """An OSV record file as OSV's PyPI export holds them."""
    entry: dict[str, Any] = {"package": {"ecosystem": "PyPI", "name": project}}
    if ranges is not None:
        entry["ranges"] = ranges
    if versions is not None:
        entry["versions"] = versions
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{aid}.json"
    path.write_text(json.dumps({"schema_version": "1.6.0", "id": aid, "modified": modified,
                                "summary": f"{aid} summary", "affected": [entry], **top}), encoding="utf-8")
    return path


def eco(*events: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"type": "ECOSYSTEM", "events": [{k: v} for k, v in events]}]


# --------------------------------------------------------------------------- the JSON API's vulnerabilities


@pytest.mark.parametrize("tool", ["pip", "uv"])
async def test_a_vulnerable_release_leaves_reviewed_and_installers_resolve_the_fixed_one(
        tool: str, upstream: FakeUpstream, server: MirrorServer, dists: Path, policies: PolicyDir,
        http: aiohttp.ClientSession, new_target: Callable[[], Path]) -> None:
    for version in ("1.0", "1.1", "2.0"):
        upstream.add_wheel("api-lib", version, dists, upload_time=OLD)
    # As the real index does: the project's document describes its latest release (2.0), chunked.
    upstream.json_api_chunk = 4096
    upstream.set_vulnerabilities("api-lib", [{"id": "PYSEC-2026-11", "aliases": ["CVE-2026-1111"],
                                              "summary": "remote code execution in the parser",
                                              "fixed_in": ["1.1", "2.1"]}])
    policies.write_project("api-lib", review())
    await policies.applied(http, server.base, "api-lib")

    assert await versions(http, server, "reviewed", "api-lib") == ["1.0", "1.1"]
    target = new_target()
    await install(tool, server, "reviewed", target, "api-lib")
    assert installed(target) == {"api_lib": "1.1"}
    # `all` warns by default: served, explained, counted.
    target = new_target()
    await install(tool, server, "all", target, "api-lib")
    assert installed(target) == {"api_lib": "2.0"}
    tiers = await explained(http, server, "api-lib", "2.0")
    assert not tiers["reviewed"]["admitted"]
    assert "PYSEC-2026-11 (aka CVE-2026-1111): remote code execution in the parser" in tiers["reviewed"]["rule"]
    assert "fixed in 2.1" in tiers["reviewed"]["rule"]
    assert tiers["all"]["admitted"] and "would be held" in tiers["all"]["warnings"][0]
    async with http.get(f"{server.base}/healthz") as resp:
        assert (await resp.json())["evidence"]["warned_releases"]["vulnerability"] >= 1


# --------------------------------------------------------------------------- OSV imports, waivers, explain, check


async def test_an_import_re_decides_at_once_and_a_waiver_admits_until_it_expires(
        tmp_path: Path, upstream: FakeUpstream, server: MirrorServer, clock: Clock, config_file: Path, dists: Path,
        policies: PolicyDir, http: aiohttp.ClientSession, new_target: Callable[[], Path]) -> None:
    wheels = {v: upstream.add_wheel("osv-lib", v, dists, upload_time=OLD) for v in ("1.0", "1.1", "1.2")}
    policies.write_project("osv-lib", review(),
                           vetted("1.2", {wheels["1.2"].filename: sha256_of(dists / wheels["1.2"].filename)}))
    await policies.applied(http, server.base, "osv-lib")
    assert await versions(http, server, "reviewed", "osv-lib") == ["1.0", "1.1", "1.2"]
    assert await versions(http, server, "vetted", "osv-lib") == ["1.2"]

    # An ECOSYSTEM range (fixed in 1.1) and an explicit versions list (a regression in 1.2), one withdrawn record.
    osv_dir = tmp_path / "osv"
    write_osv(osv_dir, "GHSA-aaaa-bbbb-cccc", "osv-lib", ranges=eco(("introduced", "0"), ("fixed", "1.1")),
              versions=["1.2"], aliases=["CVE-2026-2222"])
    write_osv(osv_dir, "PYSEC-2026-99", "osv-lib", versions=["1.1"], withdrawn="2026-01-03T00:00:00Z")
    result = (await cli(config_file, "advisories", "import", str(osv_dir))).check()
    assert "imported 2 PyPI advisories" in result.output and "2 new" in result.output, result.output

    # The running server re-decides, vetted release included; installers resolve the unaffected 1.1.
    await until_versions(http, server, "reviewed", "osv-lib", ["1.1"])
    assert await versions(http, server, "vetted", "osv-lib") == []
    for tool in ("pip", "uv"):
        target = new_target()
        await install(tool, server, "reviewed", target, "osv-lib")
        assert installed(target) == {"osv_lib": "1.1"}

    # explain and check name the advisory and the fixed version.
    out = (await cli(config_file, "explain", "osv-lib", "1.0")).check().output
    assert "GHSA-aaaa-bbbb-cccc (aka CVE-2026-2222)" in out and "fixed in 1.1" in out, out
    assert "PYSEC-2026-99" not in out  # withdrawn: it matches nothing
    check = await cli(config_file, "check", "--offline")
    assert check.returncode == 1, check.output
    assert "vetted osv-lib 1.2 is withheld from 'vetted': known vulnerability: GHSA-aaaa-bbbb-cccc" in check.output
    assert "mirror waive osv-lib==1.2 --rule vulnerability --id GHSA-aaaa-bbbb-cccc" in check.output

    # A waiver of that advisory for 1.2 brings it back (reviewed and vetted) until it expires.
    until = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    waived = await cli(config_file, "waive", "osv-lib==1.2", "--rule", "vulnerability", "--id",
                       "GHSA-aaaa-bbbb-cccc", "--until", until, "--by", "alice", "--reason", "parser not used here")
    assert "waived vulnerability (GHSA-aaaa-bbbb-cccc) for osv-lib 1.2" in waived.check().output
    await policies.applied(http, server.base, "osv-lib")
    assert await versions(http, server, "reviewed", "osv-lib") == ["1.1", "1.2"]
    assert await versions(http, server, "vetted", "osv-lib") == ["1.2"]
    target = new_target()
    await install("pip", server, "reviewed", target, "osv-lib")
    assert installed(target) == {"osv_lib": "1.2"}
    tiers = await explained(http, server, "osv-lib", "1.2")
    assert tiers["reviewed"]["admitted"]
    assert f"waived by alice until {until[:10]}" in tiers["reviewed"]["waived"][0]
    audit = (await cli(config_file, "audit", "osv-lib")).check().output
    assert "waive" in audit and "osv-lib==1.2" in audit and "parser not used here" in audit

    # Two days later the waiver has expired: held again, without any edit or restart.
    clock.advance(2)
    assert await versions(http, server, "reviewed", "osv-lib") == ["1.1"]
    assert await versions(http, server, "vetted", "osv-lib") == []
    target = new_target()
    await install("uv", server, "reviewed", target, "osv-lib")
    assert installed(target) == {"osv_lib": "1.1"}


# --------------------------------------------------------------------------- malware


async def test_importing_a_malware_report_removes_the_project_from_all_with_its_cached_files(
        tmp_path: Path, upstream: FakeUpstream, server: MirrorServer, config_file: Path, dists: Path,
        http: aiohttp.ClientSession, new_target: Callable[[], Path]) -> None:
    evil = upstream.add_wheel("evil-lib", "1.0", dists, upload_time=OLD)
    target = new_target()
    await install("pip", server, "all", target, "evil-lib")  # cached now
    storage = server.app[SERVICES].storage
    assert await storage.find(evil.sha256) is not None

    write_osv(tmp_path / "mal", "MAL-2026-4242", "evil-lib", ranges=eco(("introduced", "0")),
              versions=["1.0"], summary="exfiltrates credentials at install time")
    out = (await cli(config_file, "advisories", "import", str(tmp_path / "mal" / "MAL-2026-4242.json"))).check()
    assert "malware MAL-2026-4242: evil-lib blocked in every tier; 2 cached file(s) withdrawn" in out.output, out.output
    assert await storage.find(evil.sha256) is None

    async def quarantined() -> bool:
        data = await page(http, server, "all", "evil-lib")
        return data.get("project-status", {}).get("status") == "quarantined"

    await wait_until(quarantined, "evil-lib quarantined in all", SEEN, 0.2)
    data = await page(http, server, "all", "evil-lib")
    assert data["files"] == [] and "MAL-2026-4242" in data["project-status"]["reason"]
    async with http.get(f"{server.base}/all/files/evil-lib/{evil.filename}") as resp:
        assert resp.status == 404
    async with http.get(server.index("all"), headers={"Accept": JSON_TYPE}) as resp:
        assert "evil-lib" not in [p["name"] for p in (await resp.json(content_type=None))["projects"]]
    failed = await install("uv", server, "all", new_target(), "evil-lib", check=False)
    assert failed.returncode != 0, failed.output
    records = await AuditLog(_engine(server)).records("evil-lib")
    assert [(r.actor, r.action) for r in records] == [("mirror advisories import", "malware")]
    assert "MAL-2026-4242" in records[0].note and evil.filename in records[0].note

    # The report is withdrawn (a later record): the project comes back, and the audit log says so.
    write_osv(tmp_path / "mal", "MAL-2026-4242", "evil-lib", ranges=eco(("introduced", "0")),
              modified="2026-02-01T00:00:00Z", withdrawn="2026-02-01T00:00:00Z")
    out = (await cli(config_file, "advisories", "import", str(tmp_path / "mal"))).check()
    assert "1 updated" in out.output and "is withdrawn" in out.output, out.output
    await until_versions(http, server, "all", "evil-lib", ["1.0"])
    records = await AuditLog(_engine(server)).records("evil-lib")
    assert [r.action for r in records] == ["malware", "malware-withdrawn"]


def _engine(server: MirrorServer) -> Any:
    return server.app[ENGINE]


# --------------------------------------------------------------------------- licences


async def test_licence_rules_read_pep_639_and_classifiers(
        upstream: FakeUpstream, server: MirrorServer, dists: Path, policies: PolicyDir,
        http: aiohttp.ClientSession, new_target: Callable[[], Path]) -> None:
    upstream.add_wheel("pep-lib", "1.0", dists, upload_time=OLD, license_expression="MIT OR GPL-3.0-only")
    upstream.add_wheel("pep-lib", "2.0", dists, upload_time=OLD, license_expression="GPL-3.0-only")
    mit = "License :: OSI Approved :: MIT License"
    upstream.add_wheel("classy-lib", "1.0", dists, upload_time=OLD, classifiers=[mit])
    bsd = "License :: OSI Approved :: BSD License"
    upstream.add_wheel("classy-lib", "2.0", dists, upload_time=OLD, classifiers=[bsd])
    # no PEP 658 .metadata upstream: the mirror reads the licence from the wheel it downloads and verifies
    upstream.add_wheel("bare-lib", "1.0", dists, upload_time=OLD, with_metadata=False, license_expression="Apache-2.0")
    upstream.add_wheel("bare-lib", "2.0", dists, upload_time=OLD, with_metadata=False, license="Proprietary")
    upstream.add_sdist("src-lib", "1.0", dists, upload_time=OLD)  # no wheel, no .metadata
    policies.write_tiers('[reviewed]\nlicenses = ["MIT", "Apache-2.0"]\n')
    for name in ("pep-lib", "classy-lib", "bare-lib", "src-lib"):
        policies.write_project(name, review())
    await policies.applied(http, server.base, "pep-lib")

    for name in ("pep-lib", "classy-lib", "bare-lib"):
        await until_versions(http, server, "reviewed", name, ["1.0"])
        assert await versions(http, server, "all", name) == ["1.0", "2.0"]
        target = new_target()
        await install("pip", server, "reviewed", target, name)
        assert installed(target) == {name.replace("-", "_"): "1.0"}
    assert "licence GPL-3.0-only (from License-Expression) is not allowed in 'reviewed'" in (
        await explained(http, server, "pep-lib", "2.0"))["reviewed"]["rule"]
    assert "is unknown (classifiers: no single SPDX licence for 'License :: OSI Approved :: BSD License')" in (
        await explained(http, server, "classy-lib", "2.0"))["reviewed"]["rule"]
    assert "License 'Proprietary' names no SPDX licence" in (
        await explained(http, server, "bare-lib", "2.0"))["reviewed"]["rule"]

    async def sdist_unknown() -> bool:
        rule = (await explained(http, server, "src-lib", "1.0"))["reviewed"]["rule"]
        return "cannot be read without building it" in rule

    await wait_until(sdist_unknown, "src-lib's licence to be unknown", SEEN, 0.2)
    assert await versions(http, server, "reviewed", "src-lib") == []
    assert await versions(http, server, "all", "src-lib") == ["1.0"]


# --------------------------------------------------------------------------- the dry run


async def test_what_if_lists_a_demotion_and_exits_3(
        tmp_path: Path, upstream: FakeUpstream, server: MirrorServer, config_file: Path, dists: Path,
        policies: PolicyDir, http: aiohttp.ClientSession) -> None:
    one = upstream.add_wheel("keep-lib", "1.0", dists, upload_time=OLD)
    upstream.add_wheel("keep-lib", "2.0", dists, upload_time=OLD)
    upstream.add_wheel("new-lib", "1.0", dists, upload_time=OLD)
    served = [review(), vetted("1.0", {one.filename: sha256_of(dists / one.filename)})]
    policies.write_project("keep-lib", *served)
    await policies.applied(http, server.base, "keep-lib")
    for name in ("keep-lib", "new-lib"):  # the pages are cached: the dry run reads them from the database
        await page(http, server, "all", name)

    # A policy repository checked out elsewhere: git, with the served policies committed.
    repo = tmp_path / "repo"
    work = PolicyDir(repo / "policies")
    work.write_project("keep-lib", *served)
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t.example", "commit",
                                                 "-qm", "served"]):
        (await installers.run("git", "-C", str(repo), *args)).check()

    same = await cli(config_file, "check", "--what-if", "--policies", str(work.directory))
    assert same.returncode == 0 and "would disappear: 0 project(s)" in same.output, same.output

    # The pull request: demote keep-lib, promote new-lib.
    work.write_project("keep-lib", *served[1:])
    work.write_project("new-lib", review())
    before = policies.project_path("keep-lib").read_text()
    for extra in ([], ["--against", "HEAD"]):
        result = await cli(config_file, "check", "--what-if", "--policies", str(work.directory), *extra)
        assert result.returncode == 3, result.output
        out = result.output
        reviewed = out[out.index("reviewed:"):out.index("vetted:")]
        assert "- project keep-lib: not reviewed: no [review] for this project" in reviewed, out
        assert "+ project new-lib: reviewed by alice" in reviewed, out
        vetted_part = out[out.index("vetted:"):]
        assert "- project keep-lib" in vetted_part, out
        assert "all: no change" in out, out
        assert "would disappear: 2 project(s), 0 release(s), 0 file(s); would appear: 1 project(s)" in out, out
    assert "compared with git ref HEAD" in result.output
    # Nothing changed: the server still serves keep-lib from the same policy file.
    assert policies.project_path("keep-lib").read_text() == before
    assert await versions(http, server, "reviewed", "keep-lib") == ["1.0", "2.0"]

    # A narrower range: releases disappear.
    work.write_project("keep-lib", review(versions="<2"), served[1])
    work.project_path("new-lib").unlink()
    out = (await cli(config_file, "check", "--what-if", "--policies", str(work.directory), "--against", "HEAD"))
    assert out.returncode == 3 and "- release keep-lib 2.0 (1 file(s)): version 2.0 is outside the reviewed range <2" \
        in out.output, out.output


async def test_a_slow_json_api_delays_only_the_tiers_that_hold_vulnerable_releases(
        upstream: FakeUpstream, server: MirrorServer, dists: Path, policies: PolicyDir,
        http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch) -> None:
    """`all` only warns about known vulnerabilities: its first page of a project does not wait for upstream's
    JSON API (re-decided when the document arrives); `reviewed` holds them, so it waits for the document."""
    import asyncio

    from mirror.services import advisories

    # A first page would wait this long for the document: far longer than this test may take.
    monkeypatch.setattr(advisories, "FIRST_WAIT", 120.0)
    for version in ("1.0", "2.0"):
        upstream.add_wheel("slow-doc", version, dists, upload_time=OLD)
    upstream.set_vulnerabilities("slow-doc", [{"id": "PYSEC-2026-12", "summary": "parser overflow",
                                               "fixed_in": ["2.1"]}])
    policies.write_project("slow-doc", review())
    await policies.applied(http, server.base)  # asked of another project: nothing reads slow-doc's document yet
    upstream.hold = asyncio.Event()
    upstream.fault_filter = lambda path: path.startswith("/pypi/")

    # `all` answers while upstream's JSON API has not answered.
    assert await asyncio.wait_for(versions(http, server, "all", "slow-doc"), 60) == ["1.0", "2.0"]
    assert not upstream.hold.is_set()
    # `reviewed` waits for it (the document describes the latest release, 2.0, as the real index's does)...
    held = asyncio.ensure_future(versions(http, server, "reviewed", "slow-doc"))
    done, _ = await asyncio.wait([held], timeout=1.0)
    assert not done, "reviewed answered before upstream's advisories were read"
    # ...and then keeps the vulnerable release out.
    upstream.hold.set()
    assert await asyncio.wait_for(held, 60) == ["1.0"]
    # `all` was re-decided with the advisory: still served, now with its warning.

    async def warned() -> bool:
        return bool((await explained(http, server, "slow-doc", "2.0"))["all"]["warnings"])

    await wait_until(warned, lambda: "all to warn about slow-doc 2.0", SEEN, 0.2)


async def test_a_tier_that_only_warns_reads_the_document_later_not_during_the_install(
        upstream: FakeUpstream, server: MirrorServer, dists: Path, http: aiohttp.ClientSession,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An installer's burst of `all` pages does not make the mirror read (and store) every project's JSON API
    document at once; each is read a little later, and the pages then warn about what it states."""
    from mirror.services import advisories

    monkeypatch.setattr(advisories, "LATER", 1.0)
    for version in ("1.0", "2.0"):
        upstream.add_wheel("later-doc", version, dists, upload_time=OLD)
    upstream.set_vulnerabilities("later-doc", [{"id": "PYSEC-2026-13", "summary": "overflow", "fixed_in": ["2.1"]}])
    assert await versions(http, server, "all", "later-doc") == ["1.0", "2.0"]
    assert ("GET", "/pypi/later-doc/json") not in upstream.requests

    async def warned() -> bool:
        await versions(http, server, "all", "later-doc")  # the page is re-decided once the document is read
        async with http.get(f"{server.base}/healthz") as resp:
            return (await resp.json())["evidence"]["warned_releases"].get("vulnerability", 0) >= 1

    await wait_until(warned, lambda: "all to warn about later-doc 2.0", SEEN, 0.2)
    assert ("GET", "/pypi/later-doc/json") in upstream.requests
