"""End to end: the ``reviewed`` and ``vetted`` tiers, driven by policy files edited while the mirror runs.

Policy files are written straight into the running mirror's policies directory (see
``docs/policies.md``); each edit is waited for through ``GET /explain/<project>`` (its
``policy_version``), never with a bare sleep. Installs use real pip and/or uv, each into a fresh
``--target`` with no installer cache and only one tier of the mirror as index.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from ..simple.htmlparse import PageReader
from ..support import installers
from ..support.dists import sha256_of
from ..support.fake_upstream import FakeFile, FakeUpstream
from ..support.installers import Result, installed
from ..support.mirror_server import MirrorServer
from ..support.policies import PolicyDir, block, line_of, review, vetted, wait_until

#: Seconds a single installer run may take before the test fails (CI runs on 2 cores).
TIMEOUT = 120
INSTALLERS = ["pip", "uv"]
TIERS = ["all", "reviewed", "vetted"]
JSON_TYPE = "application/vnd.pypi.simple.v1+json"

NOW = datetime.now(UTC)
#: Well past the default 7-day cooldown of ``reviewed``.
OLD = NOW - timedelta(days=30)
#: Inside the default cooldown.
YESTERDAY = NOW - timedelta(days=1)


# --------------------------------------------------------------------------- helpers


async def install(tool: str, mirror: MirrorServer, tier: str, target: Path, *args: str | Path,
                  check: bool = True) -> Result:
    """Install with ``tool`` from ``tier`` of ``mirror`` only, into ``target``."""
    return await installers.install(tool, mirror.index(tier), target, *args, check=check)


async def install_fails(tool: str, mirror: MirrorServer, tier: str, target: Path, *args: str) -> Result:
    result = await install(tool, mirror, tier, target, "--no-deps", *args, check=False)
    assert result.returncode != 0, result.output
    assert installed(target) == {}, result.output
    return result


async def get(http: aiohttp.ClientSession, url: str, *, accept: str | None = None,
              method: str = "GET") -> tuple[int, bytes]:
    headers = {"Accept": accept} if accept else {}
    async with http.request(method, url, headers=headers, allow_redirects=False) as resp:
        return resp.status, await resp.read()


async def page(http: aiohttp.ClientSession, mirror: MirrorServer, tier: str, project: str) -> dict:
    """The PEP 691 JSON page of ``project`` in ``tier``; asserts 200."""
    status, body = await get(http, f"{mirror.index(tier)}{project}/", accept=JSON_TYPE)
    assert status == 200, (tier, project, body)
    return json.loads(body)


async def page_files(http: aiohttp.ClientSession, mirror: MirrorServer, tier: str, project: str) -> list[str]:
    return [f["filename"] for f in (await page(http, mirror, tier, project))["files"]]


def file_url(mirror: MirrorServer, tier: str, project: str, f: FakeFile | str) -> str:
    filename = f if isinstance(f, str) else f.filename
    return f"{mirror.base}/{tier}/files/{project}/{filename}"


def pins(*files: FakeFile, dists: Path) -> dict[str, str]:
    """``filename → sha256`` of the built files, as ``mirror vet`` would pin them."""
    return {f.filename: sha256_of(dists / f.filename) for f in files}


# --------------------------------------------------------------------------- 1. promotion


@pytest.mark.parametrize("tool", INSTALLERS)
async def test_unreviewed_project_installs_once_promoted(
        tool: str, upstream: FakeUpstream, mirror: MirrorServer, dists: Path, policies: PolicyDir,
        http: aiohttp.ClientSession, new_target: Callable[[], Path]) -> None:
    upstream.add_wheel("fresh-face", "1.0", dists, upload_time=OLD)
    # A policy file exists but has no [review] yet.
    policies.write_project("fresh-face")
    await policies.applied(http, mirror.base, "fresh-face")
    app = mirror.app

    status, body = await get(http, mirror.index("reviewed") + "fresh-face/")
    assert status == 404, body
    text = body.decode()
    assert "not reviewed" in text, text
    assert "mirror promote fresh-face" in text, text
    await install_fails(tool, mirror, "reviewed", new_target(), "fresh-face")
    # The same project is in `all` all along.
    target = new_target()
    await install(tool, mirror, "all", target, "--no-deps", "fresh-face")
    assert installed(target) == {"fresh_face": "1.0"}

    policies.write_project("fresh-face", review())
    await policies.applied(http, mirror.base, "fresh-face")
    assert mirror.app is app  # the running server, not a restarted one

    target = new_target()
    await install(tool, mirror, "reviewed", target, "--no-deps", "fresh-face")
    assert installed(target) == {"fresh_face": "1.0"}
    # Not in `vetted` yet: the 404 names the next step.
    status, body = await get(http, mirror.index("vetted") + "fresh-face/")
    assert status == 404, body
    assert "mirror vet fresh-face" in body.decode(), body


# --------------------------------------------------------------------------- 2. cooldown


@pytest.mark.parametrize("tool", INSTALLERS)
async def test_cooldown_holds_back_a_young_release(
        tool: str, upstream: FakeUpstream, mirror: MirrorServer, dists: Path, policies: PolicyDir,
        http: aiohttp.ClientSession, new_target: Callable[[], Path]) -> None:
    old = upstream.add_wheel("cool-lib", "1.0", dists, upload_time=OLD)
    young = upstream.add_wheel("cool-lib", "2.0", dists, upload_time=YESTERDAY)
    policies.write_project("cool-lib", review())
    await policies.applied(http, mirror.base, "cool-lib")

    reviewed = await page(http, mirror, "reviewed", "cool-lib")
    assert [f["filename"] for f in reviewed["files"]] == [old.filename]
    assert reviewed["versions"] == ["1.0"]
    assert await page_files(http, mirror, "all", "cool-lib") == [old.filename, young.filename]

    target = new_target()
    await install(tool, mirror, "reviewed", target, "--no-deps", "cool-lib")
    assert installed(target) == {"cool_lib": "1.0"}
    target = new_target()
    await install(tool, mirror, "all", target, "--no-deps", "cool-lib")
    assert installed(target) == {"cool_lib": "2.0"}

    policies.write_project("cool-lib", review(cooldown_days=0))
    await policies.applied(http, mirror.base, "cool-lib")
    assert await page_files(http, mirror, "reviewed", "cool-lib") == [old.filename, young.filename]
    target = new_target()
    await install(tool, mirror, "reviewed", target, "--no-deps", "cool-lib")
    assert installed(target) == {"cool_lib": "2.0"}


# --------------------------------------------------------------------------- 3. vetted


@pytest.mark.parametrize("tool", INSTALLERS)
async def test_vetted_serves_only_the_vetted_release(
        tool: str, upstream: FakeUpstream, mirror: MirrorServer, dists: Path, policies: PolicyDir,
        http: aiohttp.ClientSession, new_target: Callable[[], Path]) -> None:
    wheels = {v: upstream.add_wheel("vet-lib", v, dists, upload_time=OLD) for v in ("1.0", "2.0", "3.0")}
    upstream.add_wheel("unvetted-lib", "1.0", dists, upload_time=OLD)
    policies.write_project("unvetted-lib", review())
    policies.write_project("vet-lib", review(), vetted("2.0", pins(wheels["2.0"], dists=dists)))
    await policies.applied(http, mirror.base, "vet-lib")

    data = await page(http, mirror, "vetted", "vet-lib")
    assert [f["filename"] for f in data["files"]] == [wheels["2.0"].filename]
    assert data["versions"] == ["2.0"]
    assert len(await page_files(http, mirror, "reviewed", "vet-lib")) == 3

    target = new_target()
    await install(tool, mirror, "vetted", target, "--no-deps", "vet-lib")
    assert installed(target) == {"vet_lib": "2.0"}
    target = new_target()
    await install(tool, mirror, "reviewed", target, "--no-deps", "vet-lib")
    assert installed(target) == {"vet_lib": "3.0"}
    await install_fails(tool, mirror, "vetted", new_target(), "vet-lib==3.0")

    # The project lists come from the policies: `vetted` lists only projects with vettings.
    status, body = await get(http, mirror.index("vetted"), accept=JSON_TYPE)
    assert status == 200
    assert [p["name"] for p in json.loads(body)["projects"]] == ["vet-lib"]
    status, body = await get(http, mirror.index("vetted"), accept="text/html")
    assert [a["href"] for a, _ in PageReader(body.decode()).anchors] == ["vet-lib/"]
    status, body = await get(http, mirror.index("reviewed"), accept=JSON_TYPE)
    assert sorted(p["name"] for p in json.loads(body)["projects"]) == ["unvetted-lib", "vet-lib"]


# --------------------------------------------------------------------------- 4. pinned bytes


async def test_vetted_file_whose_bytes_change_upstream_is_withdrawn(
        upstream: FakeUpstream, revalidating: MirrorServer, dists: Path, policies: PolicyDir,
        http: aiohttp.ClientSession, new_target: Callable[[], Path]) -> None:
    mirror = revalidating
    original = upstream.add_wheel("swap-lib", "1.0", dists, upload_time=OLD)
    pinned = sha256_of(dists / original.filename)
    policies.write_project("swap-lib", review(), vetted("1.0", {original.filename: pinned}))
    await policies.applied(http, mirror.base, "swap-lib")

    status, body = await get(http, file_url(mirror, "vetted", "swap-lib", original))
    assert status == 200 and sha256_of(body) == pinned  # served, and now in the mirror's cache
    target = new_target()
    await install("uv", mirror, "vetted", target, "--no-deps", "swap-lib")
    assert installed(target) == {"swap_lib": "1.0"}

    # Upstream replaces the file: same name, other bytes.
    replaced = upstream.add_wheel("swap-lib", "1.0", dists, upload_time=OLD,
                                  module_source='__version__ = "1.0"\nREPLACED = True\n')
    assert replaced.filename == original.filename and replaced.sha256 != pinned

    data = await page(http, mirror, "vetted", "swap-lib")
    assert data["files"] == [] and data["versions"] == []
    for name in (original.filename, original.filename + ".metadata"):
        status, body = await get(http, file_url(mirror, "vetted", "swap-lib", name))
        assert status == 404, (name, body)
    await install_fails("uv", mirror, "vetted", new_target(), "swap-lib")

    # No tier serves the new bytes either: a published file never changes (issue "security, part two" 7),
    # so other bytes under a name the mirror saw with a hash are refused everywhere.
    for tier in ("all", "reviewed"):
        data = await page(http, mirror, tier, "swap-lib")
        assert data["files"] == [], tier
        status, _ = await get(http, file_url(mirror, tier, "swap-lib", replaced))
        assert status == 404, tier
    await install_fails("uv", mirror, "all", new_target(), "swap-lib")

    # explain says why, in every tier.
    async with http.get(f"{mirror.base}/explain/swap-lib/1.0") as resp:
        tiers = {t["tier"]: t for t in (await resp.json())["tiers"]}
    for tier in ("all", "reviewed", "vetted"):
        assert not tiers[tier]["admitted"]
        assert "upstream now lists other bytes under" in tiers[tier]["rule"], tiers[tier]
        assert pinned in tiers[tier]["rule"] and replaced.sha256 in tiers[tier]["rule"]


# --------------------------------------------------------------------------- 5. blocks


@pytest.mark.parametrize("tool", INSTALLERS)
async def test_block_removes_a_cached_release_from_every_tier(
        tool: str, upstream: FakeUpstream, mirror: MirrorServer, dists: Path, policies: PolicyDir,
        http: aiohttp.ClientSession, new_target: Callable[[], Path]) -> None:
    one = upstream.add_wheel("blk-lib", "1.0", dists, upload_time=OLD)
    two = upstream.add_wheel("blk-lib", "2.0", dists, upload_time=OLD)
    vettings = [vetted("1.0", pins(one, dists=dists)), vetted("2.0", pins(two, dists=dists))]
    policies.write_project("blk-lib", review(), *vettings)
    await policies.applied(http, mirror.base, "blk-lib")

    target = new_target()
    await install(tool, mirror, "all", target, "--no-deps", "blk-lib")  # caches 2.0
    assert installed(target) == {"blk_lib": "2.0"}
    for tier in TIERS:
        status, _ = await get(http, file_url(mirror, tier, "blk-lib", two))
        assert status == 200, tier

    policies.write_project("blk-lib", review(), *vettings, block("malicious 2.0", versions="==2.0"))
    await policies.applied(http, mirror.base, "blk-lib")
    upstream.reset_log()
    for tier in TIERS:
        for name in (two.filename, two.filename + ".metadata"):
            status, body = await get(http, file_url(mirror, tier, "blk-lib", name))
            assert status == 404, (tier, name, body)
        data = await page(http, mirror, tier, "blk-lib")
        assert [f["filename"] for f in data["files"]] == [one.filename], tier
        assert data["versions"] == ["1.0"], tier
        target = new_target()
        await install(tool, mirror, tier, target, "--no-deps", "blk-lib")
        assert installed(target) == {"blk_lib": "1.0"}, tier
    assert not [p for _, p in upstream.requests if "blk_lib-2.0" in p], upstream.requests

    # A block of the whole project: 200, no files, PEP 792 "quarantined", in every tier.
    policies.write_project("blk-lib", review(), *vettings, block("typo-squat of a popular project"))
    await policies.applied(http, mirror.base, "blk-lib")
    for tier in TIERS:
        data = await page(http, mirror, tier, "blk-lib")
        assert data["files"] == [] and data["versions"] == [], tier
        assert data["project-status"]["status"] == "quarantined", data
        assert "typo-squat of a popular project" in data["project-status"]["reason"], data
        status, body = await get(http, f"{mirror.index(tier)}blk-lib/", accept="text/html")
        html = PageReader(body.decode())
        assert status == 200 and html.anchors == [], tier
        assert html.meta["pypi:project-status"] == "quarantined", tier
        for name in (one.filename, two.filename):
            status, _ = await get(http, file_url(mirror, tier, "blk-lib", name))
            assert status == 404, (tier, name)
    await install_fails(tool, mirror, "all", new_target(), "blk-lib")
    status, body = await get(http, mirror.index("all"), accept=JSON_TYPE)
    assert "blk-lib" not in [p["name"] for p in json.loads(body)["projects"]]


# --------------------------------------------------------------------------- 6. broken edits


async def test_broken_policy_edit_keeps_the_last_good_policy(
        upstream: FakeUpstream, mirror: MirrorServer, dists: Path, policies: PolicyDir,
        http: aiohttp.ClientSession, new_target: Callable[[], Path],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mirror.policy")
    upstream.add_wheel("steady-lib", "1.0", dists, upload_time=OLD)
    upstream.add_wheel("steady-lib", "2.0", dists, upload_time=OLD)
    policies.write_project("steady-lib", review(versions="==1.0"))
    good = await policies.applied(http, mirror.base, "steady-lib")
    target = new_target()
    await install("uv", mirror, "reviewed", target, "--no-deps", "steady-lib")
    assert installed(target) == {"steady_lib": "1.0"}

    def rejections() -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.name == "mirror.policy" and "last good policy" in r.getMessage()]

    broken_edits = [
        # Invalid TOML: an unterminated string.
        ("invalid TOML", '[review]\nby = "alice"\nversions = ">=1.0"\nnote = "unterminated\n'),
        # Valid TOML, unknown key.
        ("colour", review(versions=">=1.0") + 'colour = "red"\n'),
    ]
    for expected, text in broken_edits:
        before = len(rejections())
        path = policies.write_project_text("steady-lib", text)
        await wait_until(lambda before=before: len(rejections()) > before, f"the server to reject {expected}")
        message = rejections()[-1]
        assert str(path) in message and expected in message, message
        assert await policies.served_version(http, mirror.base, "steady-lib") == good
        assert await page_files(http, mirror, "reviewed", "steady-lib") == [
            "steady_lib-1.0-py3-none-any.whl"]
        target = new_target()
        await install("uv", mirror, "reviewed", target, "--no-deps", "steady-lib")
        assert installed(target) == {"steady_lib": "1.0"}

    policies.write_project("steady-lib", review(versions=">=1.0"))
    await policies.applied(http, mirror.base, "steady-lib")
    target = new_target()
    await install("uv", mirror, "reviewed", target, "--no-deps", "steady-lib")
    assert installed(target) == {"steady_lib": "2.0"}


# --------------------------------------------------------------------------- 7. pre-releases


@pytest.mark.parametrize("allowed_in", ["tiers.toml", "review"])
async def test_prereleases_only_when_allowed(
        allowed_in: str, upstream: FakeUpstream, mirror: MirrorServer, dists: Path,
        policies: PolicyDir, http: aiohttp.ClientSession, new_target: Callable[[], Path]) -> None:
    final = upstream.add_wheel("pre-lib", "1.0", dists, upload_time=OLD)
    rc = upstream.add_wheel("pre-lib", "2.0rc1", dists, upload_time=OLD)
    policies.write_project("pre-lib", review())
    await policies.applied(http, mirror.base, "pre-lib")

    assert await page_files(http, mirror, "reviewed", "pre-lib") == [final.filename]
    assert await page_files(http, mirror, "all", "pre-lib") == [final.filename, rc.filename]
    await install_fails("uv", mirror, "reviewed", new_target(), "pre-lib==2.0rc1")

    if allowed_in == "tiers.toml":
        policies.write_tiers("[reviewed]\nallow_prereleases = true\n")
    else:
        policies.write_project("pre-lib", review(allow_prereleases=True))
    await policies.applied(http, mirror.base, "pre-lib")
    data = await page(http, mirror, "reviewed", "pre-lib")
    assert [f["filename"] for f in data["files"]] == [final.filename, rc.filename]
    assert data["versions"] == ["1.0", "2.0rc1"]
    target = new_target()
    await install("uv", mirror, "reviewed", target, "--no-deps", "pre-lib==2.0rc1")
    assert installed(target) == {"pre_lib": "2.0rc1"}

    if allowed_in == "tiers.toml":
        # The project's own setting overrides the tier-wide one.
        policies.write_project("pre-lib", review(allow_prereleases=False))
        await policies.applied(http, mirror.base, "pre-lib")
        assert await page_files(http, mirror, "reviewed", "pre-lib") == [final.filename]


# --------------------------------------------------------------------------- 8. files outside a tier


async def test_file_outside_a_tier_is_404_even_when_cached(
        upstream: FakeUpstream, mirror: MirrorServer, dists: Path, policies: PolicyDir,
        http: aiohttp.ClientSession) -> None:
    stranger = upstream.add_wheel("stranger-lib", "1.0", dists, upload_time=OLD)  # never reviewed
    young = {v: upstream.add_wheel("young-lib", v, dists, upload_time=OLD) for v in ("1.0", "1.5")}
    young["2.0"] = upstream.add_wheel("young-lib", "2.0", dists, upload_time=YESTERDAY)
    policies.write_project("young-lib", review(), vetted("1.0", pins(young["1.0"], dists=dists)))
    await policies.applied(http, mirror.base, "young-lib")

    # (project, file, tiers whose URLs must not serve it)
    outside = [
        ("stranger-lib", stranger, ["reviewed", "vetted"]),  # project not reviewed
        ("young-lib", young["2.0"], ["reviewed", "vetted"]),  # inside the cooldown
        ("young-lib", young["1.5"], ["vetted"]),  # reviewed, not vetted
    ]
    for project, f, _tiers in outside:
        for name in (f.filename, f.filename + ".metadata"):
            status, _ = await get(http, file_url(mirror, "all", project, name))
            assert status == 200, name  # fetched through `all`: now cached
    upstream.reset_log()
    for project, f, tiers in outside:
        for tier in tiers:
            for name in (f.filename, f.filename + ".metadata"):
                for method in ("GET", "HEAD"):
                    status, body = await get(http, file_url(mirror, tier, project, name), method=method)
                    assert status == 404, (tier, name, method, body)
    # Control: what the tiers do admit is served from the cache.
    for tier, f in [("reviewed", young["1.5"]), ("vetted", young["1.0"]), ("reviewed", young["1.0"])]:
        status, body = await get(http, file_url(mirror, tier, "young-lib", f))
        assert status == 200 and body == f.content, (tier, f.filename)
    assert upstream.count("/files/") == 1, upstream.requests  # young-lib 1.0 was never fetched before


# --------------------------------------------------------------------------- 9. explain


async def explain(http: aiohttp.ClientSession, mirror: MirrorServer, project: str,
                  version: str) -> dict[str, dict]:
    async with http.get(f"{mirror.base}/explain/{project}/{version}") as resp:
        assert resp.status == 200, await resp.text()
        data = await resp.json()
    assert data["project"] == project and data["version"] == version
    assert [t["tier"] for t in data["tiers"]] == TIERS
    return {t["tier"]: t for t in data["tiers"]}


TIERS_TOML = """\
# Tier-wide rules for the tests.

[reviewed]
cooldown_days = 7
"""


async def test_explain_reports_rule_and_location_per_tier(
        upstream: FakeUpstream, mirror: MirrorServer, dists: Path, policies: PolicyDir,
        http: aiohttp.ClientSession) -> None:
    v1 = upstream.add_wheel("why-lib", "1.0", dists, upload_time=OLD)  # vetted
    v2 = upstream.add_wheel("why-lib", "2.0", dists, upload_time=YESTERDAY)  # cooling down
    v3 = upstream.add_wheel("why-lib", "3.0", dists, upload_time=OLD)  # blocked
    tiers_path = policies.write_tiers(TIERS_TOML)
    path = policies.write_project("why-lib", review(), vetted("1.0", pins(v1, dists=dists)),
                                  block("compromised release", versions="==3.0"))
    text = path.read_text()
    await policies.applied(http, mirror.base, "why-lib")
    # /explain names files relative to the policy directory (no server paths for anonymous clients).
    path, tiers_path = path.relative_to(policies.directory), tiers_path.relative_to(policies.directory)

    # Vetted: in every tier; the vetting's table decides `reviewed` (no cooldown) and `vetted`.
    tiers = await explain(http, mirror, "why-lib", "1.0")
    vet_header = '[vetted."1.0"]'
    vet_where = f"{path}:{line_of(text, vet_header)}"
    assert tiers["all"]["admitted"] is True
    for tier in ("reviewed", "vetted"):
        t = tiers[tier]
        assert t["admitted"] is True, t
        assert "vetted" in t["rule"], t
        assert t["where"] == vet_where, t
        assert t["change"].startswith("mirror unvet why-lib 1.0"), t
        assert t["files"] == [{"filename": v1.filename, "admitted": True, "rule": t["rule"]}], t
    assert "sha256 matches" in tiers["vetted"]["rule"], tiers["vetted"]

    # Cooling down: in `all`; out of `reviewed` by the tier-wide cooldown of tiers.toml; not vetted.
    tiers = await explain(http, mirror, "why-lib", "2.0")
    assert tiers["all"]["admitted"] is True
    t = tiers["reviewed"]
    assert t["admitted"] is False, t
    assert "cooldown" in t["rule"] and "7-day" in t["rule"], t
    assert t["where"].rpartition(":")[0] == str(tiers_path), t
    assert t["change"].startswith("mirror vet why-lib 2.0"), t
    assert t["files"] == [{"filename": v2.filename, "admitted": False, "rule": t["rule"]}], t
    t = tiers["vetted"]
    assert t["admitted"] is False and "not vetted" in t["rule"], t
    assert t["where"] == f"{path}:{line_of(text, '[review]')}", t
    assert t["change"].startswith("mirror vet why-lib 2.0"), t

    # Blocked: out of every tier, by the [[block]] entry.
    tiers = await explain(http, mirror, "why-lib", "3.0")
    for tier in TIERS:
        t = tiers[tier]
        assert t["admitted"] is False, t
        assert "blocked" in t["rule"] and "compromised release" in t["rule"], t
        assert t["where"] == f"{path}:{line_of(text, '[[block]]')}", t
        assert t["change"].startswith("mirror unblock why-lib==3.0"), t
        assert [f["filename"] for f in t["files"]] == [v3.filename], t


async def test_explain_cooldown_points_at_its_line_in_tiers_toml(
        upstream: FakeUpstream, mirror: MirrorServer, dists: Path, policies: PolicyDir,
        http: aiohttp.ClientSession) -> None:
    """``where`` of a tier-wide rule is the line that sets it (or its table), not the file's line 1."""
    upstream.add_wheel("warm-lib", "1.0", dists, upload_time=YESTERDAY)
    tiers_path = policies.write_tiers(TIERS_TOML).relative_to(policies.directory)
    policies.write_project("warm-lib", review())
    await policies.applied(http, mirror.base, "warm-lib")

    t = (await explain(http, mirror, "warm-lib", "1.0"))["reviewed"]
    assert t["admitted"] is False and "cooldown" in t["rule"], t
    allowed = {f"{tiers_path}:{line_of(TIERS_TOML, '[reviewed]')}",
               f"{tiers_path}:{line_of(TIERS_TOML, 'cooldown_days')}"}
    assert t["where"] in allowed, t
