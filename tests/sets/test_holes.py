"""Holes: ``mirror check`` lists each dependency a served release needs that the tier does not serve, with the
exact requirement; ``demote``, ``block`` and ``unvet`` refuse to open one unless ``--force``, listing the dependents
and the complete override command. Real subprocesses against the fake upstream."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirror.adapters.policy_dir import load_policies
from mirror.services.review.guard import unserved_text

from ..support import floorworld
from ..support.cli import mirror as cli
from ..support.cli import write_config
from ..support.fake_upstream import FakeUpstream

ALICE = ("--by", "alice", "--note", "ok")


@pytest.fixture
def config(tmp_path: Path, upstream: FakeUpstream, dists: Path) -> Path:
    floorworld.publish(upstream, dists)
    return write_config(tmp_path, upstream)


def reviewed(config: Path) -> set[str]:
    policies = load_policies(config.parent / "policies", allow_missing=True)
    return {n for n, p in policies.projects.items() if p.review is not None and p.project_block is None}


async def test_demote_and_block_refuse_to_open_a_hole_and_check_lists_it(config):
    await cli("promote", "toolkit", "gadget", "--yes", *ALICE, config=config)
    await cli("promote", "helper", "--floor", "1.0", *ALICE, config=config)
    assert (await cli("check", config=config)).code == 0  # no hole yet

    run = await cli("demote", "helper", "--by", "bob", "--reason", "not needed?", config=config)
    assert run.code == 1 and run.out == ""
    assert run.err.startswith("mirror: refusing to demote helper: gadget, toolkit need(s) it, and the tier would "
                              "no longer serve what they need:\n")
    assert f"  toolkit 2.1 needs {floorworld.NEEDS}: helper is not in 'reviewed'" in run.err
    assert "  gadget 1.0 needs helper>=2: helper is not in 'reviewed'" in run.err
    assert run.err.rstrip().endswith("do it anyway: mirror demote helper --by bob --reason 'not needed?' --force")
    assert "helper" in reviewed(config)

    release = await cli("block", "helper==2.0", "--by", "bob", "--reason", "bad build", config=config)
    assert release.code == 1 and "refusing to block helper==2.0: gadget need(s) it" in release.err
    assert "gadget 1.0 needs helper>=2, but helper 1.0 is followed" in release.err
    assert "toolkit" not in release.err.split("\n")[0]  # helper 1.0 still fits toolkit
    assert release.err.rstrip().endswith("mirror block helper==2.0 --by bob --reason 'bad build' --force")
    await cli("block", "helper==1.0", "--by", "bob", "--reason", "old", config=config)  # opens no hole: allowed

    forced = await cli("demote", "helper", "--by", "bob", "--reason", "not needed?", "--force", config=config)
    assert forced.ok().startswith("demoted helper")
    # forced is never silent: the reviewer is told what is left unserved, and the audit record keeps it
    assert "warning: forced: the tiers no longer serve what their projects need: gadget 1.0 needs helper>=2: helper " \
           "is not in 'reviewed'" in forced.out and f"toolkit 2.1 needs {floorworld.NEEDS}" in forced.out, forced.out
    audit = (await cli("audit", "helper", config=config)).ok()
    assert "not needed? [forced; it left unserved: " in audit and "gadget 1.0 needs helper>=2" in audit, audit
    assert reviewed(config) == {"toolkit", "gadget"}
    check = await cli("check", config=config)
    assert check.code == 1
    toolkit = config.parent / "policies" / "projects" / "toolkit.toml"
    assert f"{toolkit}:4: hole in 'reviewed': toolkit 2.1 needs {floorworld.NEEDS}: helper is not in 'reviewed': " \
           "not reviewed: no [review] for this project; fill it: mirror promote helper --by NAME --note TEXT" \
        in check.out.splitlines()
    assert "hole in 'reviewed': gadget 1.0 needs helper>=2: helper is not in 'reviewed'" in check.out
    # demoting what nobody needs is not refused
    assert (await cli("demote", "gadget", "--by", "bob", "--reason", "unused", config=config)).ok()


async def test_a_build_backend_is_part_of_the_closure_and_its_demotion_is_refused(tmp_path, upstream, dists):
    """An sdist-only release brings its ``[build-system] requires`` (a hatchling-like backend) into --with-deps;
    demoting the backend would break installing it, so it is refused like any other dependency."""
    from ..support import depworld

    depworld.publish(upstream, dists)
    config = write_config(tmp_path, upstream)
    run = await cli("promote", "aiostuff", "--with-deps", "--yes", *ALICE, config=config)
    assert "+ tinybuild 1.0  promote: needed to build aiostuff 1.0 (tinybuild>=1)" in run.ok()
    assert reviewed(config) == {"aiostuff", "sniffio", "tinybuild"}
    refused = await cli("demote", "tinybuild", "--by", "bob", "--reason", "unused?", config=config)
    assert refused.code == 1 and "refusing to demote tinybuild: aiostuff need(s) it" in refused.err
    assert "aiostuff 1.0 needs tinybuild>=1: tinybuild is not in 'reviewed'" in refused.err


async def test_every_vetted_release_is_checked_not_only_the_newest(config):
    """Each vetted release's requirements are checked against what ``vetted`` serves, each hole naming its
    release; the lines ``check`` prints are the rows of the one hole report."""
    await cli("promote", "toolkit", "helper", "gadget", "--yes", *ALICE, config=config)
    for project, version in (("toolkit", "1.1"), ("toolkit", "2.0"), ("toolkit", "2.1"), ("gadget", "1.0"),
                             ("helper", "1.0")):
        (await cli("vet", project, version, "--by", "alice", config=config)).ok()
    check = await cli("check", config=config)
    toolkit = config.parent / "policies" / "projects" / "toolkit.toml"
    gadget = config.parent / "policies" / "projects" / "gadget.toml"
    holes = [line for line in check.out.splitlines() if "hole in 'vetted'" in line]
    # toolkit 2.0 and 2.1 find helper 1.0 vetted; gadget 1.0 needs helper>=2, which vetted does not serve
    assert len(holes) == 1, check.out
    assert holes[0].startswith(f"{gadget}:")
    assert holes[0].endswith("hole in 'vetted': gadget 1.0 needs helper>=2, but helper 1.0 is followed; fill it: "
                             "mirror vet helper VERSION --by NAME --note TEXT")
    (await cli("unvet", "helper", "1.0", "--by", "bob", "--reason", "x", "--force", config=config)).ok()
    check = await cli("check", config=config)
    holes = [line for line in check.out.splitlines() if "hole in 'vetted'" in line]
    for version in ("2.0", "2.1"):  # both vetted releases of toolkit, each named, each at its own vetting
        line = next(h for h in holes if f"toolkit {version} needs" in h)
        assert line.startswith(f"{toolkit}:") and line.split(":")[1] not in ("4",), line
        assert line.endswith(f"hole in 'vetted': toolkit {version} needs {floorworld.NEEDS}: helper is not in "
                             "'vetted': no release of this project is vetted; fill it: mirror vet helper VERSION --by "
                             "NAME --note TEXT"), line
    assert len({h.split(":")[1] for h in holes if "toolkit" in h}) == 2  # two vettings, two lines of the file
    assert not any("toolkit 1.1" in h for h in holes)  # 1.1 needs nothing



def vettings(config: Path, name: str) -> set[str]:
    policy = load_policies(config.parent / "policies", allow_missing=True).of(name)
    return {v.version for v in policy.vettings.values()} if policy is not None else set()


async def test_unvet_refuses_to_open_a_hole_in_vetted_unless_forced(config):
    """Unvetting the only vetted release that fits a vetted release of another project is refused like a demotion:
    the dependents, each exact requirement, what to do instead and the complete ``--force`` command; nothing
    changes. ``--force`` unvets it (audited), and ``check`` then lists the hole."""
    await cli("promote", "toolkit", "helper", "--yes", *ALICE, config=config)
    for project, version in (("toolkit", "2.0"), ("toolkit", "2.1"), ("helper", "1.0")):
        (await cli("vet", project, version, "--by", "alice", config=config)).ok()
    assert not [line for line in (await cli("check", config=config)).out.splitlines() if "hole in" in line]

    run = await cli("unvet", "helper", "1.0", "--by", "bob", "--reason", "bad build?", config=config)
    assert run.code == 1 and run.out == ""
    assert run.err.startswith("mirror: refusing to unvet helper 1.0: toolkit need(s) it, and the tier would no "
                              "longer serve what they need:\n"), run.err
    for version in ("2.0", "2.1"):
        assert f"  toolkit {version} needs {floorworld.NEEDS}: helper is not in 'vetted': no release of this " \
               "project is vetted\n" in run.err, run.err
    assert "nothing changed. Vet another release of helper that fits them first (mirror vet helper VERSION --by " \
           "NAME --note TEXT), or do it anyway: mirror unvet helper 1.0 --by bob --reason 'bad build?' --force" \
        in run.err, run.err
    assert vettings(config, "helper") == {"1.0"}
    assert "unvet" not in (await cli("audit", "helper", config=config)).ok()

    forced = await cli("unvet", "helper", "1.0", "--by", "bob", "--reason", "bad build?", "--force", config=config)
    assert forced.ok().startswith("unvetted helper 1.0: it is no longer in 'vetted'")
    assert vettings(config, "helper") == set()
    assert "warning: forced: the tiers no longer serve what their projects need: " in forced.out, forced.out
    assert f"toolkit 2.0 needs {floorworld.NEEDS}: helper is not in 'vetted'" in forced.out, forced.out
    audit = (await cli("audit", "helper", config=config)).ok()
    assert "unvet" in audit and "bad build? [forced; it left unserved: " in audit, audit
    assert f"toolkit 2.0 needs {floorworld.NEEDS}" in audit, audit
    check = await cli("check", config=config)
    assert check.code == 1 and f"hole in 'vetted': toolkit 2.1 needs {floorworld.NEEDS}: helper is not in " \
                               "'vetted'" in check.out, check.out


async def test_unvet_is_allowed_when_nothing_needs_the_release_or_another_vetted_release_fits(config):
    """Unvetting a release no vetted release needs, or one whose dependents another vetted release satisfies,
    works as before; unvetting the one release that fits a dependent's narrower requirement does not."""
    await cli("promote", "toolkit", "helper", "gadget", "--yes", *ALICE, config=config)
    for project, version in (("toolkit", "1.1"), ("toolkit", "2.1"), ("gadget", "1.0"), ("helper", "1.0"),
                             ("helper", "2.0")):
        (await cli("vet", project, version, "--by", "alice", config=config)).ok()
    # helper 2.0 fits toolkit 2.1 (helper>=1.0,<3) as well: unvetting 1.0 breaks nothing
    assert (await cli("unvet", "helper", "1.0", "--by", "bob", "--reason", "old", config=config)).ok().startswith(
        "unvetted helper 1.0")
    # nothing needs toolkit
    assert (await cli("unvet", "toolkit", "1.1", "--by", "bob", "--reason", "old", config=config)).ok().startswith(
        "unvetted toolkit 1.1")
    assert vettings(config, "helper") == {"2.0"} and vettings(config, "toolkit") == {"2.1"}
    # helper 2.0 is now the only vetted release that gadget 1.0 (helper>=2) and toolkit 2.1 can have
    run = await cli("unvet", "helper", "2.0", "--by", "bob", "--reason", "x", config=config)
    assert run.code == 1 and "refusing to unvet helper 2.0: gadget, toolkit need(s) it" in run.err, run.err
    assert "  gadget 1.0 needs helper>=2: helper is not in 'vetted'" in run.err, run.err
    assert vettings(config, "helper") == {"2.0"}


async def test_unvet_refuses_to_open_a_hole_in_reviewed_below_the_floor(config, upstream, dists):
    """A vetted release below the floor is in ``reviewed`` only because it is vetted (the release at the floor is
    still in its cooldown): unvetting it would leave a reviewed project without that dependency in ``reviewed``,
    and is refused the same way."""
    from datetime import UTC, datetime

    upstream.add_wheel("base", "1.0", dists, upload_time=floorworld.OLD)
    upstream.add_wheel("base", "2.0", dists, upload_time=datetime.now(UTC))  # within the 7-day cooldown
    upstream.add_wheel("app", "1.0", dists, requires_dist=["base>=1"], upload_time=floorworld.OLD)
    await cli("promote", "app", "--floor", "1.0", *ALICE, config=config)
    await cli("promote", "base", "--floor", "2.0", *ALICE, config=config)
    (await cli("vet", "base", "1.0", "--by", "alice", config=config)).ok()
    assert "hole in" not in (await cli("check", config=config)).out
    run = await cli("unvet", "base", "1.0", "--by", "bob", "--reason", "x", config=config)
    assert run.code == 1 and "refusing to unvet base 1.0: app need(s) it" in run.err, run.err
    assert "  app 1.0 needs base>=1: base has no release 'reviewed' serves (newest 2.0: uploaded " in run.err, run.err
    assert vettings(config, "base") == {"1.0"}


async def test_the_report_is_bounded_and_decides_each_answer_once(tmp_path, upstream, dists):
    """In-process: vetted releases over the cap are counted as not checked; the closures of one count share
    their answers (helper, needed the same way by two vetted releases of toolkit, is followed once)."""
    from mirror.services.holes import HoleReport, tier_holes
    from mirror.services.runtime import Runtime

    from ..support.mirror_server import make_config
    from ..support.policies import PolicyDir, review, vetted

    floorworld.publish(upstream, dists)
    files = {(p, f.version): f for p in ("toolkit", "gadget") for f in upstream._projects[p].files.values()}

    def pin(name: str, version: str) -> str:
        f = files[(name, version)]
        return vetted(version, {f.filename: f.sha256})

    policy_dir = PolicyDir(tmp_path / "policies")
    policy_dir.write_project("toolkit", review(), pin("toolkit", "2.0"), pin("toolkit", "2.1"))
    policy_dir.write_project("gadget", review(), pin("gadget", "1.0"))
    config = make_config(tmp_path, upstream.url)
    async with Runtime.open(config, lambda: load_policies(config.policies.path)) as runtime:
        service = runtime.closure
        asked: list[tuple[str, str]] = []
        follow = service.follow

        async def counting(name, tier=None, requirements=(), *args, **kwargs):
            asked.append((name, ",".join(sorted(str(r) for r in requirements))))
            return await follow(name, tier, requirements, *args, **kwargs)

        service.follow = counting  # type: ignore[method-assign]
        policies = load_policies(config.policies.path)
        report = await tier_holes(service, policies)
        assert isinstance(report, HoleReport) and report.unchecked == 0
        vetted_holes = [g for g in report.gaps if g.tier.value == "vetted"]
        assert [(g.dependent, g.version) for g in vetted_holes] == [("gadget", "1.0"), ("toolkit", "2.1"),
                                                                     ("toolkit", "2.0")]
        # vetted: once for both vetted releases of toolkit (reviewed asks for helper with both requirements at once)
        assert asked.count(("helper", floorworld.NEEDS)) == 1
        assert [g.text for g in report.of_dependent("gadget")] == [
            "gadget 1.0 needs helper>=2: helper is not in 'reviewed': not reviewed: no [review] for this project",
            "gadget 1.0 needs helper>=2: helper is not in 'vetted': not reviewed: no [review] for this project"]
        assert {g.dependent for g in report.needing("helper")} == {"gadget", "toolkit"}

        capped = await tier_holes(service, policies, limit=2)
        assert capped.unchecked == 1  # toolkit 2.0: the third vetted release, by name then newest first
        assert [(g.dependent, g.version) for g in capped.gaps if g.tier.value == "vetted"] == [
            ("gadget", "1.0"), ("toolkit", "2.1")]


def test_what_a_forced_change_leaves_unserved_is_said_in_a_bounded_line() -> None:
    gaps = [f"p{i} 1.0 needs helper>=2: helper is not in 'reviewed'" for i in range(25)]
    assert unserved_text(gaps[:2]) == "; ".join(gaps[:2])
    text = unserved_text(gaps)
    assert text.startswith(gaps[0]) and gaps[19] in text and gaps[20] not in text
    assert text.endswith("; and 5 more")
