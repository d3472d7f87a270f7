"""The floor a promotion records by default (``mirror.core.floors``): the newest release ``reviewed`` would
admit once the project is promoted, every tier rule applied; finals before pre-releases; yanked files and
unreadable versions never chosen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mirror.core.floors import floor_at_promotion, newest_admitted
from mirror.core.models import DistFile, ProjectDetail, Tier
from mirror.core.policy.evaluate import Decision, Sighting
from mirror.core.policy.load import parse_project
from mirror.core.policy.model import PolicySet
from mirror.core.tiers import Evidence, FileVerdict, ReleaseVerdict, TierView

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
IN = Decision(True, "admitted")
OUT = Decision(False, "kept out")


def wheel(version: str, age_days: float = 30, yanked: bool | str = False, tag: str = "py3") -> DistFile:
    return DistFile(f"demo-{version}-{tag}-none-any.whl", f"https://up.example/demo-{version}-{tag}.whl",
                    {"sha256": (version + tag).encode().hex().ljust(64, "0")[:64]},
                    upload_time=NOW - timedelta(days=age_days), yanked=yanked)


def view(*releases: tuple[str | None, tuple[tuple[bool, bool], ...]]) -> TierView:
    """A reviewed view from (version, ((admitted, yanked), ...)) per release."""
    out = []
    for version, files in releases:
        verdicts = tuple(FileVerdict(wheel(version or "x", yanked=yanked, tag=f"py{i}"), IN if admitted else OUT)
                         for i, (admitted, yanked) in enumerate(files))
        out.append(ReleaseVerdict(version, verdicts))
    return TierView(Tier.REVIEWED, IN, ProjectDetail("demo"), tuple(out))


OK = ((True, False),)            # one admitted, not yanked file
YANKED = ((True, True),)         # admitted but yanked
REFUSED = ((False, False),)      # not admitted
MIXED = ((True, True), (False, False), (True, False))  # only the third file counts


@pytest.mark.parametrize(("releases", "floor"), [
    ((), None),
    ((("1.0", REFUSED),), None),
    ((("1.0", YANKED),), None),
    ((("1.0", OK),), "1.0"),
    ((("1.0", OK), ("2.0", REFUSED)), "1.0"),
    ((("1.0", OK), ("2.0", YANKED)), "1.0"),
    ((("1.0", OK), ("2.0", MIXED)), "2.0"),
    ((("2.0", OK), ("1.0", OK)), "2.0"),                      # upstream's order does not matter
    ((("9.0", OK), ("10.0", OK)), "10.0"),                    # versions compare as versions, not strings
    ((("1.0", OK), ("2.0rc1", OK)), "1.0"),                   # a final release before a newer pre-release
    ((("1.0", OK), ("1.1.dev1", OK), ("1.1a1", OK)), "1.0"),
    ((("1.0a1", OK), ("1.0rc1", OK)), "1.0rc1"),             # only pre-releases: the newest of them
    ((("1.0rc1", OK), ("0.9", YANKED)), "1.0rc1"),
    ((("1.0.post1", OK), ("1.0", OK)), "1.0.post1"),          # a post-release is final
    ((("2.0.0", OK), ("1.0", OK)), "2.0.0"),                  # upstream's spelling is kept
    ((("1.0", OK), ("2.0+local", OK)), "2.0+local"),
    ((("1.0", OK), (None, OK)), "1.0"),                       # files whose version cannot be read
    ((("1.0", OK), ("not-a-version!", OK)), "1.0"),
    ((("not-a-version!", OK),), None),
    (((None, OK),), None),
    # a release passed over does not end the search
    ((("2.0", REFUSED), ("1.0", OK)), "1.0"),
    ((("2.0", YANKED), ("1.0", OK)), "1.0"),
    (((None, OK), ("1.0", OK)), "1.0"),
    ((("not-a-version!", OK), ("1.0", OK)), "1.0"),
])
def test_newest_admitted(releases, floor):
    assert newest_admitted(view(*releases)) == floor


def project(text: str = "") -> PolicySet:
    if not text:
        return PolicySet(version="t")
    return PolicySet(projects={"demo": parse_project(text, "policies/projects/demo.toml", "demo")}, version="t")


def page(*files: DistFile) -> ProjectDetail:
    return ProjectDetail("demo", files)


def test_the_floor_at_promotion_is_the_newest_release_reviewed_would_admit():
    files = page(wheel("1.0", 60), wheel("1.1", 30), wheel("1.2", 1))  # 1.2 is still in its 7-day cooldown
    assert floor_at_promotion("demo", files, project(), NOW) == "1.1"
    # the cooldown counts from `now`
    assert floor_at_promotion("demo", files, project(), NOW + timedelta(days=7)) == "1.2"
    assert floor_at_promotion("demo", page(wheel("1.0", 1)), project(), NOW) is None
    # an already reviewed project's own cooldown applies
    reviewed = '[review]\nby = "alice"\ncooldown_days = 0\n'
    assert floor_at_promotion("demo", files, project(reviewed), NOW) == "1.2"


def test_the_floor_at_promotion_applies_the_projects_blocks():
    files = page(wheel("1.0", 60), wheel("1.1", 30))
    blocked = '[[block]]\nversions = "==1.1"\nreason = "broken"\nby = "bob"\n'
    assert floor_at_promotion("demo", files, project(blocked), NOW) == "1.0"
    # the blocks of another project do not apply
    other = PolicySet(projects={"other": parse_project(blocked, "policies/projects/other.toml", "other")},
                      version="t")
    assert floor_at_promotion("demo", files, other, NOW) == "1.1"


def test_the_floor_at_promotion_uses_the_mirrors_evidence():
    files = page(wheel("1.0", 60), wheel("1.1", 30))
    # upstream claims 1.1 is 30 days old; the mirror first saw it an hour ago, after the first fetch
    seen = Evidence(sightings={files.files[1].filename: Sighting(files.files[1].sha256, NOW - timedelta(hours=1))})
    assert floor_at_promotion("demo", files, project(), NOW) == "1.1"
    assert floor_at_promotion("demo", files, project(), NOW, seen) == "1.0"
