"""Issue 17 points 1-3: nothing a reviewer is shown, asked to run or has recorded comes from an unverified source.

Real PEP 740 provenance (the shared fixture, signed by a Google service account) served by the fake
upstream, with its *unsigned* ``publisher`` claim rewritten by a hostile upstream. The printed commands are
run in a real shell (``bash -c``) with a stand-in ``mirror`` on PATH that records its arguments: nothing
but that one command may run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mirror.adapters import provenance as prov
from mirror.adapters.policy_dir import load_policies
from mirror.config import Config
from mirror.core.errors import ReviewError
from mirror.core.policy.evaluate import repin_command
from mirror.core.policy.model import PublisherSyntaxError, claimed_identity, parse_identity
from mirror.services.review import ReviewService

from ..support.fake_upstream import FakeUpstream
from ..support.mirror_server import make_config
from ..support.policies import review
from ..support.provenance import (
    FILENAME,
    IDENTITY,
    OTHER_EMAIL,
    PROJECT,
    SHA256,
    VERSION,
    add_fixture,
    claiming,
    google,
    offline_home,
    provenance_policy,
    provenance_text,
    tampered_signature,
    vetted_with_provenance,
)

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
#: An unsigned claim that, pasted unquoted or naively single-quoted into a shell, runs ``touch pwned``.
EVIL_EMAIL = "x@y.z';touch${IFS}pwned;'"
EVIL_CLAIMS = [
    {"kind": "Google", "email": EVIL_EMAIL},
    {"kind": "GitHub", "repository": "o/r", "workflow": "x';touch${IFS}pwned;'.yml"},
    {"kind": "GitLab", "repository": "g/p", "workflow_filepath": "$(touch${IFS}pwned).yml"},
    {"kind": "GitHub", "repository": "o/r`touch${IFS}pwned`", "workflow": "release.yml"},
]
ATTACKER = "Google:attacker@evil-project.iam.gserviceaccount.com"
COMMAND = re.compile(r"\bmirror (?:vet|unvet|block|unblock|promote|demote)\b")


@pytest.fixture
def config(tmp_path: Path, upstream: FakeUpstream) -> Config:
    return make_config(tmp_path, upstream.url)


@pytest.fixture
async def service(config: Config, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    guard = offline_home(monkeypatch, tmp_path)
    async with ReviewService(config, clock=lambda: NOW) as svc:
        yield svc
    assert guard.attempts == [], f"tried to reach the network: {guard.attempts}"


def write_policy(config: Config, *tables: str) -> None:
    path = config.policies.path / "projects" / f"{PROJECT}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(tables))


def printed_commands(text: str) -> list[str]:
    """Every reviewer command in ``text``, from ``mirror`` to the end of its line."""
    return [line[m.start():].strip() for line in text.splitlines() for m in COMMAND.finditer(line)]


def run_in_shell(commands: list[str], tmp_path: Path) -> list[list[str]]:
    """Run each command with ``bash -c`` in an empty directory, ``mirror`` being a stand-in that records its
    arguments; fail if anything else ran (the injected ``touch pwned``). Returns each recorded argv."""
    bash = shutil.which("bash")
    assert bash, "bash is needed to run the printed commands"
    root = tmp_path / "shell"
    (root / "bin").mkdir(parents=True, exist_ok=True)
    work = root / "work"
    work.mkdir(exist_ok=True)
    stand_in = root / "bin" / "mirror"
    stand_in.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done >> "$ARGV_LOG"\n'
                        'printf "\\n" >> "$ARGV_LOG"\n')
    stand_in.chmod(0o755)
    calls: list[list[str]] = []
    for cmd in commands:
        log = root / "argv.log"
        log.unlink(missing_ok=True)
        env = {"PATH": f"{root / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}", "ARGV_LOG": str(log),
               "HOME": str(root)}
        subprocess.run([bash, "-c", cmd], cwd=work, env=env, capture_output=True, timeout=30)
        assert not (work / "pwned").exists(), f"pasting the printed command ran injected shell code: {cmd}"
        assert list(work.iterdir()) == [], f"the printed command left files behind: {cmd}"
        runs = log.read_text().splitlines() if log.exists() else []
        assert len(runs) == 1, f"expected exactly one mirror invocation from {cmd!r}, got {runs!r}"
        calls.append(runs[0].split("\0")[:-1])
    return calls


# --------------------------------------------------------------------------- 1. commands are never built from claims


@pytest.mark.parametrize("claim", EVIL_CLAIMS, ids=["google-email", "github-workflow", "gitlab-path", "github-repo"])
def test_hostile_claims_are_not_identities(claim) -> None:
    assert claimed_identity(claim) is None
    assert prov.claimed_publishers(claiming(claim)) == []


@pytest.mark.parametrize("text", [f"Google:{EVIL_EMAIL}", "GitHub:o/r@x';touch${IFS}pwned;'.yml",
                                  "GitLab:g/p@$(id).yml", "GitHub:o/..@release.yml", "GitLab:g/../p@ci.yml",
                                  "CircleCI:a;b/c", "Google:a b@c.d"])
def test_identities_are_validated_against_strict_patterns(text) -> None:
    with pytest.raises(PublisherSyntaxError):
        parse_identity(text)


def test_every_word_of_a_printed_command_is_quoted(tmp_path: Path) -> None:
    from mirror.core.policy.commands import command

    words = ["mirror", "vet", "demo", "1.0", "--note", "it's $(touch pwned); `touch pwned` && touch pwned"]
    line = command(*words)
    assert shlex.split(line) == words
    [argv] = run_in_shell([line], tmp_path)
    assert argv == words[1:]
    assert repin_command("demo", "1.0", parse_identity(IDENTITY)) == \
        f"mirror vet demo 1.0 --trust-publisher {IDENTITY} --by NAME --note TEXT"


async def test_vet_never_prints_a_hostile_claim_into_a_command(service, config, upstream, tmp_path):
    """The signature is valid (the real signer) but the pin is someone else and the document's claim is
    shell code: the refusal shows no command built from the claim, and running what it shows runs nothing."""
    add_fixture(upstream, provenance=claiming({"kind": "Google", "email": EVIL_EMAIL}))
    write_policy(config, review(), provenance_policy(google(OTHER_EMAIL)))
    with pytest.raises(ReviewError) as info:
        await service.vet(PROJECT, VERSION, "alice", None)
    message = str(info.value)
    run_in_shell(printed_commands(message), tmp_path)
    assert "refusing to vet" in message
    assert "pwned" not in " ".join(printed_commands(message)), message
    assert "unverified" in message, message
    assert load_policies(config.policies.path).of(PROJECT).vettings == {}


async def test_explain_and_check_never_print_a_hostile_claim_into_a_command(service, config, upstream, tmp_path):
    """A vetted release whose provenance upstream now serves with a broken signature and a shell-code claim."""
    add_fixture(upstream, provenance=tampered_signature(claiming({"kind": "Google", "email": EVIL_EMAIL})))
    write_policy(config, review(), provenance_policy(google()),
                 vetted_with_provenance(VERSION, {FILENAME: SHA256}, {FILENAME: IDENTITY}))
    explained = (await service.explain(PROJECT, VERSION)).as_text()
    assert "vetted    OUT" in explained, explained
    checked = "\n".join(str(p) for p in await service.check())
    assert "withheld from 'vetted'" in checked, checked
    commands = printed_commands(explained) + printed_commands(checked)
    assert commands, "explain and check print the commands that would change the decision"
    calls = run_in_shell(commands, tmp_path)
    assert not any("--trust-publisher" in c for c in commands), commands
    assert ["block", f"{PROJECT}=={VERSION}", "--by", "NAME", "--reason", "TEXT"] in calls


async def test_a_verified_signer_is_offered_quoted_and_runs_as_one_command(service, config, upstream, tmp_path):
    """The real signer is not pinned: the re-pin command names it (it verified) and runs as exactly that."""
    add_fixture(upstream)
    write_policy(config, review(), provenance_policy(google(OTHER_EMAIL)))
    with pytest.raises(ReviewError) as info:
        await service.vet(PROJECT, VERSION, "alice", None)
    commands = printed_commands(str(info.value))
    assert len(commands) == 1, str(info.value)
    [argv] = run_in_shell(commands, tmp_path)
    assert argv == ["vet", PROJECT, VERSION, "--trust-publisher", IDENTITY, "--by", "NAME", "--note", "TEXT"]


# --------------------------------------------------------------------------- 2. first-use records: verified only


def with_extra_bundle(publisher: dict, text: str | None = None) -> str:
    """The real provenance plus a bundle that only *claims* ``publisher``: it holds no attestation."""
    data = json.loads(text or provenance_text())
    data["attestation_bundles"].append({"publisher": publisher, "attestations": []})
    return json.dumps(data)


@pytest.mark.parametrize("trust", [None, IDENTITY], ids=["proposed", "trust-publisher"])
async def test_an_unsigned_bundle_never_gets_its_claim_recorded(service, config, upstream, trust):
    attacker = {"kind": "Google", "email": ATTACKER.removeprefix("Google:")}
    f = add_fixture(upstream, provenance=with_extra_bundle(attacker))
    upstream.set_owners(PROJECT, ["maintainer"])
    await service.promote(PROJECT, "alice", None)
    upstream.reset_log()
    outcome = await service.vet(PROJECT, VERSION, "alice", "first use", trust_publisher=trust)
    uploaders = load_policies(config.policies.path).of(PROJECT).uploaders
    assert uploaders is not None and uploaders.publishers == (IDENTITY,), (uploaders, outcome.lines)
    assert ATTACKER not in config.policies.path.joinpath("projects", f"{PROJECT}.toml").read_text()
    # The publishers come from the documents that were verified: one fetch of the provenance, not two.
    assert upstream.count(f"/integrity/{PROJECT}/") == 1, upstream.requests

    # Later, upstream serves the honest document: vetting again is not refused as an "uploader change".
    f.provenance = provenance_text()
    upstream.add_file(PROJECT, f)
    await service.unvet(PROJECT, VERSION, "alice", "again")
    outcome = await service.vet(PROJECT, VERSION, "bob", "honest document", trust_publisher=trust)
    assert any("matches [uploaders]" in line for line in outcome.lines), outcome.lines


async def test_a_claim_without_a_valid_signature_is_not_recorded(service, config, upstream):
    """Nothing pinned, a document whose claim is someone the signature does not belong to: refused, nothing
    recorded (the claim is never taken at its word)."""
    add_fixture(upstream, provenance=claiming({"kind": "Google", "email": OTHER_EMAIL}))
    upstream.set_owners(PROJECT, ["maintainer"])
    await service.promote(PROJECT, "alice", None)
    with pytest.raises(ReviewError, match="does not verify"):
        await service.vet(PROJECT, VERSION, "alice", None)
    policy = load_policies(config.policies.path).of(PROJECT)
    assert policy.uploaders is None and policy.vettings == {}


# --------------------------------------------------------------------------- 3. never recommend trusting the unverified


async def test_invalid_signature_is_reported_as_not_verifying_not_as_a_publisher_change(service, config, upstream):
    add_fixture(upstream, provenance=tampered_signature(claiming({"kind": "Google",
                                                                  "email": ATTACKER.removeprefix("Google:")})))
    write_policy(config, review(), provenance_policy(google()),
                 vetted_with_provenance(VERSION, {FILENAME: SHA256}, {FILENAME: IDENTITY}))
    result = await service.explain(PROJECT, VERSION)
    vetted = {t.tier.value: t for t in result.explanation.tiers}["vetted"].decision
    assert not vetted.admitted
    assert vetted.rule.startswith("provenance does not verify"), vetted.rule
    assert "signature does not verify" in vetted.rule and f"claims, unverified: {ATTACKER}" in vetted.rule
    assert "publisher changed" not in vetted.rule and "re-pin with" not in (vetted.change or "")
    assert "--trust-publisher" not in (vetted.change or "")
    [problem] = [str(p) for p in await service.check()]
    assert "provenance does not verify" in problem and "--trust-publisher" not in problem, problem


async def test_a_verified_other_signer_is_reported_as_a_publisher_change_with_the_re_pin(service, config, upstream):
    """Pinned someone else (and the vetting says so); the real signer now verifies: a real publisher change."""
    add_fixture(upstream)
    other = f"Google:{OTHER_EMAIL}"
    write_policy(config, review(), provenance_policy(google(OTHER_EMAIL)),
                 vetted_with_provenance(VERSION, {FILENAME: SHA256}, {FILENAME: other}))
    result = await service.explain(PROJECT, VERSION)
    vetted = {t.tier.value: t for t in result.explanation.tiers}["vetted"].decision
    assert not vetted.admitted
    assert vetted.rule.startswith(f"publisher changed: {FILENAME} was pinned to {other}, but the provenance "
                                  f"upstream serves now is signed by {IDENTITY} (signature verified offline)"), \
        vetted.rule
    assert f"re-pin with: mirror vet {PROJECT} {VERSION} --trust-publisher {IDENTITY} --by NAME" in vetted.change
