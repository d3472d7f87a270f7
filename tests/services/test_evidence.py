"""EvidenceService: first sightings with a fake clock and an in-memory store; no database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from mirror.adapters.db.sightings import SightingRow
from mirror.core.models import DistFile, ProjectDetail
from mirror.services.evidence import EvidenceService


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Store:
    def __init__(self, fail: bool = False) -> None:
        self.rows: dict[str, dict[str, SightingRow]] = {}
        self.fail = fail

    async def load(self, project: str) -> list[SightingRow]:
        if self.fail:
            raise OSError("database gone")
        return list(self.rows.get(project, {}).values())

    async def record(self, project: str, rows: list[SightingRow]) -> None:
        known = self.rows.setdefault(project, {})
        for r in rows:
            known.setdefault(r.filename, r)


class Extracted:
    async def extracted_metadata_for(self, shas: list[str]) -> dict[str, str]:
        return {}


def page(*files: tuple[str, str]) -> ProjectDetail:
    return ProjectDetail("demo", tuple(DistFile(name, f"https://files.example/{name}", {"sha256": sha})
                                       for name, sha in files))


async def settle(service: EvidenceService) -> None:
    await service.close()
    await asyncio.sleep(0)


async def test_first_fetch_is_initial_and_later_files_are_seen_when_they_appear() -> None:
    clock, store = Clock(), Store()
    service = EvidenceService(store, Extracted(), None, {}, clock)
    first = await service.for_page("demo", page(("a-1.0.tar.gz", "1" * 64)))
    assert first.sightings["a-1.0.tar.gz"].initial
    clock.now += 3600
    second = await service.for_page("demo", page(("a-1.0.tar.gz", "1" * 64), ("a-2.0.tar.gz", "2" * 64)))
    seen = second.sightings["a-2.0.tar.gz"]
    assert not seen.initial and seen.first_seen == datetime.fromtimestamp(clock.now, UTC)
    assert second.sightings["a-1.0.tar.gz"] == first.sightings["a-1.0.tar.gz"]
    await settle(service)
    assert set(store.rows["demo"]) == {"a-1.0.tar.gz", "a-2.0.tar.gz"}


async def test_another_sha256_under_a_known_name_keeps_the_first() -> None:
    store = Store()
    service = EvidenceService(store, Extracted(), None, {}, Clock())
    await service.for_page("demo", page(("a-1.0.tar.gz", "1" * 64)))
    later = await service.for_page("demo", page(("a-1.0.tar.gz", "f" * 64)))
    assert later.sightings["a-1.0.tar.gz"].sha256 == "1" * 64
    await settle(service)


async def test_a_restarted_process_reads_the_sightings_of_others() -> None:
    clock, store = Clock(), Store()
    one = EvidenceService(store, Extracted(), None, {}, clock)
    await one.for_page("demo", page(("a-1.0.tar.gz", "1" * 64)))
    await settle(one)
    clock.now += 86400
    two = EvidenceService(store, Extracted(), None, {}, clock)
    got = await two.for_page("demo", page(("a-1.0.tar.gz", "1" * 64), ("a-2.0.tar.gz", "2" * 64)))
    assert got.sightings["a-1.0.tar.gz"].initial and not got.sightings["a-2.0.tar.gz"].initial
    await settle(two)


async def test_an_unreadable_database_means_no_sightings_not_an_error() -> None:
    service = EvidenceService(Store(fail=True), Extracted(), None, {}, Clock())
    got = await service.for_page("demo", page(("a-1.0.tar.gz", "1" * 64)))
    assert got.sightings == {}


def test_revisions_change_on_invalidate() -> None:
    service = EvidenceService(Store(), Extracted(), None, {}, Clock())
    before = service.revision("demo")
    service.invalidate("demo")
    assert service.revision("demo") != before and service.revision("other") == 0
