"""End to end: PEP 740 provenance through the running mirror, with the real fixture (Google publisher).

The fake upstream serves the real sdist of ``gcb-attestation-test`` 0.0.0 and its real provenance.
Vetting goes through the reviewer service (what ``mirror vet`` runs) or, to set up states vet refuses
to create, through hand-written policy files. The background re-verification is triggered directly
(``ProvenanceChecker.check_all``) instead of waiting for its 10-minute period. Every non-loopback
connection is refused: verification must be offline.
"""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from mirror.services.review import ReviewService
from mirror.web.state import SERVICES

from ..simple.htmlparse import PageReader
from ..support.fake_upstream import PROVENANCE_TYPE, FakeFile, FakeUpstream
from ..support.mirror_server import MirrorServer
from ..support.policies import PolicyDir, review
from ..support.provenance import (
    FILENAME,
    IDENTITY,
    OTHER_EMAIL,
    PROJECT,
    SHA256,
    VERSION,
    NetworkGuard,
    add_fixture,
    google,
    offline_home,
    provenance_policy,
    provenance_text,
    sdist_bytes,
    tampered_signature,
    vetted_with_provenance,
)

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
TIERS = ("all", "reviewed", "vetted")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> NetworkGuard:
    guard = offline_home(monkeypatch, tmp_path)
    yield guard
    assert guard.attempts == [], f"tried to reach the network: {guard.attempts}"


async def get(http: aiohttp.ClientSession, url: str, accept: str | None = None) -> aiohttp.ClientResponse:
    headers = {"Accept": accept} if accept is not None else {}
    async with http.get(url, headers=headers, allow_redirects=False) as resp:
        await resp.read()
        return resp


async def files_of(http: aiohttp.ClientSession, mirror: MirrorServer, tier: str) -> dict[str, dict]:
    async with http.get(f"{mirror.index(tier)}{PROJECT}/", headers={"Accept": JSON_TYPE}) as resp:
        if resp.status == 404:
            return {}
        assert resp.status == 200, await resp.text()
        return {f["filename"]: f for f in (await resp.json(content_type=None))["files"]}


def integrity_url(mirror: MirrorServer, tier: str, filename: str = FILENAME, version: str = VERSION) -> str:
    return f"{mirror.base}/{tier}/integrity/{PROJECT}/{version}/{filename}/provenance"


async def explained(http: aiohttp.ClientSession, mirror: MirrorServer) -> dict:
    async with http.get(f"{mirror.base}/explain/{PROJECT}/{VERSION}") as resp:
        assert resp.status == 200
        return await resp.json()


def tier_rule(data: dict, tier: str) -> dict:
    return {t["tier"]: t for t in data["tiers"]}[tier]


async def check(mirror: MirrorServer) -> dict:
    return await mirror.app[SERVICES].provenance_checker.check_all()


async def vet_with_service(mirror: MirrorServer, **kwargs) -> list[str]:
    async with ReviewService(mirror.config) as service:
        return list((await service.vet(PROJECT, VERSION, "alice", "diff read", **kwargs)).lines)


# --------------------------------------------------------------------------- a correct pin vets and serves


async def test_correct_pin_vets_serves_and_passes_provenance_through(
        upstream: FakeUpstream, mirror: MirrorServer, policies: PolicyDir, http: aiohttp.ClientSession) -> None:
    add_fixture(upstream)
    policies.write_project(PROJECT, review(), provenance_policy(google()))
    lines = await vet_with_service(mirror)
    assert f"provenance: {FILENAME}: verified offline, published by {IDENTITY}" in lines, lines
    await policies.applied(http, mirror.base, PROJECT)

    upstream_url = f"{upstream.base}/integrity/{PROJECT}/{VERSION}/{FILENAME}/provenance"
    for tier in TIERS:
        listed = await files_of(http, mirror, tier)
        assert list(listed) == [FILENAME], tier
        # Pages pass upstream's absolute provenance URL through, in every tier that admits the file.
        assert listed[FILENAME]["provenance"] == upstream_url, tier
        async with http.get(f"{mirror.index(tier)}{PROJECT}/", headers={"Accept": "text/html"}) as resp:
            [(anchor, _)] = PageReader(await resp.text()).anchors
        assert anchor["data-provenance"] == upstream_url
    async with http.get(f"{mirror.base}/vetted/files/{PROJECT}/{FILENAME}") as resp:
        assert resp.status == 200 and await resp.read() == sdist_bytes()

    # ...and the mirror serves the same provenance object itself, Warehouse-style.
    upstream.reset_log()
    for tier in TIERS:
        for accept, expected in ((None, PROVENANCE_TYPE), (PROVENANCE_TYPE, PROVENANCE_TYPE),
                                 ("application/json", "application/json"), ("*/*", PROVENANCE_TYPE)):
            async with http.get(integrity_url(mirror, tier), headers={"Accept": accept} if accept else {}) as resp:
                assert resp.status == 200, (tier, accept, await resp.text())
                assert resp.content_type == expected, (tier, accept)
                assert resp.headers["Vary"] == "Accept"
                assert "max-age=600" in resp.headers["Cache-Control"]
                assert await resp.read() == provenance_text().encode()
    # Cached after the first fetch: at most one (none when the background check fetched it before the reset).
    assert upstream.count(f"/integrity/{PROJECT}/") <= 1, upstream.requests
    async with http.get(integrity_url(mirror, "vetted"), headers={"Accept": "text/html"}) as resp:
        assert resp.status == 406 and await resp.json() == {"message": "Request not acceptable"}

    statuses = await check(mirror)
    assert statuses[SHA256].verified == IDENTITY
    data = await explained(http, mirror)
    assert tier_rule(data, "vetted")["admitted"]
    assert f"provenance verified: published by {IDENTITY}" in tier_rule(data, "vetted")["rule"]
    assert any(f"provenance of {FILENAME}: verified, published by {IDENTITY}" in n for n in data["notes"])


# --------------------------------------------------------------------------- a wrong pin is refused


async def test_wrong_pinned_identity_is_refused_and_withheld(
        upstream: FakeUpstream, mirror: MirrorServer, policies: PolicyDir, http: aiohttp.ClientSession) -> None:
    add_fixture(upstream)
    policies.write_project(PROJECT, review(), provenance_policy(google(OTHER_EMAIL)))
    from mirror.core.errors import ReviewError

    with pytest.raises(ReviewError, match=f"provenance is signed by {IDENTITY} \\(verified offline\\)"):
        await vet_with_service(mirror)
    # A vetting record that claims the real signer, while the pin names someone else, admits nothing.
    policies.write_project(PROJECT, review(), provenance_policy(google(OTHER_EMAIL)),
                           vetted_with_provenance(VERSION, {FILENAME: SHA256}, {FILENAME: IDENTITY}))
    await policies.applied(http, mirror.base, PROJECT)
    assert list(await files_of(http, mirror, "reviewed")) == [FILENAME]
    assert await files_of(http, mirror, "vetted") == {}
    assert (await get(http, f"{mirror.base}/vetted/files/{PROJECT}/{FILENAME}")).status == 404
    resp = await get(http, integrity_url(mirror, "vetted"))
    assert resp.status == 404 and resp.content_type == PROVENANCE_TYPE
    statuses = await check(mirror)
    assert not statuses[SHA256].ok and f"pinned Google:{OTHER_EMAIL}" in statuses[SHA256].problem
    rule = tier_rule(await explained(http, mirror), "vetted")
    assert not rule["admitted"] and f"verified as published by {IDENTITY}" in rule["rule"], rule


# --------------------------------------------------------------------------- a tampered file is refused


async def test_tampered_file_with_the_same_name_is_refused(
        upstream: FakeUpstream, mirror: MirrorServer, policies: PolicyDir, http: aiohttp.ClientSession) -> None:
    tampered = sdist_bytes().replace(b"\x00", b"\x01", 1)
    f = add_fixture(upstream, content=tampered)  # same name, other bytes, the real provenance
    policies.write_project(PROJECT, review(), provenance_policy(google()))
    from mirror.core.errors import ReviewError

    with pytest.raises(ReviewError, match="not the bytes the publisher signed"):
        await vet_with_service(mirror)
    # Even a (forged) vetting of the tampered bytes that claims a verification is withheld once the
    # background check has looked at the provenance: it does not cover these bytes.
    policies.write_project(PROJECT, review(), provenance_policy(google()),
                           vetted_with_provenance(VERSION, {FILENAME: f.sha256}, {FILENAME: IDENTITY}))
    await policies.applied(http, mirror.base, PROJECT)
    statuses = await check(mirror)
    assert "not the bytes the publisher signed" in statuses[f.sha256].problem
    assert await files_of(http, mirror, "vetted") == {}
    assert list(await files_of(http, mirror, "reviewed")) == [FILENAME]
    rule = tier_rule(await explained(http, mirror), "vetted")
    assert "no longer proves" in rule["rule"] and "not the bytes the publisher signed" in rule["rule"], rule


# --------------------------------------------------------------------------- missing provenance


async def test_missing_provenance_with_require_keeps_it_out_of_vetted_but_in_reviewed(
        upstream: FakeUpstream, mirror: MirrorServer, policies: PolicyDir, http: aiohttp.ClientSession) -> None:
    add_fixture(upstream, provenance=None)
    policies.write_project(PROJECT, review(), provenance_policy(google()))
    from mirror.core.errors import ReviewError

    with pytest.raises(ReviewError, match="requires provenance"):
        await vet_with_service(mirror)
    policies.write_project(PROJECT, review(), provenance_policy(google()),
                           vetted_with_provenance(VERSION, {FILENAME: SHA256}))
    await policies.applied(http, mirror.base, PROJECT)
    assert list(await files_of(http, mirror, "reviewed")) == [FILENAME]
    assert await files_of(http, mirror, "vetted") == {}
    async with http.get(f"{mirror.base}/reviewed/files/{PROJECT}/{FILENAME}") as resp:
        assert resp.status == 200 and await resp.read() == sdist_bytes()
    rule = tier_rule(await explained(http, mirror), "vetted")
    assert "requires provenance" in rule["rule"] and "records no verified publisher" in rule["rule"], rule
    resp = await get(http, integrity_url(mirror, "reviewed"))
    assert resp.status == 404 and resp.content_type == PROVENANCE_TYPE

    # Without `require`, the same vetting serves.
    policies.write_project(PROJECT, review(), provenance_policy(google(), require=False),
                           vetted_with_provenance(VERSION, {FILENAME: SHA256}))
    await policies.applied(http, mirror.base, PROJECT)
    assert list(await files_of(http, mirror, "vetted")) == [FILENAME]


# --------------------------------------------------------------------------- provenance that changes later


async def test_provenance_that_disappears_or_breaks_later_withholds_the_release(
        upstream: FakeUpstream, revalidating: MirrorServer, policies: PolicyDir,
        http: aiohttp.ClientSession) -> None:
    mirror = revalidating
    f = add_fixture(upstream)
    policies.write_project(PROJECT, review(), provenance_policy(google()))
    await vet_with_service(mirror)
    await policies.applied(http, mirror.base, PROJECT)
    assert (await check(mirror))[SHA256].ok
    assert list(await files_of(http, mirror, "vetted")) == [FILENAME]

    f.provenance = tampered_signature()
    upstream.add_file(PROJECT, f)
    assert "signature does not verify" in (await check(mirror))[SHA256].problem
    assert await files_of(http, mirror, "vetted") == {}
    assert list(await files_of(http, mirror, "reviewed")) == [FILENAME]
    # The mirror still passes the (now unverifiable) document through where the file is admitted.
    async with http.get(integrity_url(mirror, "reviewed")) as resp:
        assert resp.status == 200 and json.loads(await resp.read()) == json.loads(tampered_signature())

    f.provenance = provenance_text()  # restored upstream: back in `vetted` after the next check
    upstream.add_file(PROJECT, f)
    assert (await check(mirror))[SHA256].ok
    assert list(await files_of(http, mirror, "vetted")) == [FILENAME]

    add_fixture(upstream, provenance=None)
    assert "no longer advertises provenance" in (await check(mirror))[SHA256].problem
    assert await files_of(http, mirror, "vetted") == {}
    listed = await files_of(http, mirror, "all")
    assert listed[FILENAME]["provenance"] is None
    rule = tier_rule(await explained(http, mirror), "vetted")
    assert "no longer proves" in rule["rule"] and "mirror block" in rule["change"], rule


async def test_stale_provenance_is_served_when_upstream_fails(
        upstream: FakeUpstream, revalidating: MirrorServer, policies: PolicyDir,
        http: aiohttp.ClientSession) -> None:
    mirror = revalidating
    add_fixture(upstream)
    resp = await get(http, integrity_url(mirror, "all"))
    assert resp.status == 200 and "X-Mirror-Stale" not in resp.headers
    upstream.fault_filter = lambda path: path.startswith("/integrity/")
    upstream.fail_status = 500
    async with http.get(integrity_url(mirror, "all")) as resp:
        assert resp.status == 200 and resp.headers["X-Mirror-Stale"] == "1"
        assert await resp.read() == provenance_text().encode()
    await mirror.restart()
    async with http.get(integrity_url(mirror, "all")) as resp:
        assert resp.status == 200  # restored from the database after the restart
    # A file whose provenance was never fetched: 502 with a JSON message, not a traceback.
    wheel = "gcb_attestation_test-0.0.0-py3-none-any.whl"
    upstream.add_file(PROJECT, FakeFile(wheel, b"not fetched yet", provenance=provenance_text()))
    async with http.get(integrity_url(mirror, "all", wheel)) as resp:
        assert resp.status == 502 and "no provenance is cached" in (await resp.json())["message"]
    resp = await get(http, integrity_url(mirror, "all", version="9.9"))
    assert resp.status == 404
    resp = await get(http, integrity_url(mirror, "nowhere"))
    assert resp.status == 404
