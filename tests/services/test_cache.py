"""The revalidating cache with a fake clock, an in-memory store and a scripted upstream: no sockets."""

from __future__ import annotations

import asyncio

import pytest

from mirror.core.errors import DatabaseUnavailable, ParseError, UpstreamError, UpstreamTimeout
from mirror.services.cache import (
    CachePolicy,
    Fresh,
    Gone,
    KeyGone,
    NotModified,
    Record,
    RevalidatingCache,
    revision_of,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class MemoryStore:
    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.touched: list[str] = []

    async def load(self, key: str) -> Record | None:
        return self.records.get(key)

    async def save(self, record: Record) -> None:
        self.records[record.key] = record

    async def touch(self, key: str, fetched_at: float) -> None:
        self.touched.append(key)
        from dataclasses import replace

        self.records[key] = replace(self.records[key], fetched_at=fetched_at)

    async def delete(self, key: str) -> None:
        self.records.pop(key, None)


class Upstream:
    """Answers from a script: each call pops the next answer (or exception); records the ETags sent."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str | None]] = []
        self.gate: asyncio.Event | None = None

    async def __call__(self, key: str, etag: str | None) -> Fresh | NotModified | Gone:
        self.calls.append((key, etag))
        if self.gate is not None:
            await self.gate.wait()
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, (Fresh, NotModified, Gone))
        return answer


async def decode(record: Record) -> str:
    if record.body.startswith(b"bad"):
        raise ParseError("not a page")
    return record.body.decode()


def fresh(body: bytes, etag: str | None = '"e1"') -> Fresh:
    return Fresh(body=body, content_type="application/vnd.pypi.simple.v1+json", url="https://up.example/x/",
                 etag=etag)


def make(upstream: Upstream, store: MemoryStore | None = None, clock: Clock | None = None,
         **policy: object) -> tuple[RevalidatingCache[str], MemoryStore, Clock]:
    store = store if store is not None else MemoryStore()
    clock = clock or Clock()
    options = {"ttl": 600.0, "retry_after": 30.0, "not_found_ttl": 60.0, **policy}
    return RevalidatingCache("test", upstream, store, decode, CachePolicy(**options), clock=clock), store, clock


async def test_first_get_fetches_decodes_and_stores() -> None:
    up = Upstream(fresh(b"v1"))
    cache, store, clock = make(up)
    entry = await cache.get("x")
    assert entry.value == "v1" and not entry.stale and entry.etag == '"e1"'
    assert store.records["x"].body == b"v1" and store.records["x"].fetched_at == clock.now
    assert entry.revision == revision_of("application/vnd.pypi.simple.v1+json", b"v1")
    assert up.calls == [("x", None)]


async def test_fresh_entry_is_served_from_memory_until_ttl() -> None:
    up = Upstream(fresh(b"v1"), NotModified())
    cache, _, clock = make(up)
    await cache.get("x")
    clock.now += 599.9
    assert cache.peek("x") is not None
    assert (await cache.get("x")).value == "v1" and len(up.calls) == 1
    clock.now += 0.1  # exactly ttl: no longer fresh
    assert cache.peek("x") is None
    entry = await cache.get("x")
    assert up.calls[-1] == ("x", '"e1"')  # revalidated with the ETag
    assert entry.value == "v1" and entry.fetched_at == clock.now and not entry.stale


async def test_a_changed_body_is_decoded_again_and_an_unchanged_one_is_not() -> None:
    decoded: list[bytes] = []

    async def counting(record: Record) -> str:
        decoded.append(record.body)
        return record.body.decode()

    up = Upstream(fresh(b"v1"), fresh(b"v1"), fresh(b"v2"))
    store, clock = MemoryStore(), Clock()
    cache = RevalidatingCache("t", up, store, counting, CachePolicy(ttl=10), clock=clock)
    first = await cache.get("x")
    clock.now += 10
    same = await cache.get("x")
    clock.now += 10
    changed = await cache.get("x")
    assert decoded == [b"v1", b"v2"]
    assert same.value is first.value and same.revision == first.revision
    assert changed.value == "v2" and changed.revision != first.revision


async def test_stored_record_is_used_without_upstream_while_fresh() -> None:
    store, clock = MemoryStore(), Clock()
    first, _, _ = make(Upstream(fresh(b"v1")), store, clock)
    await first.get("x")
    clock.now += 300
    up = Upstream()
    second, _, _ = make(up, store, clock)  # another process, or a restart
    assert (await second.get("x")).value == "v1" and up.calls == []


async def test_expired_stored_record_is_revalidated_with_its_etag() -> None:
    store, clock = MemoryStore(), Clock()
    await make(Upstream(fresh(b"v1")), store, clock)[0].get("x")
    clock.now += 601
    up = Upstream(NotModified())
    second, _, _ = make(up, store, clock)
    entry = await second.get("x")
    assert up.calls == [("x", '"e1"')] and entry.value == "v1" and store.touched == ["x"]


@pytest.mark.parametrize("failure", [UpstreamError("x", "HTTP 500", status=500), UpstreamTimeout("x", "timed out"),
                                     "garbage"])
async def test_stale_if_error_then_no_retry_until_retry_after(failure: object) -> None:
    error = fresh(b"bad bytes") if failure == "garbage" else failure
    up = Upstream(fresh(b"v1"), error, fresh(b"v2"))
    cache, _, clock = make(up)
    await cache.get("x")
    clock.now += 601
    stale = await cache.get("x")
    assert stale.stale and stale.value == "v1" and stale.retry_at == clock.now + 30
    clock.now += 29.9
    assert (await cache.get("x")).stale and len(up.calls) == 2  # no new upstream request yet
    clock.now += 0.1
    recovered = await cache.get("x")
    assert recovered.value == "v2" and not recovered.stale and len(up.calls) == 3


async def test_failure_with_nothing_cached_raises() -> None:
    cache, store, _ = make(Upstream(UpstreamError("x", "HTTP 502", status=502), fresh(b"bad")))
    with pytest.raises(UpstreamError, match="HTTP 502"):
        await cache.get("x")
    with pytest.raises(UpstreamError, match="invalid answer"):
        await cache.get("x")
    assert store.records == {}  # bytes that do not decode are never stored


async def test_not_found_is_remembered_for_not_found_ttl_and_deletes_the_record() -> None:
    up = Upstream(fresh(b"v1"), Gone(), fresh(b"v2"))
    cache, store, clock = make(up)
    await cache.get("x")
    clock.now += 601
    with pytest.raises(KeyGone):
        await cache.get("x")
    assert "x" not in store.records
    clock.now += 59.9
    with pytest.raises(KeyGone):
        await cache.get("x")
    assert len(up.calls) == 2
    clock.now += 0.1
    assert (await cache.get("x")).value == "v2"


async def test_concurrent_gets_share_one_fetch_and_a_cancelled_client_does_not_cancel_it() -> None:
    up = Upstream(fresh(b"v1"))
    up.gate = asyncio.Event()
    cache, _, _ = make(up)
    waiters = [asyncio.ensure_future(cache.get("x")) for _ in range(20)]
    await asyncio.sleep(0)
    waiters[0].cancel()
    up.gate.set()
    results = await asyncio.gather(*waiters[1:])
    assert {r.value for r in results} == {"v1"} and len(up.calls) == 1


async def test_stale_while_revalidate_never_makes_a_client_wait() -> None:
    up = Upstream(fresh(b"v1"), fresh(b"v2"))
    cache, _, clock = make(up, refresh_in_background=True)
    await cache.get("x")  # the first fetch is waited for: there is nothing to serve yet
    clock.now += 601
    up.gate = asyncio.Event()
    served = await asyncio.wait_for(cache.get("x"), 1)  # upstream is blocked: still answered at once
    assert served.value == "v1" and len(up.calls) == 2
    assert (await cache.get("x")).value == "v1" and len(up.calls) == 2  # one refresh in flight, not two
    up.gate.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert (await cache.get("x")).value == "v2"
    await cache.close()


async def test_background_refresh_failure_keeps_the_last_good_value() -> None:
    up = Upstream(fresh(b"v1"), UpstreamError("x", "HTTP 500", status=500))
    cache, _, clock = make(up, refresh_in_background=True)
    await cache.get("x")
    clock.now += 601
    assert (await cache.get("x")).value == "v1"
    for _ in range(10):
        await asyncio.sleep(0)
    entry = await cache.get("x")
    assert entry.value == "v1" and entry.stale and len(up.calls) == 2


async def test_memory_is_bounded_and_an_evicted_entry_comes_back_from_the_store() -> None:
    up = Upstream(*(fresh(f"v{i}".encode()) for i in range(5)))
    cache, _, _ = make(up, memory=2)
    for i in range(5):
        await cache.get(f"k{i}")
    assert cache.known("k0") is None and cache.known("k4") is not None
    assert (await cache.get("k0")).value == "v0" and len(up.calls) == 5  # from the store, not upstream


async def test_a_304_to_an_unconditional_request_is_an_upstream_error() -> None:
    cache, _, _ = make(Upstream(NotModified()))
    with pytest.raises(UpstreamError, match="304"):
        await cache.get("x")


class DownStore(MemoryStore):
    """A store whose database is down while ``down`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise DatabaseUnavailable("database: ConnectionRefusedError: connect call failed")

    async def load(self, key: str) -> Record | None:
        self._check()
        return await super().load(key)

    async def save(self, record: Record) -> None:
        self._check()
        await super().save(record)

    async def touch(self, key: str, fetched_at: float) -> None:
        self._check()
        await super().touch(key, fetched_at)


async def test_a_database_outage_serves_what_memory_holds_stale_and_fails_a_cold_key() -> None:
    store = DownStore()
    up = Upstream(fresh(b"v1"), NotModified(), NotModified())
    cache, _, clock = make(up, store)
    await cache.get("x")
    store.down = True
    clock.now += 601  # expired: revalidated upstream (304), but the database cannot record it
    stale = await cache.get("x")
    assert stale.stale and stale.value == "v1" and "database" in stale.error and stale.retry_at == clock.now + 30
    assert (await cache.get("x")).stale and len(up.calls) == 2  # neither asked again until retry_after
    with pytest.raises(DatabaseUnavailable):
        await cache.get("cold")  # nothing in memory: the caller answers 503
    assert len(up.calls) == 2  # a cold key is refused before upstream is asked
    store.down = False
    clock.now += 30
    recovered = await cache.get("x")
    assert not recovered.stale and recovered.value == "v1" and len(up.calls) == 3


class SlowStore(MemoryStore):
    """A store whose saves wait until ``gate`` is set (a database busy with another writer)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def save(self, record: Record) -> None:
        await self.gate.wait()
        await super().save(record)


async def test_without_leases_the_answer_does_not_wait_for_the_store_and_saves_keep_their_order() -> None:
    store = SlowStore()
    up = Upstream(fresh(b"v1"), fresh(b"v2", etag='"e2"'))
    cache, _, clock = make(up, store)
    entry = await asyncio.wait_for(cache.get("x"), 5)  # answered while the save waits
    assert entry.value == "v1" and "x" not in store.records
    clock.now += 601
    assert (await asyncio.wait_for(cache.get("x"), 5)).value == "v2"
    store.gate.set()
    await cache.settle()
    assert store.records["x"].body == b"v2"  # the later save landed last
    assert cache._save_locks == {}  # bounded: no lock is kept once its saves are done


async def test_with_leases_the_record_is_stored_before_the_answer() -> None:
    from mirror.services.leases import Leases, LeaseSettings

    class NoLeaseStore:  # every take succeeds: this process always leads
        async def read(self, key: str) -> None:
            return None

        async def take(self, key: str, owner: str, ttl: float) -> bool:
            return True

        async def renew(self, owner: str, keys: set[str], ttl: float) -> set[str]:
            return keys

        async def release(self, key: str, owner: str, outcome: str | None, detail: str | None = None) -> bool:
            return True

        async def prune(self, keep: float) -> int:
            return 0

    store = SlowStore()
    leases = Leases(NoLeaseStore(), "me", LeaseSettings())
    cache = RevalidatingCache("test", Upstream(fresh(b"v1")), store, decode,
                              CachePolicy(ttl=600.0, retry_after=30.0, not_found_ttl=60.0), leases=leases)
    getting = asyncio.ensure_future(cache.get("x"))
    done, _ = await asyncio.wait([getting], timeout=0.5)
    assert not done  # another node reads the record once the lease is released: it is stored first
    store.gate.set()
    assert (await asyncio.wait_for(getting, 5)).value == "v1" and store.records["x"].body == b"v1"
    await leases.close()


async def test_beyond_the_background_saves_an_answer_waits_for_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    from mirror.services import cache as cache_module

    monkeypatch.setattr(cache_module, "BACKGROUND_SAVES", 1)
    store = SlowStore()
    cache, _, _ = make(Upstream(fresh(b"a"), fresh(b"b")), store)
    assert (await asyncio.wait_for(cache.get("a"), 5)).value == "a"  # its save waits in the background
    second = asyncio.ensure_future(cache.get("b"))
    done, _ = await asyncio.wait([second], timeout=0.5)
    assert not done  # one save is already queued: this answer waits for its own
    store.gate.set()
    assert (await asyncio.wait_for(second, 5)).value == "b"
    await cache.settle()
    assert set(store.records) == {"a", "b"}
