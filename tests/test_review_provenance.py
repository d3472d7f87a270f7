"""``mirror vet`` / ``explain`` / ``check`` with real PEP 740 provenance (the shared fixture, Google publisher).

The fake upstream serves the real sdist of ``gcb-attestation-test`` 0.0.0 and its real provenance. The
service tests refuse every non-loopback connection (verification must be offline); the CLI tests run the
real ``mirror`` command with an empty HOME and an unroutable proxy.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mirror.adapters.policy_dir import load_policies
from mirror.config import Config, DatabaseConfig
from mirror.core.errors import ReviewError
from mirror.services.review import ReviewService

from .support.fake_upstream import FakeUpstream
from .support.mirror_server import make_config
from .support.provenance import (
    EMAIL,
    FILENAME,
    IDENTITY,
    OTHER_EMAIL,
    PROJECT,
    SHA256,
    add_fixture,
    google,
    offline_home,
    provenance_policy,
    sdist_bytes,
    tampered_signature,
)

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
OTHER = f"Google:{OTHER_EMAIL}"


@pytest.fixture
def config(tmp_path: Path, upstream: FakeUpstream) -> Config:
    return make_config(tmp_path, upstream.url)


@pytest.fixture
async def service(config: Config, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    guard = offline_home(monkeypatch, tmp_path)
    async with ReviewService(config, clock=lambda: NOW) as svc:
        yield svc
    assert guard.attempts == [], f"tried to reach the network: {guard.attempts}"


def policy_file(config: Config) -> Path:
    return config.policies.path / "projects" / f"{PROJECT}.toml"


def with_provenance_table(config: Config, *publishers: dict, require: bool = True) -> None:
    path = policy_file(config)
    path.write_text(path.read_text() + "\n" + provenance_policy(*publishers, require=require))


def current(config: Config):
    return load_policies(config.policies.path).of(PROJECT)


async def actions(service: ReviewService) -> list[tuple[str, str]]:
    return [(r.action, r.target) for r in await service.audit_records(PROJECT)]


# --------------------------------------------------------------------------- vet


async def test_correct_pin_vets_and_records_the_verified_publisher(service, config, upstream):
    add_fixture(upstream)
    await service.promote(PROJECT, "alice", None)
    with_provenance_table(config, google())
    outcome = await service.vet(PROJECT, "0.0.0", "alice", "read the diff")
    text = "\n".join(outcome.lines)
    assert f"provenance: {FILENAME}: verified offline, published by {IDENTITY}" in text, text
    vetting = current(config).vettings["0"]
    assert dict(vetting.files) == {FILENAME: SHA256}
    assert dict(vetting.provenance) == {FILENAME: IDENTITY}
    assert f'"{FILENAME}" = "{IDENTITY}"' in policy_file(config).read_text()


async def test_wrong_pinned_identity_is_refused_in_plain_words(service, config, upstream):
    add_fixture(upstream)
    await service.promote(PROJECT, "alice", None)
    with_provenance_table(config, google(OTHER_EMAIL))
    with pytest.raises(ReviewError) as info:
        await service.vet(PROJECT, "0.0.0", "alice", None)
    message = str(info.value)
    assert message.startswith(f"refusing to vet {PROJECT} 0.0.0: its provenance does not verify"), message
    assert f"{FILENAME}: pinned {OTHER} (" in message
    assert f"this release's provenance is signed by {IDENTITY} (verified offline)" in message, message
    assert f"mirror vet {PROJECT} 0.0.0 --trust-publisher {IDENTITY} --by NAME --note TEXT" in message
    assert current(config).vettings == {}

    # The printed command re-pins after review: both publishers are then pinned.
    outcome = await service.vet(PROJECT, "0.0.0", "carol", "moved to the new service account",
                                trust_publisher=IDENTITY)
    assert any(f"pinned {IDENTITY} as a trusted publisher" in line for line in outcome.lines), outcome.lines
    policy = current(config)
    assert policy.provenance.identities == (OTHER, IDENTITY) and policy.provenance.require
    assert dict(policy.vettings["0"].provenance) == {FILENAME: IDENTITY}
    assert ("pin-publisher", PROJECT) in await actions(service)


async def test_tampered_file_with_the_same_name_is_refused(service, config, upstream):
    add_fixture(upstream, content=sdist_bytes().replace(b"\x00", b"\x01", 1))  # same name, other bytes
    await service.promote(PROJECT, "alice", None)
    with_provenance_table(config, google())
    with pytest.raises(ReviewError) as info:
        await service.vet(PROJECT, "0.0.0", "alice", None)
    message = str(info.value)
    assert "not the bytes the publisher signed" in message and SHA256 in message, message
    assert "do not vet this release" in message
    assert current(config).vettings == {}


async def test_broken_signature_is_refused(service, config, upstream):
    add_fixture(upstream, provenance=tampered_signature())
    await service.promote(PROJECT, "alice", None)
    with_provenance_table(config, google())
    with pytest.raises(ReviewError, match="signature does not verify"):
        await service.vet(PROJECT, "0.0.0", "alice", None)


async def test_missing_provenance_with_require_is_refused(service, config, upstream):
    add_fixture(upstream, provenance=None)
    await service.promote(PROJECT, "alice", None)
    with_provenance_table(config, google())
    with pytest.raises(ReviewError) as info:
        await service.vet(PROJECT, "0.0.0", "alice", None)
    message = str(info.value)
    assert "requires provenance" in message and f"upstream serves none for {FILENAME}" in message
    assert "stays in 'reviewed'" in message and IDENTITY in message
    # Not required: vetted, and the missing provenance is said.
    path = policy_file(config)
    path.write_text(path.read_text().replace("require = true", "require = false"))
    outcome = await service.vet(PROJECT, "0.0.0", "alice", None)
    assert f"provenance: no provenance for {FILENAME} (not required)" in outcome.lines
    assert dict(current(config).vettings["0"].provenance) == {}


async def test_first_vetting_proposes_the_publisher_and_pins_only_when_confirmed(service, config, upstream):
    add_fixture(upstream)
    await service.promote(PROJECT, "alice", None)
    outcome = await service.vet(PROJECT, "0.0.0", "alice", None)
    text = "\n".join(outcome.lines)
    assert f"signed by {IDENTITY} (verified offline against the provenance's own claim)" in text, text
    assert (f"vet the project's next release with: mirror vet {PROJECT} VERSION --trust-publisher {IDENTITY} "
            "--by NAME --note TEXT") in text and "nothing is recorded" in text
    policy = current(config)
    assert policy.provenance is None and dict(policy.vettings["0"].provenance) == {}

    await service.unvet(PROJECT, "0.0.0", "alice", "vet again, pinning the publisher")
    outcome = await service.vet(PROJECT, "0.0.0", "alice", "first use", trust_publisher=IDENTITY)
    policy = current(config)
    assert policy.provenance.identities == (IDENTITY,) and not policy.provenance.require
    assert dict(policy.vettings["0"].provenance) == {FILENAME: IDENTITY}
    assert [a for a, _ in await actions(service)][-2:] == ["vet", "pin-publisher"]


async def test_require_without_pin_refuses_with_the_trust_on_first_use_command(service, config, upstream):
    add_fixture(upstream)
    await service.promote(PROJECT, "alice", None)
    with_provenance_table(config)  # require = true, nothing pinned
    with pytest.raises(ReviewError) as info:
        await service.vet(PROJECT, "0.0.0", "alice", None)
    assert f"--trust-publisher {IDENTITY} --by NAME" in str(info.value)
    assert "no trusted publisher is pinned" in str(info.value)
    await service.vet(PROJECT, "0.0.0", "alice", "tofu", trust_publisher=IDENTITY)
    assert current(config).provenance.identities == (IDENTITY,)


async def test_trusting_a_publisher_that_did_not_sign_is_refused(service, config, upstream):
    add_fixture(upstream)
    await service.promote(PROJECT, "alice", None)
    with pytest.raises(ReviewError, match=f"no file of {PROJECT} 0.0.0 has provenance signed by it"):
        await service.vet(PROJECT, "0.0.0", "alice", None, trust_publisher="GitHub:someone/else@release.yml")
    with pytest.raises(ReviewError, match="--trust-publisher: 'nonsense' is not a publisher identity"):
        await service.vet(PROJECT, "0.0.0", "alice", None, trust_publisher="nonsense")
    assert current(config).vettings == {} and current(config).provenance is None


# --------------------------------------------------------------------------- explain / check


async def test_disappeared_or_broken_provenance_is_reported_by_explain_and_check(service, config, upstream):
    add_fixture(upstream)
    await service.promote(PROJECT, "alice", None)
    with_provenance_table(config, google())
    await service.vet(PROJECT, "0.0.0", "alice", None)
    assert await service.check() == []

    f = add_fixture(upstream, provenance=None)
    problems = [str(p) for p in await service.check()]
    assert len(problems) == 1, problems
    assert f"vetted {PROJECT} 0.0.0 is withheld from 'vetted'" in problems[0]
    assert "no longer advertises provenance" in problems[0], problems
    assert await service.check(offline=True) == []  # the vetting record itself is fine

    result = await service.explain(PROJECT, "0.0.0")
    vetted = {t.tier.value: t for t in result.explanation.tiers}["vetted"]
    assert not vetted.decision.admitted and "no longer proves" in vetted.decision.rule
    assert {t.tier.value: t for t in result.explanation.tiers}["reviewed"].decision.admitted

    f.provenance = tampered_signature()
    upstream.add_file(PROJECT, f)
    problems = [str(p) for p in await service.check()]
    assert len(problems) == 1 and "signature does not verify" in problems[0], problems


async def test_explain_without_a_database_creates_none(service, config, upstream, tmp_path):
    add_fixture(upstream)
    await service.promote(PROJECT, "alice", None)
    with_provenance_table(config, google())
    await service.vet(PROJECT, "0.0.0", "alice", None)
    elsewhere = tmp_path / "elsewhere" / "mirror.db"  # the same policies, a database nobody created yet
    other = replace(config, database=DatabaseConfig(url=f"sqlite+aiosqlite:///{elsewhere}"))
    async with ReviewService(other, clock=lambda: NOW) as reader:
        result = await reader.explain(PROJECT, "0.0.0")  # verifies provenance: a cache it must not create
        assert {t.tier.value: t for t in result.explanation.tiers}["vetted"].decision.admitted
        assert any("no mirror tables yet" in n and "nothing was cached" in n for n in result.notes), result.notes
        assert await reader.check() == []
    assert not elsewhere.parent.exists()


async def test_check_reports_a_vetting_without_a_verified_publisher(service, config, upstream):
    add_fixture(upstream)
    await service.promote(PROJECT, "alice", None)
    await service.vet(PROJECT, "0.0.0", "alice", None)  # nothing pinned: nothing recorded
    with_provenance_table(config, google())  # then provenance becomes required
    for offline in (True, False):
        problems = [str(p) for p in await service.check(offline=offline)]
        assert len(problems) == 1 and "records no verified publisher" in problems[0], problems


# --------------------------------------------------------------------------- the real command


async def run_cli(config_file: Path, home: Path, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), XDG_DATA_HOME=str(home / ".local"),
               HTTPS_PROXY="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9", NO_PROXY="127.0.0.1,localhost")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mirror", *args, "--config", str(config_file), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=config_file.parent)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_vet_trust_publisher_then_check(tmp_path: Path, upstream: FakeUpstream, dists: Path):
    add_fixture(upstream)
    # the fixture is an sdist whose build needs setuptools: the tiers serve it too, or check lists the hole
    upstream.add_wheel("setuptools", "70.0", dists, upload_time=datetime.now(UTC) - timedelta(days=30))
    home = tmp_path / "home"
    home.mkdir()
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'[upstream]\nurl = "{upstream.url}"\nconnect_timeout = 2\nread_timeout = 5\n'
                           'page_timeout = 10\n\n[storage]\npath = "cache"\n\n[policies]\npath = "policies"\n')
    code, out, err = await run_cli(config_file, home, "promote", PROJECT, "--by", "alice")
    assert code == 0, err
    assert (await run_cli(config_file, home, "promote", "setuptools", "--by", "alice"))[0] == 0
    assert (await run_cli(config_file, home, "vet", "setuptools", "70.0", "--by", "alice"))[0] == 0
    code, out, err = await run_cli(config_file, home, "vet", PROJECT, "0.0.0", "--by", "alice",
                                   "--trust-publisher", IDENTITY, "--note", "first use")
    assert (code, err) == (0, ""), (out, err)
    assert f"provenance: pinned {IDENTITY} as a trusted publisher" in out
    assert f"provenance: {FILENAME}: verified offline, published by {IDENTITY}" in out
    text = (tmp_path / "policies" / "projects" / f"{PROJECT}.toml").read_text()
    assert f'[[provenance.publisher]]\nkind = "Google"\nemail = "{EMAIL}"' in text, text

    path = tmp_path / "policies" / "projects" / f"{PROJECT}.toml"
    path.write_text(text.replace("require = false", "require = true"))
    code, out, err = await run_cli(config_file, home, "check")
    assert code == 0, (out, err)
    assert "recorded uploaders and provenance compared with upstream" in out

    add_fixture(upstream, provenance=None)
    code, out, err = await run_cli(config_file, home, "check")
    assert code == 1, (out, err)
    assert f"vetted {PROJECT} 0.0.0 is withheld from 'vetted'" in out and "no longer advertises provenance" in out
    code, out, err = await run_cli(config_file, home, "explain", PROJECT, "0.0.0")
    assert code == 0, err
    assert "vetted    OUT" in out and "no longer proves" in out, out
