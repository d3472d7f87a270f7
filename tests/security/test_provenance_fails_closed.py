"""Issue 17 points 4-6 and issue 9 point 9: provenance fails closed.

Real PEP 740 provenance (the shared fixture) through the real parts: the fake upstream on loopback,
SQLite, the mirror's page and provenance caches, its background checker (driven with a fake clock where
time matters), the running server's ``/healthz`` and tiers, and the real ``mirror`` command. Every
non-loopback connection is refused: verification must be offline.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from mirror.adapters import provenance as prov
from mirror.adapters.db import PageStore, open_database
from mirror.adapters.db.tables import provenance_documents
from mirror.adapters.upstream import Timeouts, UpstreamClient
from mirror.config import Config, load_config
from mirror.core.errors import ConfigError, ReviewError
from mirror.core.models import Tier
from mirror.core.policy.evaluate import decide_file
from mirror.core.policy.model import GooglePublisher
from mirror.services.cache import CachePolicy
from mirror.services.cpu import CpuLane
from mirror.services.pages import PageService
from mirror.services.policies import PolicyStore
from mirror.services.provenance import ProvenanceCache, ProvenanceChecker
from mirror.services.review import ReviewService
from mirror.web.state import SERVICES

from ..support.fake_upstream import FakeFile, FakeUpstream
from ..support.mirror_server import MirrorServer, make_config
from ..support.policies import PolicyDir, review
from ..support.provenance import (
    EMAIL,
    FILENAME,
    IDENTITY,
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
    vetted_with_provenance,
)

PINNED = GooglePublisher(EMAIL)
REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "mirror" / "data" / "sigstore"
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC).timestamp()
HOUR = 3600.0


@pytest.fixture
def policies(tmp_path: Path) -> PolicyDir:
    """The policies directory of the ``mirror`` fixture (``make_config``)."""
    return PolicyDir(tmp_path / "policies")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> NetworkGuard:
    guard = offline_home(monkeypatch, tmp_path)
    yield guard
    assert guard.attempts == [], f"tried to reach the network: {guard.attempts}"


def without_inclusion_promise(text: str | None = None) -> str:
    """The provenance with its transparency-log inclusion promise removed (sigstore: InvalidBundle)."""
    data = json.loads(text or provenance_text())
    del data["attestation_bundles"][0]["attestations"][0]["verification_material"][
        "transparency_entries"][0]["inclusionPromise"]
    return json.dumps(data)


def vetted_policy(policies: Path, project: str = PROJECT, files: dict[str, str] | None = None,
                  verified: dict[str, str] | None = None) -> None:
    path = policies / "projects" / f"{project}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    files = files if files is not None else {FILENAME: SHA256}
    verified = verified if verified is not None else {name: IDENTITY for name in files}
    path.write_text("\n".join([review(), provenance_policy(google()),
                               vetted_with_provenance(VERSION, files, verified)]))


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now

    def at(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


@dataclass
class Stack:
    """The server's provenance machinery on real parts, with a fake clock."""

    config: Config
    clock: Clock
    policies: PolicyStore
    store: PageStore
    client: UpstreamClient
    pages: PageService
    checker: ProvenanceChecker
    changed: list[str]

    def new_checker(self) -> ProvenanceChecker:
        """A restarted server: empty memory, the same database."""
        cache = ProvenanceCache(self.client, PageStore(self.store._engine, provenance_documents),  # noqa: SLF001
                                clock=self.clock)
        return ProvenanceChecker(self.pages, cache, self.policies, self.changed.append, clock=self.clock)

    def vetted(self, statuses: dict | None = None) -> tuple[bool, str]:
        detail = self.pages.projects.known(PROJECT).value  # the page the checker just used
        f = detail.file_named(FILENAME)
        decision = decide_file(Tier.VETTED, PROJECT, f, self.policies.current, self.clock.at(),
                               statuses if statuses is not None else self.checker.statuses)
        return decision.admitted, decision.rule


@pytest.fixture
async def stack(tmp_path: Path, upstream: FakeUpstream) -> AsyncIterator[Stack]:
    config = make_config(tmp_path, upstream.url)
    clock = Clock()
    engine = await open_database(config.database_settings)
    session = aiohttp.ClientSession()
    try:
        client = UpstreamClient(session, config.upstream_url, Timeouts(2, 2, 5), 1 << 24)
        store = PageStore(engine)
        pages = PageService(client, store, CachePolicy(ttl=0), CachePolicy(ttl=0), CpuLane(), clock=clock)
        policies = PolicyStore(config.policies.path)
        changed: list[str] = []
        cache = ProvenanceCache(client, PageStore(engine, provenance_documents), clock=clock)
        checker = ProvenanceChecker(pages, cache, policies, changed.append, clock=clock)  # default bound: 24 h
        yield Stack(config, clock, policies, store, client, pages, checker, changed)
    finally:
        await session.close()
        await engine.dispose()


# --------------------------------------------------------------------------- 4. any exception is a failed verification


def test_an_exception_while_verifying_is_a_failed_verification() -> None:
    with pytest.raises(prov.ProvenanceError) as caught:
        prov.verify(without_inclusion_promise(), FILENAME, SHA256, [PINNED])
    assert isinstance(caught.value, prov.VerificationFailed)
    assert "InvalidBundle" in caught.value.reason and "treated as not verified" in caught.value.reason
    verdict = prov.examine(without_inclusion_promise(), FILENAME, SHA256, (PINNED,))
    assert not verdict.ok and isinstance(verdict.error, prov.VerificationFailed)


async def test_checker_withholds_counts_and_keeps_checking_later_projects(stack: Stack, upstream: FakeUpstream):
    add_fixture(upstream)
    later = upstream.add_file("zzz-later", FakeFile("zzz_later-1.0.tar.gz", b"later", provenance=None))
    vetted_policy(stack.config.policies.path)
    vetted_policy(stack.config.policies.path, "zzz-later", {later.filename: later.sha256}, {})
    stack.policies.load()
    assert list(stack.policies.current.projects) == [PROJECT, "zzz-later"]

    statuses = await stack.checker.check_all()
    assert statuses[SHA256].ok and stack.checker.errors == 0
    assert stack.vetted()[0]

    f = add_fixture(upstream, provenance=without_inclusion_promise())
    stack.clock.now += 11 * 60  # the cached copy is out of date: the checker fetches the broken one
    statuses = await stack.checker.check_all()  # must not raise
    assert not statuses[SHA256].ok, statuses[SHA256]
    assert "InvalidBundle" in statuses[SHA256].problem
    assert later.sha256 in statuses, "the check of a later project was skipped"
    assert stack.checker.errors == 1 and "InvalidBundle" in str(stack.checker.health()["last_error"])
    admitted, rule = stack.vetted()
    assert not admitted and "provenance does not verify" in rule and "InvalidBundle" in rule, rule
    assert PROJECT in stack.changed

    # An unexpected failure of a whole project check: that project is withheld, the next still checked.
    f.provenance = provenance_text()
    upstream.add_file(PROJECT, f)
    stack.clock.now += 11 * 60
    real_status = stack.checker.verifier.status

    async def broken(file, sha256, pins):
        if file.filename == FILENAME:
            raise RuntimeError("a bug in the check")
        return await real_status(file, sha256, pins)

    stack.checker.verifier.status = broken  # type: ignore[method-assign]
    del stack.checker.statuses[later.sha256]
    statuses = await stack.checker.check_all()
    assert not statuses[SHA256].ok and "RuntimeError: a bug in the check" in statuses[SHA256].problem
    assert later.sha256 in statuses
    assert stack.checker.errors == 2 and stack.checker.health()["failing_files"] == 2
    stack.checker.verifier.status = real_status  # type: ignore[method-assign]
    stack.clock.now += 11 * 60
    assert (await stack.checker.check_all())[SHA256].ok  # fixed: back in vetted


async def test_explain_and_check_show_the_failure(tmp_path: Path, upstream: FakeUpstream):
    add_fixture(upstream, provenance=without_inclusion_promise())
    config = make_config(tmp_path, upstream.url)
    vetted_policy(config.policies.path)
    async with ReviewService(config, clock=lambda: datetime(2026, 11, 25, tzinfo=UTC)) as service:
        result = await service.explain(PROJECT, VERSION)
        vetted = {t.tier.value: t for t in result.explanation.tiers}["vetted"].decision
        assert not vetted.admitted and "InvalidBundle" in vetted.rule, vetted.rule
        [problem] = [str(p) for p in await service.check()]
        assert "withheld from 'vetted'" in problem and "InvalidBundle" in problem, problem
        await service.unvet(PROJECT, VERSION, "alice", "vet again")
        with pytest.raises(ReviewError, match="InvalidBundle"):
            await service.vet(PROJECT, VERSION, "alice", None)


async def test_healthz_reports_the_trust_root_and_the_failures(
        upstream: FakeUpstream, mirror: MirrorServer, policies: PolicyDir, http: aiohttp.ClientSession) -> None:
    add_fixture(upstream, provenance=without_inclusion_promise())
    policies.write_project(PROJECT, review(), provenance_policy(google()),
                           vetted_with_provenance(VERSION, {FILENAME: SHA256}, {FILENAME: IDENTITY}))
    await policies.applied(http, mirror.base, PROJECT)
    await mirror.app[SERVICES].provenance_checker.check_all()
    async with http.get(f"{mirror.base}/healthz") as resp:
        assert resp.status == 200
        health = await resp.json()
    manifest = (SHIPPED / "trusted_root.toml").read_text()
    trust = health["provenance"]["trust_root"]
    assert health["status"] == "ok" and trust["ok"] and f'sha256 = "{trust["sha256"]}"' in manifest
    assert isinstance(trust["version"], int) and trust["source"] and trust["updated"]
    assert health["provenance"]["errors"] >= 1 and health["provenance"]["failing_files"] == 1
    assert "InvalidBundle" in health["provenance"]["last_error"]
    async with http.get(f"{mirror.index('vetted')}{PROJECT}/",
                        headers={"Accept": "application/vnd.pypi.simple.v1+json"}) as resp:
        assert resp.status == 404 or (await resp.json(content_type=None))["files"] == []


# --------------------------------------------------------------------------- 5. the pinned trust root


def test_the_shipped_trust_root_matches_its_recorded_sha256() -> None:
    import tomllib

    manifest = tomllib.loads((SHIPPED / "trusted_root.toml").read_text())
    assert hashlib.sha256((SHIPPED / "trusted_root.json").read_bytes()).hexdigest() == manifest["sha256"]
    from mirror.adapters import trust_root

    assert trust_root.status() == {"ok": True, "version": manifest["version"], "sha256": manifest["sha256"],
                                   "source": manifest["source"], "updated": manifest["updated"]}


def poison_sigstore_cache() -> list[Path]:
    """A trust root in sigstore's own cache under $HOME that verifies nothing (no CA, no logs), where
    sigstore's offline mode reads it from. Returns the files written."""
    from sigstore._internal.tuf import DEFAULT_TUF_URL, _get_dirs
    from sigstore._utils import read_embedded

    real = json.loads(read_embedded("trusted_root.json", DEFAULT_TUF_URL))
    poisoned = dict(real, certificateAuthorities=[], tlogs=[], ctlogs=[])
    written = []
    for directory in _get_dirs(DEFAULT_TUF_URL):
        directory.mkdir(parents=True, exist_ok=True)
        for name in ("trusted_root.json", "signing_config.v0.2.json"):
            (directory / name).write_bytes(json.dumps(poisoned).encode() if name == "trusted_root.json"
                                           else read_embedded(name, DEFAULT_TUF_URL))
            written.append(directory / name)
    return written


def test_a_poisoned_trust_root_in_the_home_cache_is_ignored(tmp_path: Path) -> None:
    written = poison_sigstore_cache()
    assert all(str(p).startswith(os.environ["HOME"]) for p in written)
    before = {p: p.read_bytes() for p in written}
    assert prov.verify(provenance_text(), FILENAME, SHA256, [PINNED]) == IDENTITY
    with pytest.raises(prov.IdentityMismatch):  # still a real verification, with the shipped root
        prov.verify(provenance_text(), FILENAME, SHA256, [GooglePublisher("someone@else.iam.gserviceaccount.com")])
    assert {p: p.read_bytes() for p in written} == before
    home = Path(os.environ["HOME"])
    assert sorted(p for p in home.rglob("*") if p.is_file()) == sorted(written), "verification wrote into $HOME"


def test_an_altered_shipped_trust_root_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mirror.adapters import trust_root

    copy = tmp_path / "sigstore"
    shutil.copytree(SHIPPED, copy)
    data = json.loads((copy / "trusted_root.json").read_text())
    data["tlogs"] = data["tlogs"][:1]
    (copy / "trusted_root.json").write_text(json.dumps(data))  # e.g. an edit on a writable install
    monkeypatch.setattr(trust_root, "SHIPPED_DIR", copy)
    status = trust_root.status()
    assert not status["ok"] and "records" in status["problem"] and "altered" in status["problem"]
    with pytest.raises(prov.VerificationFailed, match="trust root is unusable"):
        prov.verify(provenance_text(), FILENAME, SHA256, [PINNED])


def test_the_refresh_script_installs_a_checked_trust_root(tmp_path: Path) -> None:
    from mirror.adapters import trust_root

    script = REPO / "tools" / "refresh_trust_root.py"
    target = tmp_path / "root"
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(script), "--directory", str(target), *args], env=env,
                              capture_output=True, text=True, timeout=120)

    done = run()
    assert done.returncode == 0 and "updated: version 1" in done.stdout, done
    first = trust_root.info(target)
    assert first.version == 1 and first.source.startswith("sigstore ")
    assert run("--check").returncode == 0
    assert run().stdout.startswith("unchanged: version 1")
    (target / "trusted_root.json").write_text((target / "trusted_root.json").read_text() + "\n")
    assert run("--check").returncode == 1
    done = run()
    assert done.returncode == 0 and "updated: version 2" in done.stdout, done
    assert trust_root.info(target).sha256 == first.sha256


async def test_mirror_check_reports_the_trust_root(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[upstream]\nurl = "http://127.0.0.1:9/simple/"\n[storage]\npath = "cache"\n'
                      '[policies]\npath = "policies"\n')
    (tmp_path / "policies" / "projects").mkdir(parents=True)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mirror", "check", "--offline", "--config", str(config), cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    from mirror.adapters import trust_root

    info = trust_root.info()
    assert proc.returncode == 0, (out, err)
    assert f"Sigstore trust root (pinned, {SHIPPED}): version {info.version}, sha256 {info.sha256}" in out.decode()


# --------------------------------------------------------------------------- 6. exact subject name


@pytest.mark.parametrize("name", ["gcb_attestation_test-0.0.0.zip", "GCB.Attestation_Test-0.0.0.tar.gz",
                                  "gcb-attestation-test-0.0.0.tar.gz"])
def test_the_subject_name_must_equal_the_file_name_exactly(name: str) -> None:
    with pytest.raises(prov.DigestMismatch, match="must be exactly the file's name"):
        prov.verify(provenance_text(), name, SHA256, [PINNED])
    assert prov.verify(provenance_text(), FILENAME, SHA256, [PINNED]) == IDENTITY


async def test_vet_refuses_the_signed_bytes_under_another_name(tmp_path: Path, upstream: FakeUpstream):
    other = "gcb_attestation_test-0.0.0.zip"
    upstream.add_file(PROJECT, FakeFile(other, sdist_bytes(), provenance=provenance_text()))
    config = make_config(tmp_path, upstream.url)
    path = config.policies.path / "projects" / f"{PROJECT}.toml"
    path.parent.mkdir(parents=True)
    path.write_text(review() + "\n" + provenance_policy(google()))
    async with ReviewService(config) as service:
        with pytest.raises(ReviewError, match=f"not {other}: its subject name must be exactly"):
            await service.vet(PROJECT, VERSION, "alice", None)


# --------------------------------------------------------------------------- 9.9 bounded staleness


async def test_provenance_that_can_no_longer_be_fetched_stops_being_proof(stack: Stack, upstream: FakeUpstream):
    f = add_fixture(upstream)
    vetted_policy(stack.config.policies.path)
    stack.policies.load()
    assert (await stack.checker.check_all())[SHA256].ok

    upstream.fault_filter = lambda path: path.startswith("/integrity/")
    upstream.fail_status = 500
    for hours in (0.2, 12, 23.9):
        stack.clock.now = T0 + hours * HOUR
        status = (await stack.checker.check_all())[SHA256]
        assert status.ok, (hours, status)  # the last good copy still counts
        assert stack.vetted()[0]

    stack.clock.now = T0 + 24.2 * HOUR
    status = (await stack.checker.check_all())[SHA256]
    assert not status.ok
    assert "not proof" in status.problem and "provenance_max_stale (24 h)" in status.problem, status.problem
    assert "injected 500" in status.problem or "HTTP 500" in status.problem, status.problem
    admitted, rule = stack.vetted()
    assert not admitted and "provenance does not verify" in rule and "not proof" in rule, rule

    # A restarted server (same database) does not forget how old its copy is.
    restarted = stack.new_checker()
    assert not (await restarted.check_all())[SHA256].ok

    # Nor does `mirror explain` / `mirror check` on the same database: they say so.
    async with ReviewService(stack.config, clock=stack.clock.at) as service:
        result = await service.explain(PROJECT, VERSION)
        vetted = {t.tier.value: t for t in result.explanation.tiers}["vetted"].decision
        assert not vetted.admitted and "provenance_max_stale" in vetted.rule, vetted.rule
        [problem] = [str(p) for p in await service.check()]
        assert "withheld from 'vetted'" in problem and "not proof" in problem, problem

    # Garbage instead of an error is no better.
    upstream.fault_filter = None
    upstream.fail_status = None
    f.provenance = "this is not a provenance object"
    upstream.add_file(PROJECT, f)
    stack.clock.now = T0 + 25 * HOUR
    assert not (await stack.checker.check_all())[SHA256].ok

    # Upstream serves valid provenance again: verified again, back in vetted.
    f.provenance = provenance_text()
    upstream.add_file(PROJECT, f)
    stack.clock.now = T0 + 26 * HOUR
    assert (await stack.checker.check_all())[SHA256].ok
    assert stack.vetted()[0]


async def test_stale_copies_within_the_bound_come_from_the_database_after_a_restart(stack: Stack,
                                                                                  upstream: FakeUpstream):
    add_fixture(upstream)
    vetted_policy(stack.config.policies.path)
    stack.policies.load()
    assert (await stack.checker.check_all())[SHA256].ok
    upstream.fault_filter = lambda path: path.startswith("/integrity/")
    upstream.fail_status = 503
    stack.clock.now = T0 + 2 * HOUR
    assert (await stack.new_checker().check_all())[SHA256].ok


def test_provenance_max_stale_is_configurable_and_checked(tmp_path: Path) -> None:
    assert Config().upstream.provenance_max_stale == 24 * HOUR
    path = tmp_path / "config.toml"
    path.write_text("[upstream]\nprovenance_max_stale = 3600\n")
    assert load_config(path).upstream.provenance_max_stale == 3600
    path.write_text("[upstream]\nurl = \"pypi\"\nprovenance_max_stale = 60\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == "upstream.provenance_max_stale" and caught.value.line == 3


def test_a_provenance_document_over_the_size_cap_is_refused() -> None:
    """Documents over MAX_PROVENANCE_BYTES (4 MiB) are never parsed nor cached: the fetch limit and the
    document check both refuse them."""
    from mirror.adapters.provenance import MAX_PROVENANCE_BYTES, ProvenanceError, check_document

    assert MAX_PROVENANCE_BYTES == 4 * 1024 * 1024
    big = b'{"version": 1, "attestation_bundles": [], "pad": "' + b"x" * MAX_PROVENANCE_BYTES + b'"}'
    with pytest.raises(ProvenanceError, match="larger than"):
        check_document(big)
