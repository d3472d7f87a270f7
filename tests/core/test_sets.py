"""Pure pieces of dependency sets: which wheels fit a target, which release a tier's view gives a set of
requirements, a planned promotion's policies, requirements and lock files read as sets, static pyproject
dependencies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName

from mirror.core.buildsystem import static_dependencies
from mirror.core.closure_model import Missing
from mirror.core.locks import parse_lock
from mirror.core.models import DistFile, ProjectDetail, Tier
from mirror.core.policy.model import Block, Location, PolicySet, ProjectPolicy, Signature
from mirror.core.requirements import parse_requirements
from mirror.core.sets import Chosen, as_reviewed, choose_release, from_lock, from_requirements
from mirror.core.targets import Target
from mirror.core.tiers import Evidence, decide_page
from mirror.core.wheels import needs_build, wheel_fits

LINUX = Target.parse("3.12-linux-x86_64")
MAC = Target.parse("3.12-macos-arm64")
WINDOWS = Target.parse("3.11-windows-amd64")
PYPY = Target.parse("pypy3.10-linux-x86_64")
NOW = datetime(2026, 11, 20, tzinfo=UTC)
OLD = NOW - timedelta(days=30)


@pytest.mark.parametrize(("filename", "fits"), [
    ("a-1-py3-none-any.whl", {LINUX, MAC, WINDOWS, PYPY}),
    ("a-1-py2.py3-none-any.whl", {LINUX, MAC, WINDOWS, PYPY}),
    ("a-1-py313-none-any.whl", set()),
    ("a-1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", {LINUX}),
    ("a-1-cp312-cp312-musllinux_1_2_x86_64.whl", {LINUX}),
    ("a-1-cp312-cp312-manylinux_2_17_aarch64.whl", set()),
    ("a-1-cp38-abi3-manylinux2014_x86_64.whl", {LINUX}),
    ("a-1-cp312-cp312-macosx_11_0_arm64.whl", {MAC}),
    ("a-1-cp312-cp312-macosx_10_9_universal2.whl", {MAC}),
    ("a-1-cp312-cp312-macosx_10_9_x86_64.whl", set()),
    ("a-1-cp311-cp311-win_amd64.whl", {WINDOWS}),
    ("a-1-cp311-cp311-win32.whl", set()),
    ("a-1-cp313-cp313t-manylinux_2_17_x86_64.whl", set()),
    ("a-1-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl", {PYPY}),
    ("not-a-wheel.tar.gz", set()),
])
def test_wheel_fits(filename, fits):
    assert {t for t in (LINUX, MAC, WINDOWS, PYPY) if wheel_fits(filename, t)} == fits


def test_a_release_needs_a_build_where_no_wheel_fits():
    files = ["a-1.tar.gz", "a-1-cp312-cp312-manylinux_2_17_x86_64.whl"]
    assert not needs_build(files, LINUX) and needs_build(files, MAC)
    assert needs_build(["a-1.tar.gz"], LINUX)


def dist(filename: str, *, yanked: bool = False, requires_python: str | None = None,
         at: datetime = OLD) -> DistFile:
    return DistFile(filename, f"https://up.example/{filename}", {"sha256": f"{abs(hash(filename)):064x}"[-64:]},
                    requires_python=requires_python, upload_time=at, yanked=yanked)


def view(*files: DistFile, policies: PolicySet | None = None, tier: Tier = Tier.ALL):
    detail = ProjectDetail(name="demo", files=files)  # type: ignore[arg-type]
    return decide_page(tier, "demo", detail, Evidence(), policies or PolicySet(), NOW)


def test_the_newest_release_satisfying_every_requirement():
    page = view(dist("demo-1.0-py3-none-any.whl"), dist("demo-2.0-py3-none-any.whl"),
                dist("demo-2.5-py3-none-any.whl"), dist("demo-3.0b1-py3-none-any.whl"))
    assert choose_release(page, [], [LINUX]) == Chosen("2.5", (page.file("demo-2.5-py3-none-any.whl"),))
    chosen = choose_release(page, [Requirement("demo>=1"), Requirement("demo<2.5")], [LINUX])
    assert isinstance(chosen, Chosen) and chosen.version == "2.0"
    assert choose_release(page, [Requirement("demo>=3.0b1")], [LINUX]).version == "3.0b1"  # type: ignore[union-attr]
    unsatisfied = choose_release(page, [Requirement("demo>4")], [LINUX])
    assert isinstance(unsatisfied, Chosen) and (unsatisfied.version, unsatisfied.satisfies) == ("2.5", False)
    assert choose_release(page, [], [LINUX], prefer="1.0").version == "1.0"  # type: ignore[union-attr]
    assert choose_release(page, [], [LINUX], prefer="9.0") == Missing("9.0 is not served by 'all' (upstream lists "
                                                                      "no file of it)")


def test_yanked_releases_and_requires_python():
    page = view(dist("demo-1.0-py3-none-any.whl"), dist("demo-2.0-py3-none-any.whl", yanked=True),
                dist("demo-3.0-py3-none-any.whl", requires_python=">=3.13"))
    assert choose_release(page, [], [LINUX]).version == "1.0"  # type: ignore[union-attr]
    assert choose_release(page, [Requirement("demo==2.0")], [LINUX]).version == "2.0"  # type: ignore[union-attr]
    assert choose_release(page, [], [Target.parse("3.13-linux-x86_64")]).version == "3.0"  # type: ignore[union-attr]
    only_new = view(dist("demo-3.0-py3-none-any.whl", requires_python=">=3.13"))
    assert choose_release(only_new, [], [LINUX]) == Missing(
        "has no release 'all' serves (newest 3.0: Requires-Python >=3.13 excludes every target)")


def test_a_tier_that_keeps_the_project_out_says_why():
    page = view(dist("demo-1.0-py3-none-any.whl"), tier=Tier.REVIEWED)
    missing = choose_release(page, [], [LINUX])
    assert isinstance(missing, Missing) and missing.reason.startswith("is not in 'reviewed': not reviewed")
    promoted = as_reviewed(PolicySet(), "demo")
    assert choose_release(view(dist("demo-1.0-py3-none-any.whl"), policies=promoted, tier=Tier.REVIEWED),
                          [], [LINUX]).version == "1.0"  # type: ignore[union-attr]
    fresh = view(dist("demo-1.0-py3-none-any.whl", at=NOW - timedelta(days=1)), policies=promoted, tier=Tier.REVIEWED)
    held = choose_release(fresh, [], [LINUX])
    assert isinstance(held, Missing) and "inside the 7-day cooldown" in held.reason
    assert held.fix is not None and held.fix == "mirror vet demo 1.0 --by NAME --note TEXT"  # the release's own command


def test_the_fix_of_a_missing_release_changes_the_newest_held_release_that_fits():
    """The command a hole's fix names: that of the newest release kept out that the requirements accept."""
    block = Block(SpecifierSet(">=2"), "broken", Signature("bob"), Location("demo.toml", 2))
    demo = NormalizedName("demo")
    policies = as_reviewed(PolicySet(projects={demo: ProjectPolicy(demo, "demo.toml", blocks=(block,))}), demo)
    page = view(dist("demo-2.0-py3-none-any.whl"), dist("demo-3.0-py3-none-any.whl"),
                dist("demo-1.0-py3-none-any.whl", at=NOW - timedelta(days=1)), policies=policies, tier=Tier.REVIEWED)
    missing = choose_release(page, [Requirement("demo<3")], [LINUX])
    assert isinstance(missing, Missing) and missing.fix == "mirror unblock demo==2.0 --by NAME --reason TEXT"
    newest = choose_release(page, [Requirement("demo>5")], [LINUX])  # none fits: the newest held
    assert isinstance(newest, Missing) and newest.fix == "mirror unblock demo==3.0 --by NAME --reason TEXT"


def test_a_planned_promotion_keeps_blocks():
    block = Block(None, "malware", Signature("bob"), Location("demo.toml", 2))
    demo = NormalizedName("demo")
    policies = PolicySet(projects={demo: ProjectPolicy(demo, "demo.toml", blocks=(block,))})
    planned = as_reviewed(policies, "demo")
    assert planned.of("demo").review is not None and planned.of("demo").project_block == block  # type: ignore[union-attr]
    assert as_reviewed(planned, "demo") is planned
    page = view(dist("demo-1.0-py3-none-any.whl"), policies=planned, tier=Tier.REVIEWED)
    assert choose_release(page, [], [LINUX]) == Missing("is not in 'reviewed': blocked: malware (by bob)",
                                                        "mirror unblock demo --by NAME --reason TEXT")


def test_files_needed_per_target():
    chosen = Chosen("1.0", (dist("demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"), dist("demo-1.0.tar.gz")))
    assert [f.filename for f in chosen.needed([LINUX])] == ["demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"]
    assert [f.filename for f in chosen.needed([LINUX, MAC])][-1] == "demo-1.0.tar.gz"
    assert chosen.built_on([LINUX, MAC]) == (MAC,)


def test_requirements_and_locks_as_sets():
    text = "-i https://x.example/simple\nfoo>=1\nbar==2.0 --hash=sha256:" + "a" * 64 + "\nbaz==1.0\n./local\n"
    given = from_requirements(parse_requirements(text, "req.txt"), "req.txt")
    assert given.names == ("foo", "bar", "baz") and given.pins == {"bar": "2.0", "baz": "1.0"}
    assert [p.hashes for p in given.pinned] == [frozenset({("sha256", "a" * 64)}), frozenset()]
    assert given.origins == {"foo": "req.txt:2", "bar": "req.txt:3", "baz": "req.txt:4"}
    assert given.unservable == ("req.txt:5: ./local (a local path)",)
    assert given.notes == ("req.txt:1: -i is decided by the mirror, ignored",)
    lock = parse_lock('version = 1\n\n[[package]]\nname = "foo"\nversion = "1.2"\n'
                      'source = { registry = "https://up.example/simple" }\n'
                      'sdist = { url = "https://up.example/foo-1.2.tar.gz", hash = "sha256:' + "b" * 64 + '" }\n'
                      '\n[[package]]\nname = "app"\nversion = "0.1"\nsource = { editable = "." }\n', "uv.lock")
    locked = from_lock(lock)
    assert [str(r) for r in locked.roots] == ["foo==1.2"] and locked.pins == {"foo": "1.2"}
    assert locked.pinned[0].files == {"foo-1.2.tar.gz": {"sha256": "b" * 64}}
    assert locked.origins == {"foo": "uv.lock:3"}
    assert locked.unservable == ("uv.lock:9: app (source: editable, not from an index)",)


def test_static_pyproject_dependencies():
    found = static_dependencies('[project]\nname = "x"\ndependencies = ["a>=1", "not a req!"]\n'
                                '[project.optional-dependencies]\nfast = ["c; sys_platform == \'linux\'"]\n')
    assert found is not None and found.extras == ("fast",)
    assert [str(r) for r in found.requires] == ["a>=1", 'c; sys_platform == "linux" and extra == "fast"']
    assert static_dependencies('[project]\nname = "x"\ndynamic = ["dependencies"]\n') is None
    assert static_dependencies('[build-system]\nrequires = []\n') is None
