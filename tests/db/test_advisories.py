"""Advisories and licences in the database (a real SQLite file): the stored record round trip, import dedup by the
latest ``modified``, JSON API entries kept per release, the change log, malware reports; licences per metadata."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mirror.adapters.db import open_database
from mirror.adapters.db.advisories import AdvisoryStore, Outcome
from mirror.adapters.db.licenses import LicenseRecords
from mirror.core.advisories import affects, from_json_api, lowest_fixed_above, parse_osv
from mirror.core.advisories.record import from_record, to_record
from mirror.core.licenses import license_of

from ..support.databases import settings


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = await open_database(settings(database_url))
    yield engine
    await engine.dispose()


def osv(aid: str = "GHSA-test-0001", modified: str = "2026-01-02T03:04:05Z", *, name: str = "demo",
        versions: list[str] | None = None, **top: Any) -> Any:
    entry: dict[str, Any] = {"package": {"ecosystem": "PyPI", "name": name},
                             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"fixed": "1.5"}]},
                                        {"type": "GIT", "repo": "https://git.example/x",
                                         "events": [{"introduced": "abc"}]}]}
    if versions is not None:
        entry["versions"] = versions
    return parse_osv({"id": aid, "modified": modified, "summary": "a summary", "aliases": ["CVE-2026-1"],
                      "references": [{"type": "WEB", "url": "https://advisories.example/1"}],
                      "affected": [entry], **top})


def test_a_stored_record_matches_exactly_as_the_parsed_advisory() -> None:
    advisory = osv(versions=["2.0", "not-pep440"], withdrawn=None)
    again = from_record(to_record(advisory))
    assert again == advisory
    for version in ("0.9", "1.0", "1.4.9", "1.5", "2.0", "not-pep440", "3.0"):
        assert affects(again, "demo", version) == affects(advisory, "demo", version), version
    assert lowest_fixed_above(again, "demo", "1.2") == "1.5"
    api = from_json_api({"info": {"name": "demo", "version": "2.0"},
                         "vulnerabilities": [{"id": "PYSEC-1", "fixed_in": ["2.1"]}]})[0]
    assert from_record(to_record(api)) == api


async def test_import_keeps_the_latest_modified(engine: AsyncEngine) -> None:
    store = AdvisoryStore(engine)
    first = await store.import_osv([osv(), osv("GHSA-test-0002")])
    assert [r.outcome for r in first] == [Outcome.NEW, Outcome.NEW]
    # In one batch, the later of two records of one id wins; the same modified again is unchanged; older is kept out.
    again = await store.import_osv([osv(modified="2026-03-01T00:00:00Z", versions=["9.9"]),
                                    osv(modified="2026-02-01T00:00:00Z"),
                                    osv("GHSA-test-0002"),
                                    osv("GHSA-test-0002", modified="2025-01-01T00:00:00Z")])
    assert [(r.advisory.id, r.outcome) for r in again] == [("GHSA-test-0001", Outcome.UPDATED),
                                                           ("GHSA-test-0002", Outcome.UNCHANGED)]
    older = await store.import_osv([osv(modified="2026-02-15T00:00:00Z")])
    assert older[0].outcome is Outcome.OLDER
    stored = {a.id: a for a in await store.for_project("demo")}
    assert stored["GHSA-test-0001"].affected[0].versions == ("9.9",)
    assert stored["GHSA-test-0001"].aliases == ("CVE-2026-1",)


async def test_the_change_log_names_projects_named_before_and_after(engine: AsyncEngine) -> None:
    store = AdvisoryStore(engine)
    start = await store.last_change()
    await store.import_osv([osv(name="old-name")])
    seq, projects = await store.changes_since(start)
    assert projects == {"old-name"}
    await store.import_osv([osv(name="new-name", modified="2026-05-01T00:00:00Z")])
    seq2, projects = await store.changes_since(seq)
    assert projects == {"old-name", "new-name"} and seq2 > seq
    assert await store.for_project("old-name") == []
    assert await store.changes_since(seq2) == (seq2, set())


async def test_json_api_entries_are_kept_per_release(engine: AsyncEngine) -> None:
    store = AdvisoryStore(engine)

    def doc(version: str, *ids: str) -> Any:
        return from_json_api({"info": {"name": "demo", "version": version},
                              "vulnerabilities": [{"id": i, "fixed_in": ["9"]} for i in ids]})

    assert await store.sync_json_api("demo", "1.0", doc("1.0", "PYSEC-1", "PYSEC-2"))
    assert not await store.sync_json_api("demo", "1.0", doc("1.0", "PYSEC-1", "PYSEC-2"))  # nothing new
    # the next release's document says nothing about 1.0: what it said is kept
    assert await store.sync_json_api("demo", "2.0", doc("2.0", "PYSEC-1"))
    found = {(a.id, a.affected[0].versions) for a in await store.for_project("demo")}
    assert found == {("PYSEC-1", ("1.0",)), ("PYSEC-2", ("1.0",)), ("PYSEC-1", ("2.0",))}
    # upstream drops an entry from a release's document: dropped here too
    seq = await store.last_change()
    assert await store.sync_json_api("demo", "1.0", doc("1.0", "PYSEC-1"))
    assert {(a.id, a.affected[0].versions) for a in await store.for_project("demo")} == {
        ("PYSEC-1", ("1.0",)), ("PYSEC-1", ("2.0",))}
    assert (await store.changes_since(seq))[1] == {"demo"}


async def test_malware_lists_reports_in_force(engine: AsyncEngine) -> None:
    store = AdvisoryStore(engine)
    await store.import_osv([osv("MAL-2026-1", name="evil"), osv("GHSA-x"),
                            osv("MAL-2026-2", name="gone", withdrawn="2026-01-03T00:00:00Z")])
    assert [a.id for a in await store.malware()] == ["MAL-2026-1"]


async def test_licences_are_kept_per_metadata_file(engine: AsyncEngine) -> None:
    records = LicenseRecords(engine)
    await records.save("a" * 64, license_of(license_expression="MIT OR Apache-2.0"))
    await records.save("b" * 64, license_of(classifiers=["License :: OSI Approved :: BSD License"]))
    found = await records.load(["a" * 64, "b" * 64, "c" * 64])
    assert found["a" * 64].expression == "MIT OR Apache-2.0"
    assert found["b" * 64].expression is None and "BSD License" in found["b" * 64].detail
    assert "c" * 64 not in found
