"""The reviewer service (mirror/review/) and the policy-file edits (mirror/policy/edit.py).

Service tests run against a temporary policy directory, a real SQLite file and the fake upstream.
"""

from __future__ import annotations

import asyncio
import json
import tomllib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet

from mirror.adapters.db.audit import AuditLog
from mirror.adapters.policy_dir import load_policies
from mirror.config import Config
from mirror.core.errors import DatabaseMissing, ReviewError
from mirror.core.policy import edit
from mirror.core.policy.load import parse_project
from mirror.services.review import (
    ReviewService,
    json_api_url,
    parse_target,
)

from .support.fake_upstream import FakeUpstream
from .support.mirror_server import make_config

NOW = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC)
HAND_WRITTEN = """\
# requests: HTTP for humans.
# Owned by the platform team; ask #platform before demoting.

[[block]]   # the bad one
versions = "==2.32.1"
reason = "malicious release, see incident 42"
by = "bob"
at = 2026-11-21T10:00:00Z
"""


def parses(text: str, name: str = "requests"):
    return parse_project(text, f"{name}.toml", name)


# ============================================================================ edit.py (pure)


def test_new_file_header_names_the_project_and_parses():
    text = edit.new_project_file("acme-widgets")
    assert text.startswith("# acme-widgets:")
    policy = parses(text, "acme-widgets")
    assert policy.review is None and not policy.blocks


def test_set_review_goes_first_keeps_comments_and_writes_utc():
    at = datetime(2026, 11, 20, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    text = edit.set_review(HAND_WRITTEN, "alice", at, "core dependency")
    assert "# Owned by the platform team" in text and "# the bad one" in text
    assert "at = 2026-11-20T09:30:00Z" in text
    assert text.index("[review]") < text.index("[[block]]")
    assert text.startswith("# requests: HTTP for humans.\n# Owned")  # the header stays on top
    policy = parses(text)
    assert policy.review.signed.by == "alice" and policy.review.signed.note == "core dependency"
    assert policy.review.signed.at == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    assert len(policy.blocks) == 1


def test_remove_review_gives_back_the_original_text():
    reviewed = edit.set_review(HAND_WRITTEN, "alice", NOW, "x")
    assert edit.remove_review(reviewed) == HAND_WRITTEN
    with pytest.raises(edit.EditError):
        edit.remove_review(HAND_WRITTEN)


def test_set_review_on_a_review_keeps_its_rules_and_comments():
    text = '[review]  # kept\nby = "bob"\nversions = ">=2"  # only 2.x\nexclude = ["2.1"]\n'
    text = edit.set_review(text, "alice", NOW, None)
    assert "# kept" in text and "# only 2.x" in text
    review = parses(text).review
    assert review.signed.by == "alice" and review.versions == SpecifierSet(">=2") and review.exclude == {"2.1"}


def test_blocks_add_and_remove_by_specifier():
    text = edit.add_block(HAND_WRITTEN, None, "typo-squat", "carol", NOW)
    text = edit.add_block(text, "==3.0", "broken", "carol", NOW)
    assert [str(b.versions) if b.versions else None for b in parses(text).blocks] == ["==2.32.1", None, "==3.0"]
    text, removed = edit.remove_blocks(text, "==2.32.01")  # compared as specifiers
    assert removed == 1 and "# the bad one" not in text
    assert "# requests: HTTP for humans." in text
    text, removed = edit.remove_blocks(text, None)
    assert removed == 1
    assert [str(b.versions) for b in parses(text).blocks] == ["==3.0"]
    assert edit.remove_blocks(text, "==9") == (text, 0)
    text, removed = edit.remove_blocks(text, "==3.0")
    assert removed == 1 and "block" not in tomllib.loads(text)
    parses(text)


def test_vetting_set_replace_and_remove():
    pins = {"requests-2.0-py3-none-any.whl": "AB" * 32, "requests-2.0.tar.gz": "cd" * 32}
    text = edit.set_vetting(HAND_WRITTEN, "2.0", pins, "alice", NOW, "diff reviewed")
    assert '[vetted."2.0"]' in text and '[vetted."2.0".files]' in text
    vetting = parses(text).vettings["2"]
    assert dict(vetting.files) == {k: v.lower() for k, v in pins.items()}
    assert vetting.signed.note == "diff reviewed"
    text = edit.set_vetting(text, "2.0.0", {"requests-2.0.tar.gz": "ef" * 32}, "bob", NOW)  # same release
    policy = parses(text)
    assert list(policy.vettings) == ["2"] and policy.vettings["2"].signed.by == "bob"
    text = edit.remove_vetting(text, "2")
    assert "vetted" not in tomllib.loads(text)
    with pytest.raises(edit.EditError):
        edit.remove_vetting(text, "2.0")
    assert parses(text).blocks


def test_uploaders_set_and_update_in_place():
    text = edit.set_uploaders(HAND_WRITTEN, ["nate", "graff"], [], "alice", NOW, "first vetting")
    u = parses(text).uploaders
    assert u.maintainers == ("graff", "nate") and u.publishers == () and u.signed.note == "first vetting"
    text = text.replace("[uploaders]", "[uploaders]  # see ticket 7")
    text = edit.set_uploaders(text, ["nate"], ["GitHub:psf/requests@release.yml"], "bob", NOW, "handover")
    assert "# see ticket 7" in text
    u = parses(text).uploaders
    assert u.maintainers == ("nate",) and u.publishers == ("GitHub:psf/requests@release.yml",)


def test_snippets_render_the_affected_table():
    text = edit.set_vetting(edit.set_review(HAND_WRITTEN, "alice", NOW, "n"), "2.0", {"a.whl": "ab" * 32},
                            "alice", NOW)
    assert edit.snippet(text, "review") == '[review]\nby = "alice"\nat = 2026-11-20T09:30:15Z\nnote = "n"'
    assert edit.snippet(text, "vetted", "2") == ('[vetted."2.0"]\nby = "alice"\nat = 2026-11-20T09:30:15Z\n'
                                                  '[vetted."2.0".files]\n"a.whl" = "' + "ab" * 32 + '"')
    assert edit.snippet(text, "block", "==2.32.1").startswith('[[block]]\nversions = "==2.32.1"')
    assert edit.snippet(text, "block", None) is None and edit.snippet(text, "uploaders") is None


def test_inline_tables_written_by_hand_are_edited_too():
    text = 'block = [{versions = "==1.0", reason = "x", by = "b"}]  # inline\n'
    text = edit.add_block(text, "==2.0", "y", "c", NOW)
    assert len(parses(text).blocks) == 2
    text, n = edit.remove_blocks(text, "==1.0")
    assert n == 1 and [str(b.versions) for b in parses(text).blocks] == ["==2.0"]
    text = edit.set_review(text, "alice", NOW)
    assert parses(text).review is not None and len(parses(text).blocks) == 1


_OPS = st.lists(st.one_of(
    st.tuples(st.just("review"), st.sampled_from(["alice", "bob"]), st.one_of(st.none(), st.text(max_size=20))),
    st.tuples(st.just("unreview")),
    st.tuples(st.just("block"), st.one_of(st.none(), st.sampled_from(["==1.0", "==2.0.0", "==3"])),
              st.text(min_size=1, max_size=20)),
    st.tuples(st.just("unblock"), st.one_of(st.none(), st.sampled_from(["==1.0", "==2", "==3.0"]))),
    st.tuples(st.just("vet"), st.sampled_from(["1.0", "2.0.0", "3"]),
              st.dictionaries(st.sampled_from(["a-1.whl", "a.b-2.tar.gz", "x y.zip"]),
                              st.sampled_from(["ab" * 32, "CD" * 32]), min_size=1)),
    st.tuples(st.just("unvet"), st.sampled_from(["1", "2.0", "3.0.0"])),
    st.tuples(st.just("uploaders"), st.lists(st.text(min_size=1, max_size=8), max_size=3),
              st.lists(st.text(min_size=1, max_size=8), max_size=2)),
), max_size=12)


@settings(max_examples=150, deadline=None)
@given(_OPS)
def test_every_sequence_of_edits_reparses_and_keeps_the_comments(ops):
    text = HAND_WRITTEN
    for op in ops:
        kind, args = op[0], op[1:]
        try:
            if kind == "review":
                text = edit.set_review(text, args[0], NOW, args[1])
            elif kind == "unreview":
                text = edit.remove_review(text)
            elif kind == "block":
                text = edit.add_block(text, args[0], args[1], "bob", NOW)
            elif kind == "unblock":
                text, _ = edit.remove_blocks(text, args[0])
            elif kind == "vet":
                text = edit.set_vetting(text, args[0], args[1], "alice", NOW, "n")
            elif kind == "unvet":
                text = edit.remove_vetting(text, args[0])
            else:
                text = edit.set_uploaders(text, args[0], args[1], "alice", NOW, None)
        except edit.EditError:
            continue
        parses(text)  # never raises
        assert text.startswith("# requests: HTTP for humans.\n# Owned by the platform team")


# ============================================================================ helpers of review.py


def test_parse_target_and_json_api_url():
    assert parse_target("Requests") == ("requests", None)
    assert parse_target("Requests==2.32.01") == ("requests", "2.32.1")
    for bad in ("requests>=2", "../etc", "requests==not a version", ""):
        with pytest.raises(ReviewError):
            parse_target(bad)
    assert json_api_url("http://h:1/simple/", "a-b") == "http://h:1/pypi/a-b/json"
    assert json_api_url("http://h:1/index/", "a-b") is None


# ============================================================================ the service


@pytest.fixture
def config(tmp_path: Path, upstream: FakeUpstream) -> Config:
    upstream.every_name = True  # promote checks that upstream has the project: these tests are about the rest
    return make_config(tmp_path, upstream.url)


@pytest.fixture
async def service(config: Config):
    async with ReviewService(config, clock=lambda: NOW) as svc:
        yield svc


def project_file(config: Config, name: str) -> Path:
    return config.policies.path / "projects" / f"{name}.toml"


async def records(service: ReviewService, project: str | None = None):
    return [(r.actor, r.action, r.target) for r in await service.audit_records(project)]


async def test_promote_creates_the_file_and_audits(service, config):
    outcome = await service.promote("Requests", "alice", "core dependency")
    path = project_file(config, "requests")
    assert outcome.file == path and path.read_text().startswith("# requests:")
    review = load_policies(config.policies.path).of("requests").review
    assert (review.signed.by, review.signed.note) == ("alice", "core dependency")
    assert review.signed.at == NOW.replace(microsecond=0)
    [record] = await service.audit_records()
    assert (record.actor, record.action, record.target, record.note) == ("alice", "promote", "requests",
                                                                         "core dependency")
    assert record.before is None and record.after.startswith('[review]\nby = "alice"')
    assert record.at == NOW.replace(microsecond=0).timestamp()
    assert not list(path.parent.glob(".*"))  # no temporary file left behind


async def test_promote_twice_says_who_reviewed_it_and_changes_nothing(service, config):
    await service.promote("requests", "alice", None)
    before = project_file(config, "requests").read_text()
    outcome = await service.promote("requests", "bob", "again")
    assert outcome.lines == (f"requests is already reviewed by alice on 2026-11-20 09:30 UTC "
                             f"({project_file(config, 'requests')}:4): nothing changed",)
    assert not outcome.changed and outcome.audit_ids == ()
    assert project_file(config, "requests").read_text() == before and len(await service.audit_records()) == 1


async def test_promote_of_a_name_upstream_lacks_suggests_names(service, config, upstream):
    upstream.every_name = False
    with pytest.raises(ReviewError) as info:
        await service.promote("reqeusts-toolkit", "alice", None)
    assert str(info.value).startswith(f"upstream ({upstream.url}) has no project reqeusts-toolkit; did you mean "
                                      "requests-toolbelt")
    assert str(info.value).endswith("mirror promote reqeusts-toolkit --allow-missing --by NAME --note TEXT")
    assert not project_file(config, "reqeusts-toolkit").exists()
    with pytest.raises(ReviewError, match="--allow-missing needs --note"):
        await service.promote("acme-internal", "alice", None, allow_missing=True)
    outcome = await service.promote("acme-internal", "alice", "published next week", allow_missing=True)
    assert outcome.changed and (await service.audit_records())[0].note == "published next week"


async def test_promote_refuses_lookalikes_of_popular_and_reviewed_projects(service, config):
    with pytest.raises(ReviewError) as info:
        await service.promote("requets", "mallory", "trust me")
    assert "'requests'" in str(info.value) and "one character missing" in str(info.value)
    assert "--allow-similar" in str(info.value)
    assert not project_file(config, "requets").exists()
    with pytest.raises(ReviewError, match="needs --note"):
        await service.promote("requets", "mallory", None, allow_similar=True)
    await service.promote("acme-widgets", "alice", None)  # not popular: reviewed here
    with pytest.raises(ReviewError, match=r"'acme-widgets' \(typo: one character missing; reviewed here"):
        await service.promote("acme-widget", "bob", None)
    outcome = await service.promote("requets", "alice", "internal fork, really", allow_similar=True)
    assert "requests" in outcome.lines[1]
    assert (await service.audit_records("requets"))[0].note.startswith("internal fork, really [allowed")
    await service.promote("requests", "alice", None)  # the real one is never its own look-alike


@pytest.mark.parametrize(("name", "described"), [
    ("python-requests", "'requests' (affix: 'python-' added; a popular project)"),
    ("nurnpy", "'numpy' (confusable: rn→m; a popular project)"),
    ("requets2", "'requests' (digit suffix: '2' added and one character missing; a popular project)"),
    ("dateutil", "'python-dateutil' (affix: 'python-' dropped; a popular project)"),
    ("pi11ow", "'pillow' (confusable: 1→l; a popular project)"),
    ("dateutil-python", "'python-dateutil' (separators: words reordered; a popular project)"),
])
async def test_promote_names_the_rule_a_lookalike_matched(service, config, name, described):
    with pytest.raises(ReviewError) as info:
        await service.promote(name, "mallory", None)
    assert str(info.value).startswith(f"refusing to promote '{name}': it looks like {described}.\n")
    assert not project_file(config, name).exists()


async def test_promote_takes_popular_projects_and_rules_beyond_their_reach(service):
    # Popular projects one slip from others (the old gate's false positives) are promoted as they are.
    for name in ["authlib", "scapy", "boto", "fastai"]:
        await service.promote(name, "alice", None)
    # Every rule applies to a reviewed project, however far down the popular list it is.
    await service.promote("acme-widgets", "alice", None)
    with pytest.raises(ReviewError, match=r"'acme-widgets' \(digit suffix: '2' added; reviewed here"):
        await service.promote("acme-widgets2", "bob", None)


async def test_demote_keeps_hand_written_comments(service, config):
    path = project_file(config, "requests")
    path.parent.mkdir(parents=True)
    path.write_text(HAND_WRITTEN)
    await service.promote("requests", "alice", "core")
    assert "[review]" in path.read_text() and "# Owned by the platform team" in path.read_text()
    await service.demote("requests", "alice", "unmaintained")
    assert path.read_text() == HAND_WRITTEN
    again = await service.demote("requests", "alice", "again")
    assert not again.changed and "requests is not reviewed" in again.lines[0]
    assert again.lines[0].endswith(": nothing changed")
    [promote, demote] = await service.audit_records()
    assert demote.before == promote.after and demote.after is None and demote.note == "unmaintained"


async def test_a_broken_file_is_not_edited(service, config):
    path = project_file(config, "requests")
    path.parent.mkdir(parents=True)
    path.write_text("[review]\nby = 3\n")
    with pytest.raises(ReviewError, match=r"(?s)requests.toml, line 2, key 'review.by'.*fix this file first"):
        await service.promote("requests", "alice", None)
    assert path.read_text() == "[review]\nby = 3\n"


async def test_an_edit_producing_an_invalid_file_writes_nothing(service, config, monkeypatch):
    monkeypatch.setattr(edit, "set_review", lambda text, *a, **k: text + "\n[review]\nby = 1\n")
    with pytest.raises(ReviewError, match="would make .* invalid, nothing was written"):
        await service.promote("requests", "alice", None)
    assert not project_file(config, "requests").exists()
    with pytest.raises(DatabaseMissing):  # nothing recorded: not even a database was created
        await service.audit_records()


async def test_block_and_unblock_a_release(service, config):
    await service.block("requests==2.32.01", "bob", "malicious release")
    policy = load_policies(config.policies.path).of("requests")
    [block] = policy.blocks
    assert str(block.versions) == "==2.32.1" and block.reason == "malicious release"
    again = await service.block("requests==2.32.1", "carol", "again")
    assert again.lines[0].startswith("requests==2.32.1 is already blocked by bob") and not again.changed
    none = await service.unblock("requests==2.0", "bob", "oops")
    assert none.lines == (f"requests==2.0 is not blocked; blocks of requests: ==2.32.1 "
                          f"({project_file(config, 'requests')}:4): nothing changed",)
    assert (await service.unblock("requests", "bob", "oops")).lines[0].startswith("requests is not blocked")
    await service.unblock("requests==2.32.1", "bob", "false positive")
    assert load_policies(config.policies.path).of("requests").blocks == ()
    assert await records(service) == [("bob", "block", "requests==2.32.1"), ("bob", "unblock", "requests==2.32.1")]


async def test_block_whole_project(service, config):
    outcome = await service.block("Evil_Package", "bob", "typo-squat of requests")
    assert "every release" in outcome.lines[0]
    assert load_policies(config.policies.path).of("evil-package").project_block.reason == "typo-squat of requests"


# ---------------------------------------------------------------------------- vet


def provenance(*publishers: dict) -> str:
    return json.dumps({"version": 1, "attestation_bundles": [
        {"publisher": p, "attestations": [{"version": 1}]} for p in publishers]})


GITHUB = {"kind": "GitHub", "repository": "psf/requests", "workflow": "publish.yml", "environment": "pypi"}


async def test_vet_pins_every_file_as_upstream_advertises_it(service, config, upstream, dists):
    wheel = upstream.add_wheel("requests", "2.32.3", dists)
    sdist = upstream.add_sdist("requests", "2.32.3", dists, advertised_sha256="ee" * 32)
    upstream.add_wheel("requests", "2.32.4", dists)
    upstream.set_owners("requests", ["nate", "graff"])
    await service.promote("requests", "alice", None)
    outcome = await service.vet("requests", "2.32.03", "alice", "diff reviewed")
    policy = load_policies(config.policies.path).of("requests")
    vetting = policy.vettings["2.32.3"]
    assert dict(vetting.files) == {wheel.filename: wheel.sha256, sdist.filename: "ee" * 32}
    assert vetting.signed.note == "diff reviewed"
    assert policy.uploaders.maintainers == ("graff", "nate") and policy.uploaders.publishers == ()
    assert any("trust on first use" in line for line in outcome.lines)
    assert any("no PEP 740 provenance" in line for line in outcome.lines)
    assert wheel.sha256 in "\n".join(outcome.lines)
    assert await records(service) == [("alice", "promote", "requests"), ("alice", "vet", "requests==2.32.3"),
                                      ("alice", "record-uploaders", "requests")]
    vet_record = (await service.audit_records())[1]
    assert vet_record.before is None and wheel.sha256 in vet_record.after
    again = await service.vet("requests", "2.32.3", "bob", None)  # same files, same hashes: nothing to do
    assert not again.changed and again.lines[0].startswith("requests 2.32.3 is already vetted by alice on ")
    assert again.lines[0].endswith(": nothing changed") and len(await service.audit_records()) == 3
    assert upstream.count("/simple/requests/") == 3 and upstream.count("/pypi/requests/json") == 1
    upstream.add_wheel("requests", "2.32.3", dists, tag="py2.py3-none-any")  # other files now: refused
    with pytest.raises(ReviewError) as info:
        await service.vet("requests", "2.32.3", "bob", None)
    assert "already vetted by alice" in str(info.value) and "with other files or hashes" in str(info.value)
    assert str(info.value).endswith("mirror unvet requests 2.32.3 --by NAME --reason TEXT")


async def test_vet_of_an_unreviewed_project_says_to_promote_first(service, config, upstream, dists):
    upstream.add_wheel("requests", "1.0", dists)
    with pytest.raises(ReviewError) as info:
        await service.vet("requests", "1.0", "alice", None)
    assert "requests is not reviewed" in str(info.value)
    assert "mirror promote requests --by NAME" in str(info.value)
    assert upstream.requests == [] and not project_file(config, "requests").exists()


async def test_vet_of_a_version_without_files_lists_the_versions(service, upstream, dists):
    for v in ("1.0", "1.1", "2.0"):
        upstream.add_wheel("requests", v, dists)
    await service.promote("requests", "alice", None)
    with pytest.raises(ReviewError, match=r"no files of requests 3.0; available versions: 1.0, 1.1, 2.0"):
        await service.vet("requests", "3.0", "alice", None)
    upstream.every_name = False
    await service.promote("nothere", "alice", "about to be published", allow_missing=True)
    with pytest.raises(ReviewError, match="has no project nothere"):
        await service.vet("nothere", "1", "alice", None)


async def test_vet_when_upstream_is_down_fails_clearly(service, upstream, dists):
    upstream.add_wheel("requests", "1.0", dists)
    await service.promote("requests", "alice", None)
    await upstream.down()
    with pytest.raises(ReviewError, match="cannot get requests's page from upstream"):
        await service.vet("requests", "1.0", "alice", None)


async def test_changed_maintainers_are_refused_then_overridden(service, config, upstream, dists):
    for v in ("1.0", "2.0", "3.0"):
        upstream.add_wheel("requests", v, dists)
    upstream.set_owners("requests", ["alice", "bob"])
    await service.promote("requests", "alice", None)
    await service.vet("requests", "1.0", "alice", None)
    upstream.set_owners("requests", ["alice", "mallory"])
    with pytest.raises(ReviewError) as info:
        await service.vet("requests", "2.0", "carol", "looks fine")
    message = str(info.value)
    assert "refusing to vet requests 2.0" in message
    assert "maintainers: recorded alice, bob; upstream now alice, mallory (new: mallory; gone: bob)" in message
    assert "--override-uploaders" in message
    assert "2.0" not in load_policies(config.policies.path).of("requests").vettings
    with pytest.raises(ReviewError, match="--override-uploaders needs --note"):
        await service.vet("requests", "2.0", "carol", None, override_uploaders=True)
    outcome = await service.vet("requests", "2.0", "carol", "bob handed over to mallory, confirmed by mail",
                                override_uploaders=True)
    assert any("overridden" in line for line in outcome.lines)
    policy = load_policies(config.policies.path).of("requests")
    assert policy.uploaders.maintainers == ("alice", "mallory") and policy.uploaders.signed.by == "carol"
    assert "2" in policy.vettings
    last = (await service.audit_records())[-1]
    assert (last.action, last.target) == ("override-uploaders", "requests")
    assert '"bob"' in last.before and '"mallory"' in last.after and last.note.startswith("bob handed over")
    await service.vet("requests", "3.0", "carol", None)  # evidence matches the new record


async def test_uploaders_are_not_enforced_when_the_tier_rules_say_so(service, config, upstream, dists):
    config.policies.path.mkdir(parents=True)
    (config.policies.path / "tiers.toml").write_text("[vetted]\nrequire_uploaders = false\n")
    upstream.add_wheel("requests", "1.0", dists)
    upstream.add_wheel("requests", "2.0", dists)
    upstream.set_owners("requests", ["alice"])
    await service.promote("requests", "alice", None)
    await service.vet("requests", "1.0", "alice", None)
    upstream.set_owners("requests", ["mallory"])
    outcome = await service.vet("requests", "2.0", "alice", None)
    assert any("not enforced" in line for line in outcome.lines)
    assert load_policies(config.policies.path).of("requests").uploaders.maintainers == ("alice",)


async def test_without_a_json_api_there_is_no_maintainer_evidence(service, config, upstream, dists):
    upstream.json_api = False
    upstream.add_wheel("requests", "1.0", dists)
    await service.promote("requests", "alice", None)
    outcome = await service.vet("requests", "1.0", "alice", None)
    text = "\n".join(outcome.lines)
    assert "answered 404): no maintainer evidence" in text and "nothing recorded" in text
    policy = load_policies(config.policies.path).of("requests")
    assert policy.uploaders is None and "1" in policy.vettings


async def test_unsigned_provenance_is_refused(service, config, upstream, dists):
    """A provenance object whose attestations are not Sigstore bundles proves nothing: ``vet`` verifies
    provenance (tests/test_review_provenance.py has the real, signed cases) and refuses this one."""
    upstream.set_owners("requests", ["alice"])
    upstream.add_wheel("requests", "1.0", dists, provenance=provenance(GITHUB))
    upstream.add_sdist("requests", "1.0", dists)  # no provenance for this one
    await service.promote("requests", "alice", None)
    with pytest.raises(ReviewError) as info:
        await service.vet("requests", "1.0", "alice", None)
    assert "refusing to vet requests 1.0: its provenance does not verify" in str(info.value)
    assert "not a valid PEP 740 object" in str(info.value)
    assert load_policies(config.policies.path).of("requests").vettings == {}


async def test_unvet(service, config, upstream, dists):
    upstream.add_wheel("requests", "1.0", dists)
    await service.promote("requests", "alice", None)
    assert (await service.unvet("requests", "1.0", "alice", "x")).lines == (
        "requests 1.0 is not vetted; vetted releases of requests: none: nothing changed",)
    await service.vet("requests", "1.0", "alice", None)
    await service.unvet("requests", "1.0.0", "alice", "retracted")
    assert load_policies(config.policies.path).of("requests").vettings == {}
    last = (await service.audit_records())[-1]
    assert (last.action, last.target, last.after, last.note) == ("unvet", "requests==1.0", None, "retracted")


# ---------------------------------------------------------------------------- concurrency

NATO = ["alpha-svc", "bravo-svc", "charlie-svc", "delta-svc", "echo-svc", "foxtrot-svc", "golf-svc", "hotel-svc"]


async def test_concurrent_services_never_lose_an_edit(config):
    async def promote(i: int) -> None:
        async with ReviewService(config) as svc:
            await svc.promote(NATO[i], f"user{i}", None)

    async def block(i: int) -> None:
        async with ReviewService(config) as svc:
            await svc.block(f"shared=={i}.0", f"user{i}", "bad")

    await asyncio.gather(*(promote(i) for i in range(8)), *(block(i) for i in range(8)))
    policies = load_policies(config.policies.path)
    assert sum(p.review is not None for p in policies.projects.values()) == 8
    assert len(policies.of("shared").blocks) == 8  # one file, eight read-modify-writes, none lost
    async with ReviewService(config) as svc:
        assert len(await svc.audit_records()) == 16


# ---------------------------------------------------------------------------- check / explain


async def test_check_reports_every_broken_file_with_its_line(service, config):
    projects = config.policies.path / "projects"
    projects.mkdir(parents=True)
    (projects / "good.toml").write_text('[review]\nby = "alice"\n')
    (projects / "bad.toml").write_text('# fine so far\n[review]\nby = "alice"\nversion = ">=1"\n')
    (projects / "Not_Normal.toml").write_text("")
    (config.policies.path / "tiers.toml").write_text("[reviewed]\ncooldown_days = -1\n")
    problems = [str(p) for p in await service.check(offline=True)]
    assert len(problems) == 3
    assert problems[0].startswith(f"{config.policies.path / 'tiers.toml'}:2: reviewed.cooldown_days: must be 0")
    assert any(p.startswith(f"{projects / 'bad.toml'}:4: review.version: unknown key") for p in problems)
    assert f"{projects / 'Not_Normal.toml'}: file name must be the normalized project name: not-normal.toml" \
        in problems


async def test_check_compares_recorded_uploaders_with_upstream(service, config, upstream, dists):
    upstream.add_wheel("requests", "1.0", dists)
    upstream.set_owners("requests", ["alice"])
    await service.promote("requests", "alice", None)
    await service.vet("requests", "1.0", "alice", None)
    assert await service.check() == []
    upstream.set_owners("requests", ["alice", "mallory"])
    [problem] = await service.check()
    assert problem.file == str(project_file(config, "requests")) and problem.line
    assert "upstream maintainers of requests changed" in problem.message and "new: mallory" in problem.message
    assert await service.check(offline=True) == []
    upstream.json_api = False
    [problem] = await service.check()
    assert "cannot compare with upstream" in problem.message


async def test_explain_with_and_without_upstream(service, upstream, dists):
    upstream.add_wheel("requests", "1.0", dists, upload_time=NOW - timedelta(days=30))
    upstream.set_owners("requests", ["alice"])
    await service.promote("requests", "alice", None)
    await service.vet("requests", "1.0", "alice", None)
    result = await service.explain("requests", "1.0")
    data = result.as_dict()
    assert data["upstream_reachable"] is True
    assert [t["admitted"] for t in data["tiers"]] == [True, True, True]
    assert any("match the recorded ones" in n for n in data["notes"])
    await upstream.down()
    result = await service.explain("requests", "1.0")
    assert result.upstream_reachable is False
    assert "explained from the policies alone" in result.as_text()
    assert [t.decision.admitted for t in result.explanation.tiers] == [True, True, True]


async def test_audit_log_is_shared_with_the_database_of_the_config(service, config):
    await service.promote("requests", "alice", None)
    from mirror.adapters.db import open_database

    engine = await open_database(config.database_settings)
    try:
        assert [r.target for r in await AuditLog(engine).records()] == ["requests"]
    finally:
        await engine.dispose()
