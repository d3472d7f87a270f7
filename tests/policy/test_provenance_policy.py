"""``[provenance]`` and ``[vetted."V".provenance]``: parsing, validation errors, and the ``vetted`` rule (pure)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mirror.core.errors import PolicyError
from mirror.core.models import DistFile, ProjectDetail, Tier
from mirror.core.policy.evaluate import decide_file
from mirror.core.policy.explain import explain
from mirror.core.policy.load import parse_project
from mirror.core.policy.model import (
    CircleCIPublisher,
    GitHubPublisher,
    GitLabPublisher,
    GooglePublisher,
    PolicySet,
    ProvenanceStatus,
    PublisherSyntaxError,
    claimed_identity,
    parse_identity,
)
from mirror.core.tiers import Evidence, decide_page

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
FILENAME = "demo-1.0.tar.gz"
SHA = "a" * 64
GOOGLE = "Google:bot@demo.iam.gserviceaccount.com"
GITHUB = "GitHub:demo/demo@release.yml"

HEAD = '''[review]
by = "alice"
'''
PROVENANCE = '''
[provenance]
require = true
by = "alice"
at = 2026-11-20T09:30:00Z

[[provenance.publisher]]
kind = "Google"
email = "bot@demo.iam.gserviceaccount.com"

[[provenance.publisher]]
kind = "GitHub"
repository = "demo/demo"
workflow = "release.yml"
'''
VETTED = f'''
[vetted."1.0"]
by = "alice"

[vetted."1.0".files]
"{FILENAME}" = "{SHA}"
'''
RECORD = f'''
[vetted."1.0".provenance]
"{FILENAME}" = "{GOOGLE}"
'''


def sdist(sha: str = SHA) -> DistFile:
    return DistFile(FILENAME, "https://up.example/demo-1.0.tar.gz", {"sha256": sha},
                    upload_time=NOW - timedelta(days=30),
                    provenance="https://up.example/integrity/demo/1.0/demo-1.0.tar.gz/provenance")


def load(text: str) -> PolicySet:
    return PolicySet(projects={"demo": parse_project(text, "demo.toml", "demo")}, version="t")


def tiers_of(pol: PolicySet, f: DistFile, statuses=None) -> set[Tier]:
    return {t for t in Tier if decide_file(t, "demo", f, pol, NOW, statuses).admitted}


# --------------------------------------------------------------------------- identities


@pytest.mark.parametrize("identity, publisher", [
    (GITHUB, GitHubPublisher("demo/demo", "release.yml")),
    ("GitLab:group/sub/demo@ci/release.gitlab-ci.yml", GitLabPublisher("group/sub/demo", "ci/release.gitlab-ci.yml")),
    (GOOGLE, GooglePublisher("bot@demo.iam.gserviceaccount.com")),
    ("CircleCI:0f1e-aa/77-bb", CircleCIPublisher("0f1e-aa", "77-bb")),
])
def test_identity_strings_round_trip(identity, publisher) -> None:
    assert parse_identity(identity) == publisher and publisher.identity == identity


@pytest.mark.parametrize("bad", ["demo/demo@release.yml", "GitHub:demo@release.yml", "GitHub:demo/demo",
                                 "GitHub:demo/demo@.github/workflows/release.yml", "Google:not-an-email",
                                 "Bitbucket:demo/demo@x.yml", "CircleCI:only-one"])
def test_bad_identity_strings(bad) -> None:
    with pytest.raises(PublisherSyntaxError):
        parse_identity(bad)


def test_claimed_identity_of_pep740_publisher_objects() -> None:
    assert claimed_identity({"kind": "GitHub", "repository": "demo/demo", "workflow": "release.yml",
                             "environment": "pypi"}) == GITHUB
    assert claimed_identity({"kind": "GitLab", "repository": "g/demo", "workflow_filepath": ".gitlab-ci.yml"}) \
        == "GitLab:g/demo@.gitlab-ci.yml"
    assert claimed_identity({"kind": "Google", "email": "bot@demo.iam.gserviceaccount.com"}) == GOOGLE
    assert claimed_identity({"kind": "GitHub"}) is None and claimed_identity("GitHub") is None


# --------------------------------------------------------------------------- loading


def test_provenance_tables_parse() -> None:
    policy = parse_project(HEAD + PROVENANCE + VETTED + RECORD, "demo.toml", "demo")
    rule = policy.provenance
    assert rule is not None and rule.require and rule.signed.by == "alice"
    assert rule.identities == (GOOGLE, GITHUB)
    assert rule.where.line == 4 and [w.line for w in rule.publisher_where] == [9, 13]
    assert policy.vettings["1"].provenance == {FILENAME: GOOGLE}


def test_provenance_is_optional_and_require_defaults_to_false() -> None:
    assert parse_project(HEAD + VETTED, "demo.toml", "demo").provenance is None
    rule = parse_project(HEAD + "[provenance]\n", "demo.toml", "demo").provenance
    assert rule is not None and not rule.require and rule.publishers == ()


def _error(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        parse_project(text, "demo.toml", "demo")
    return caught.value


def _line(text: str, pattern: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if re.search(pattern, line))


@pytest.mark.parametrize("edit, key, problem, at", [
    (("require = true", 'require = "yes"'), "provenance.require", "expected true or false", r'^require'),
    (('kind = "GitHub"', 'kind = "Bitbucket"'), "provenance.publisher.kind", "unknown publisher kind",
     r'Bitbucket'),
    (('workflow = "release.yml"', 'workflow = ".github/workflows/release.yml"'), "provenance.publisher.workflow",
     "workflow file name", r'^workflow'),
    (('repository = "demo/demo"', 'repository = "demo"'), "provenance.publisher.repository", "OWNER/NAME",
     r'^repository'),
    (('email = "bot@demo.iam.gserviceaccount.com"', 'email = "bot"'), "provenance.publisher.email",
     "e-mail address", r'^email'),
    (('workflow = "release.yml"', 'workflow = "release.yml"\nenvironment = "pypi"'),
     "provenance.publisher.environment", "not covered by the signing certificate", r'^environment'),
    (('workflow = "release.yml"', 'workflow = "release.yml"\nemail = "x@y.z"'), "provenance.publisher.email",
     "unknown key for a GitHub publisher", r'^email = "x'),
    (("require = true", "require = true\nsigned = true"), "provenance.signed", "unknown key", r'^signed'),
    ((f'"{FILENAME}" = "{GOOGLE}"', f'"other-1.0.tar.gz" = "{GOOGLE}"'),
     'vetted."1.0".provenance."other-1.0.tar.gz"', "not a file of this vetting", r'^"other'),
    ((f'"{FILENAME}" = "{GOOGLE}"', f'"{FILENAME}" = "google:bot@demo"'),
     f'vetted."1.0".provenance."{FILENAME}"', "not a publisher identity", r'google:bot'),
    ((f'"{FILENAME}" = "{GOOGLE}"', f'"{FILENAME}" = true'),
     f'vetted."1.0".provenance."{FILENAME}"', "wrong type bool", r'gz" = true$'),
])
def test_mistakes_name_file_line_and_key(edit, key, problem, at) -> None:
    text = (HEAD + PROVENANCE + VETTED + RECORD).replace(*edit)
    err = _error(text)
    assert err.file == "demo.toml" and err.key == key, err
    assert problem in err.problem, err
    assert err.line == _line(text, at), err


def test_publisher_pinned_twice_is_an_error() -> None:
    text = HEAD + PROVENANCE + ('\n[[provenance.publisher]]\nkind = "Google"\n'
                                'email = "bot@demo.iam.gserviceaccount.com"\n')
    err = _error(text)
    assert "pinned twice" in err.problem and err.line == len(text.splitlines()) - 2


# --------------------------------------------------------------------------- evaluation


def test_a_verified_vetting_admits_the_file_to_vetted() -> None:
    pol = load(HEAD + PROVENANCE + VETTED + RECORD)
    assert tiers_of(pol, sdist()) == set(Tier)
    decision = decide_file(Tier.VETTED, "demo", sdist(), pol, NOW)
    assert f"provenance verified: published by {GOOGLE}" in decision.rule


def test_require_without_a_recorded_verification_keeps_it_out_of_vetted_only() -> None:
    pol = load(HEAD + PROVENANCE + VETTED)
    assert tiers_of(pol, sdist()) == {Tier.ALL, Tier.REVIEWED}
    decision = decide_file(Tier.VETTED, "demo", sdist(), pol, NOW)
    assert "requires provenance" in decision.rule and "records no verified publisher" in decision.rule
    assert decision.change and "mirror vet demo" in decision.change


def test_without_require_a_missing_record_does_not_matter() -> None:
    pol = load(HEAD + PROVENANCE.replace("require = true", "require = false") + VETTED)
    assert tiers_of(pol, sdist()) == set(Tier)


def test_require_with_no_pinned_publisher_withholds_and_says_how_to_pin() -> None:
    pol = load(HEAD + "\n[provenance]\nrequire = true\n" + VETTED)
    decision = decide_file(Tier.VETTED, "demo", sdist(), pol, NOW)
    assert not decision.admitted and "no trusted publisher is pinned" in decision.rule
    assert "--trust-publisher" in decision.change


def test_a_recorded_publisher_that_is_no_longer_pinned_is_withheld() -> None:
    text = HEAD + PROVENANCE + VETTED + RECORD
    pol = load(text.replace('email = "bot@demo.iam.gserviceaccount.com"', 'email = "new@demo.iam.gserviceaccount.com"'))
    decision = decide_file(Tier.VETTED, "demo", sdist(), pol, NOW)
    assert not decision.admitted
    assert f"verified as published by {GOOGLE}" in decision.rule and "pinned publisher is now" in decision.rule


def test_other_bytes_are_refused_by_the_hash_pin_before_provenance() -> None:
    pol = load(HEAD + PROVENANCE + VETTED + RECORD)
    assert tiers_of(pol, sdist("b" * 64)) == {Tier.ALL, Tier.REVIEWED}
    assert "no longer matches the sha256" in decide_file(Tier.VETTED, "demo", sdist("b" * 64), pol, NOW).rule


PINS = (GOOGLE, GITHUB)


def test_background_status_that_still_verifies_keeps_it() -> None:
    pol = load(HEAD + PROVENANCE + VETTED + RECORD)
    ok = {SHA: ProvenanceStatus(GOOGLE, "", (GOOGLE,), NOW, PINS)}
    assert tiers_of(pol, sdist(), ok) == set(Tier)


def test_provenance_that_disappeared_withholds_from_vetted() -> None:
    pol = load(HEAD + PROVENANCE + VETTED + RECORD)
    gone = {SHA: ProvenanceStatus(None, "upstream's provenance for this file is gone (404)", (), NOW, PINS)}
    assert tiers_of(pol, sdist(), gone) == {Tier.ALL, Tier.REVIEWED}
    decision = decide_file(Tier.VETTED, "demo", sdist(), pol, NOW, gone)
    assert "no longer proves" in decision.rule and "gone (404)" in decision.rule
    assert "mirror block demo==1.0" in decision.change


def test_publisher_change_is_explained_in_plain_words_with_the_repin_command() -> None:
    """A valid signature by another publisher (``signed_by``, verified) is a publisher change: re-pin it."""
    pol = load(HEAD + PROVENANCE + VETTED + RECORD)
    other = "GitHub:attacker/demo@release.yml"
    changed = {SHA: ProvenanceStatus(None, f"not signed by the pinned {GOOGLE} or {GITHUB}", (other,), NOW, PINS,
                                     signed_by=other)}
    decision = decide_file(Tier.VETTED, "demo", sdist(), pol, NOW, changed)
    assert not decision.admitted
    assert decision.rule.startswith(f"publisher changed: {FILENAME} was pinned to {GOOGLE} or {GITHUB}, but the "
                                    f"provenance upstream serves now is signed by {other} (signature verified")
    assert f"mirror vet demo 1.0 --trust-publisher {other} --by NAME --note TEXT" in decision.change

    detail = ProjectDetail("demo", (sdist(),))
    text = explain("demo", "1.0", detail, pol, NOW, Evidence(provenance=changed)).as_text()
    assert "publisher changed" in text and "--trust-publisher" in text, text
    assert f"trusted publishers pinned: {GOOGLE}, {GITHUB}; provenance required" in text, text
    assert f"provenance of {FILENAME}: does not verify" in text, text
    view = decide_page(Tier.VETTED, "demo", detail, Evidence(provenance=changed), pol, NOW)
    assert view.detail.files == ()
    assert decide_page(Tier.REVIEWED, "demo", detail, Evidence(provenance=changed), pol, NOW).detail.files == (sdist(),)


def test_an_unverified_claim_is_never_offered_for_re_pinning() -> None:
    """Only a claim, nobody verifiably signed: "does not verify", the claim shown as unverified data."""
    pol = load(HEAD + PROVENANCE + VETTED + RECORD)
    other = "GitHub:attacker/demo@release.yml"
    claimed = {SHA: ProvenanceStatus(None, "the signature does not verify: bad signature", (other,), NOW, PINS)}
    decision = decide_file(Tier.VETTED, "demo", sdist(), pol, NOW, claimed)
    assert not decision.admitted
    assert decision.rule.startswith("provenance does not verify"), decision.rule
    assert f"claims, unverified: {other}" in decision.rule and "publisher changed" not in decision.rule
    assert "--trust-publisher" not in decision.change and "re-pin with" not in decision.change, decision.change
    assert "mirror block demo==1.0" in decision.change


def test_a_status_checked_against_other_pins_is_ignored() -> None:
    pol = load(HEAD + PROVENANCE + VETTED + RECORD)
    stale = {SHA: ProvenanceStatus(None, "pinned something else", (GOOGLE,), NOW,
                                   ("Google:old@x.iam.gserviceaccount.com",))}
    assert tiers_of(pol, sdist(), stale) == set(Tier)


def test_the_documented_example_parses() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "policies.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", doc, re.S)
    examples = [b for b in blocks if "[provenance]" in b]
    assert examples, "docs/policies.md shows a [provenance] example"
    for block in examples:
        parse_project(block, "docs/policies.md", "requests")
