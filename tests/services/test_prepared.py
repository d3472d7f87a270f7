"""PreparedPages, the memo around decide_page, with a fake clock and in-memory pages: no sockets, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mirror.core.errors import FileNotListed, ProjectNotFound
from mirror.core.models import DistFile, Format, ProjectDetail, ProjectList, Tier
from mirror.core.policy.model import Block, Location, PolicySet, ProjectPolicy, Review, Signature
from mirror.core.simple.render import make_environment
from mirror.core.tiers import Evidence
from mirror.resources import templates_dir
from mirror.services.cache import Entry
from mirror.services.cpu import CpuLane
from mirror.services.prepared import PreparedPages

START = datetime(2026, 11, 30, 12, tzinfo=UTC)
SIG = Signature("alice", START - timedelta(days=100))
HERE = Location("projects/demo.toml", 3)


class Clock:
    def __init__(self) -> None:
        self.now = START.timestamp()

    def __call__(self) -> float:
        return self.now


def wheel(version: str, age: timedelta) -> DistFile:
    return DistFile(f"demo-{version}-py3-none-any.whl", f"https://files.example/demo-{version}.whl",
                    {"sha256": (version.encode().hex() * 64)[:64]}, upload_time=START - age)


class Pages:
    def __init__(self, detail: ProjectDetail) -> None:
        self.entry = Entry(detail, "rev1", None, None, START.timestamp())
        self.calls = 0

    def peek(self, project: str) -> Entry[ProjectDetail] | None:
        return self.entry if project == "demo" else None

    async def project(self, project: str) -> Entry[ProjectDetail]:
        self.calls += 1
        if project != "demo":
            raise ProjectNotFound(project)
        return self.entry

    async def project_list(self) -> Entry[ProjectList]:
        raise AssertionError("not used")

    def known_page(self, project: str) -> ProjectDetail | None:
        return self.entry.value if project == "demo" else None


class Policies:
    def __init__(self, current: PolicySet) -> None:
        self.current = current
        self.generation = 1

    def set(self, current: PolicySet) -> None:
        self.current, self.generation = current, self.generation + 1


class EvidenceStub:
    def __init__(self) -> None:
        self.rev = 0
        self.calls = 0
        self.waited: list[bool] = []
        self.files: list[int] = []  # how many files each call was about

    def revision(self, project: str) -> int:
        return self.rev

    async def for_page(self, project: str, detail: ProjectDetail, *, wait_for_advisories: bool = True) -> Evidence:
        self.calls += 1
        self.waited.append(wait_for_advisories)
        self.files.append(len(detail.files))
        return Evidence()

    def wants_licenses(self, project: str) -> bool:
        return False

    def observe(self, view: object) -> None:
        pass

    quarantined: frozenset[str] = frozenset()
    list_revision = 0


def reviewed(*blocks: Block) -> PolicySet:
    return PolicySet(projects={"demo": ProjectPolicy("demo", "demo.toml", review=Review(SIG, HERE),
                                                     blocks=blocks)}, version=f"v{len(blocks)}")


@pytest.fixture
def parts():
    clock = Clock()
    pages = Pages(ProjectDetail("demo", (wheel("1.0", timedelta(days=30)), wheel("2.0", timedelta(days=6)))))
    policies = Policies(reviewed())
    evidence = EvidenceStub()
    cpu = CpuLane()
    prepared = PreparedPages(pages, evidence, make_environment(str(templates_dir())), policies, cpu, clock=clock)
    yield prepared, clock, pages, policies, evidence
    cpu.close()


async def versions(prepared: PreparedPages, tier: Tier = Tier.REVIEWED) -> list[str]:
    view = await prepared.view(tier, "demo")
    return list(view.detail.computed_versions())


async def test_warm_requests_get_the_same_prepared_bytes(parts) -> None:
    prepared, _, pages, _, evidence = parts
    first, stale = await prepared.project(Tier.ALL, "demo", Format.JSON)
    again, _ = await prepared.project(Tier.ALL, "demo", Format.JSON)
    assert again is first and not stale
    assert evidence.calls == 1  # evidence gathered once per page revision, shared by tiers...
    assert evidence.waited == [False]  # ...`all` only warns about vulnerabilities: it did not wait for them
    await prepared.project(Tier.REVIEWED, "demo", Format.JSON)
    assert evidence.waited == [False, True]  # `reviewed` holds them: gathered again, waiting for advisories
    await prepared.project(Tier.ALL, "demo", Format.HTML)
    assert evidence.calls == 2  # what waited serves every tier


async def test_a_cooldown_ending_admits_the_file_without_any_upstream_change(parts) -> None:
    prepared, clock, pages, _, _ = parts
    assert await versions(prepared) == ["1.0"]
    before, _ = await prepared.project(Tier.REVIEWED, "demo", Format.JSON)
    clock.now += timedelta(hours=23).total_seconds()
    assert await versions(prepared) == ["1.0"]
    clock.now += timedelta(hours=1, seconds=1).total_seconds()  # 2.0 is now 7 days old
    assert await versions(prepared) == ["1.0", "2.0"]
    after, _ = await prepared.project(Tier.REVIEWED, "demo", Format.JSON)
    assert after is not before and b"2.0" in after.body


async def test_a_policy_change_and_new_evidence_re_decide(parts) -> None:
    prepared, _, _, policies, evidence = parts
    first, _ = await prepared.project(Tier.ALL, "demo", Format.HTML)
    from packaging.specifiers import SpecifierSet
    policies.set(reviewed(Block(SpecifierSet("==1.0"), "bad", SIG, HERE)))
    assert await versions(prepared, Tier.ALL) == ["2.0"]
    second, _ = await prepared.project(Tier.ALL, "demo", Format.HTML)
    assert second is not first
    evidence.rev += 1
    third, _ = await prepared.project(Tier.ALL, "demo", Format.HTML)
    assert third is not second and third.body == second.body and evidence.calls == 2


async def test_a_tier_that_keeps_a_project_out_answers_before_any_fetch(parts) -> None:
    prepared, _, pages, _, _ = parts
    with pytest.raises(ProjectNotFound) as info:
        await prepared.project(Tier.REVIEWED, "other", Format.JSON)
    assert "not reviewed" in info.value.reason and pages.calls == 0
    with pytest.raises(ProjectNotFound):
        await prepared.project(Tier.VETTED, "demo", Format.JSON)  # nothing vetted
    assert pages.calls == 0


async def test_admitted_file_follows_the_view(parts) -> None:
    prepared, _, _, _, _ = parts
    assert (await prepared.admitted_file(Tier.ALL, "demo", "demo-2.0-py3-none-any.whl")).filename.endswith(".whl")
    with pytest.raises(FileNotListed):
        await prepared.admitted_file(Tier.REVIEWED, "demo", "demo-2.0-py3-none-any.whl")  # in the cooldown


async def test_a_file_asked_for_after_the_evidence_changed_is_decided_alone(parts) -> None:
    prepared, clock, pages, policies, evidence = parts
    sdist = DistFile("demo-2.0.tar.gz", "https://files.example/demo-2.0.tar.gz", {"sha256": "ab" * 32},
                     upload_time=START - timedelta(days=6))
    pages.entry = Entry(ProjectDetail("demo", (*pages.entry.value.files, sdist)), "rev1", None, None,
                        START.timestamp())
    await prepared.project(Tier.ALL, "demo", Format.JSON)
    await prepared.project(Tier.REVIEWED, "demo", Format.JSON)
    view = await prepared.view(Tier.REVIEWED, "demo")
    assert evidence.files == [3, 3]
    assert (await prepared.admitted_file(Tier.ALL, "demo", "demo-2.0-py3-none-any.whl")).filename
    assert evidence.files == [3, 3]  # the view is current: no evidence gathered, nothing decided
    evidence.rev += 1  # e.g. the metadata of a wheel of the page was just extracted
    assert (await prepared.admitted_file(Tier.ALL, "demo", "demo-2.0-py3-none-any.whl")).filename
    assert evidence.files == [3, 3, 2]  # that file alone is decided, from the evidence of its release (2 files)
    with pytest.raises(FileNotListed):  # the same rules: still in the cooldown
        await prepared.admitted_file(Tier.REVIEWED, "demo", "demo-2.0-py3-none-any.whl")
    clock.now += timedelta(days=2).total_seconds()  # the cooldown of 2.0 ended
    assert (await prepared.admitted_file(Tier.REVIEWED, "demo", "demo-2.0-py3-none-any.whl")).filename
    from packaging.specifiers import SpecifierSet
    policies.set(reviewed(Block(SpecifierSet("==2.0"), "bad", SIG, HERE)))  # a block, decided for the file alone
    with pytest.raises(FileNotListed):
        await prepared.admitted_file(Tier.ALL, "demo", "demo-2.0-py3-none-any.whl")
    with pytest.raises(FileNotListed):  # a file the page does not list
        await prepared.admitted_file(Tier.ALL, "demo", "demo-3.0-py3-none-any.whl")
    assert evidence.files[2:] == [2, 2, 2, 2, 0]
    assert await prepared.view(Tier.REVIEWED, "demo") is not view  # the page is decided again when asked for
    assert evidence.files[-1] == 3


async def test_explain_comes_from_the_same_decision(parts) -> None:
    prepared, _, _, _, _ = parts
    explanation = await prepared.explain("demo", "2.0")
    tiers = {t.tier: t.decision for t in explanation.tiers}
    assert tiers[Tier.ALL].admitted and not tiers[Tier.REVIEWED].admitted
    assert "cooldown" in tiers[Tier.REVIEWED].rule
