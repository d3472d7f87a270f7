"""Upstream misbehaving in every way we could think of, against the real application.

Extends tests/web/test_cache.py (which covers down/500/timeout/JSON-garbage on a project page, and GET of
a wheel with wrong/truncated/reset bytes): here every fault is also tried on the project list, on files
and on ``.metadata``, with HEAD and Range, with time bounds, and with the cache directory inspected.

The contract checked throughout:

* a page or file that is cached keeps being served (pages marked ``X-Mirror-Stale``), quickly;
* anything uncached fails with 502 (504 for a timeout), quickly: never a 500, never a hang;
* no byte sequence that failed verification is ever delivered whole or written to ``files/``; a client
  streaming it sees its connection cut, and the next good fetch works.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import aiohttp
import pytest

from ..support.dists import sha256_of
from ..support.fake_upstream import JSON_TYPE, FakeFile
from .conftest import MAX_PAGE_BYTES, PAGE_FAULTS, PAGE_TIMEOUT, STATS, read_partial

WARM, COLD = "warm-app", "cold-app"
#: What an uncached page answers under each fault.
PAGE_FAULT_STATUS = {
    "refused": 502, "hang": 504, "http-500": 502, "http-503": 502, "http-429": 502,
    "garbage-json": 502, "garbage-html": 502, "type-octet-stream": 502, "type-image-png": 502,
    **{mode: 502 for mode in PAGE_FAULTS},
}
SLOW_FAULTS = {"hang", "stall"}
QUICK = 1.5  # seconds: the bound for failures that need no timeout to be noticed


def bound(fault: str) -> float:
    return PAGE_TIMEOUT + QUICK if fault in SLOW_FAULTS else QUICK


async def timed(coro):
    started = time.monotonic()
    result = await coro
    return result, time.monotonic() - started


async def get(http: aiohttp.ClientSession, url: str, method: str = "GET", **headers: str):
    """(status, headers, body received, connection error or None), reading as far as the server lets us."""
    async with http.request(method, url, headers=headers, allow_redirects=False) as resp:
        body, error = await read_partial(resp)
        return resp.status, resp.headers, body, error


async def inject_page_fault(upstream, fault: str) -> None:
    upstream.faults_apply_to = "pages"
    STATS["faults injected"] += 1
    if fault == "refused":
        await upstream.down()
    elif fault == "hang":
        upstream.delay = 3 * PAGE_TIMEOUT
    elif fault.startswith("http-"):
        upstream.fail_status = int(fault.removeprefix("http-"))
    elif fault == "garbage-json":
        upstream.garbage = True
    elif fault == "garbage-html":
        upstream.garbage = upstream.html_only = True
    elif fault.startswith("type-"):
        upstream.etags = False  # else the mirror's revalidation gets a (correct) 304 and never sees the type
        upstream.page_content_type = {"type-octet-stream": "application/octet-stream",
                                      "type-image-png": "image/png"}[fault]
    else:
        upstream.page_fault = fault


async def clear_faults(upstream) -> None:
    await upstream.up()
    upstream.etags = True
    upstream.delay, upstream.fail_status, upstream.page_fault, upstream.page_content_type = 0, None, None, None
    upstream.garbage = upstream.html_only = upstream.wrong_bytes = upstream.truncate = False
    upstream.reset_mid_file = upstream.extra_bytes = upstream.stall_mid_file = False
    upstream.fault_filter = None
    upstream.lying_metadata.clear()


@pytest.fixture
def wheels(upstream, dists):
    return upstream.add_wheel(WARM, "1.0", dists), upstream.add_wheel(COLD, "1.0", dists)


# --- pages ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", sorted(PAGE_FAULT_STATUS))
async def test_page_faults_stale_when_cached_clean_error_when_not(start_mirror, upstream, wheels, dists, http,
                                                                  fault):
    warm_wheel, cold_wheel = wheels
    warm = await start_mirror("warm", index_ttl=0, project_list_ttl=0)  # every request revalidates
    cold = await start_mirror("cold")
    good_index = (await get(http, warm.index(), Accept=JSON_TYPE))[2]
    good_page = (await get(http, warm.index() + f"{WARM}/", Accept=JSON_TYPE))[2]
    good_html = (await get(http, warm.index() + f"{WARM}/", Accept="text/html"))[2]
    warm_file = f"{warm.base}/all/files/{WARM}/{warm_wheel.filename}"
    assert (await get(http, warm_file))[2] == warm_wheel.content

    await inject_page_fault(upstream, fault)
    # Upstream moved on meanwhile (a new release, a new project): what it sends now is new bytes, so
    # nothing can be confirmed by "same bytes as before".
    upstream.add_wheel(WARM, "2.0", dists)
    upstream.add_wheel("newer-app", "1.0", dists)
    status = PAGE_FAULT_STATUS[fault]
    results = await asyncio.gather(
        timed(get(http, warm.index(), Accept=JSON_TYPE)),
        timed(get(http, warm.index() + f"{WARM}/", Accept=JSON_TYPE)),
        timed(get(http, warm.index() + f"{WARM}/", Accept="text/html")),
        timed(get(http, warm_file)),
        timed(get(http, cold.index(), Accept=JSON_TYPE)),
        timed(get(http, warm.index() + f"{COLD}/", Accept=JSON_TYPE)),
        timed(get(http, f"{cold.base}/all/files/{COLD}/{cold_wheel.filename}")),
    )
    (index, _), (page, _), (html, _), (file, _), (cold_index, _), (cold_page, _), (cold_file, _) = results
    for (got_status, _headers, body, _error), elapsed in results:
        assert got_status < 500 or got_status == status, (got_status, body[:300])
        assert elapsed < bound(fault), f"{elapsed:.2f} s"
        STATS["5xx answers (upstream faults, expected 502/504)"] += got_status >= 500
    for (got_status, headers, body, error), good in ((index, good_index), (page, good_page), (html, good_html)):
        assert (got_status, body, error) == (200, good, None)
        if good is not good_index:
            assert headers["X-Mirror-Stale"] == "1" and "110" in headers["Warning"]
    # The project list is revalidated in the background (nobody waits for it): the answer that started the
    # revalidation is the last good copy; once the revalidation failed, the copy is marked stale.
    for _ in range(50):
        got_status, headers, body, error = await get(http, warm.index(), Accept=JSON_TYPE)
        assert (got_status, body, error) == (200, good_index, None)
        if headers.get("X-Mirror-Stale") == "1":
            break
        await asyncio.sleep(0.1)
    assert headers["X-Mirror-Stale"] == "1" and "110" in headers["Warning"]
    assert file[0] == 200 and file[2] == warm_wheel.content and file[3] is None
    for got_status, headers, body, _error in (cold_index, cold_page, cold_file):
        assert got_status == status, body[:300]
        assert b"upstream" in body and "X-Mirror-Stale" not in headers
        assert headers["Cache-Control"] == "no-store"
    assert cold.cached_files() == [] and cold.temp_files() == []

    # While the outage lasts, the stale page is served without asking upstream again (no timeout to wait).
    (again, elapsed) = await timed(get(http, warm.index() + f"{WARM}/", Accept=JSON_TYPE))
    assert again[0] == 200 and again[1]["X-Mirror-Stale"] == "1" and elapsed < 0.5

    if fault == "huge-chunked":  # the mirror hung up instead of reading 64 MB
        assert max(upstream.streamed.values()) < 16 * 1024 * 1024
    await clear_faults(upstream)
    ok = await get(http, cold.index() + f"{COLD}/", Accept=JSON_TYPE)
    assert ok[0] == 200 and json.loads(ok[2])["name"] == COLD


async def test_page_size_limit_counts_bytes(mirror, upstream, dists, http):
    """A page of 150 files under max_page_bytes is fine; a one-file page over it is refused."""
    for i in range(150):
        upstream.add_file("many", FakeFile(f"many-{i}.0.tar.gz", b"%d" % i))
    resp = await get(http, mirror.index() + "many/", Accept=JSON_TYPE)
    assert resp[0] == 200 and len(json.loads(resp[2])["files"]) == 150
    upstream.add_file("toobig", FakeFile("toobig-1.0.tar.gz", b"x", requires_python="x" * MAX_PAGE_BYTES))
    resp = await get(http, mirror.index() + "toobig/", Accept=JSON_TYPE)
    assert resp[0] == 502 and b"max_page_bytes" in resp[2]


# --- malformed hashes on a page ------------------------------------------------------------------------

BAD_DIGESTS = ["nothex", "../../../../etc/passwd", "abc123", "g" * 64, "0" * 63, "0" * 129]


@pytest.mark.parametrize("digest", BAD_DIGESTS)
async def test_malformed_advertised_hash_is_never_a_500(mirror, upstream, http, digest):
    """A page advertising something that is not a hex digest: the file is unservable (404) or the
    fetch fails (502); it must not crash the handler (500), nor be fetched, nor be cached."""
    STATS["faults injected"] += 1
    f = upstream.add_file("odd-hash", FakeFile("odd_hash-1.0.tar.gz", b"payload " * 100, advertised_sha256=digest))
    assert (await get(http, mirror.index() + "odd-hash/", Accept=JSON_TYPE))[0] == 200
    for method in ("GET", "HEAD"):
        status, _, body, error = await get(http, f"{mirror.base}/all/files/odd-hash/{f.filename}", method)
        STATS["5xx answers (upstream faults, expected 502/504)"] += status >= 500
        if method == "GET" and status == 200:  # streamed, then cut when the digest did not match
            assert error is not None and len(body) < len(f.content)
            record_delivery(body, f.content, error)
        else:
            assert status in (404, 502), (method, status, body[:200])
    assert mirror.cached_files() == []


@pytest.mark.parametrize("digest", BAD_DIGESTS)
async def test_page_never_advertises_a_malformed_hash(mirror, upstream, http, digest):
    """mirror/tiers.py: a page is reduced to files whose bytes the mirror can verify. A "sha256" that is
    not 64 hex digits verifies nothing, and passing it on makes installers fail on the hash."""
    upstream.add_file("odd-hash", FakeFile("odd_hash-1.0.tar.gz", b"payload " * 100, advertised_sha256=digest))
    upstream.add_file("odd-hash", FakeFile("odd_hash-2.0.tar.gz", b"fine"))
    _, _, body, _ = await get(http, mirror.index() + "odd-hash/", Accept=JSON_TYPE)
    files = {f["filename"]: f["hashes"] for f in json.loads(body)["files"]}
    assert files == {"odd_hash-2.0.tar.gz": {"sha256": sha256_of(b"fine")}}


async def test_upper_case_hex_digest_is_verified_case_insensitively(mirror, upstream, http):
    f = upstream.add_file("upper", FakeFile("upper-1.0.tar.gz", b"upper case " * 50))
    f.advertised_sha256 = f.sha256.upper()
    await get(http, mirror.index() + "upper/", Accept=JSON_TYPE)
    status, _, body, error = await get(http, f"{mirror.base}/all/files/upper/{f.filename}")
    assert (status, error) == (200, None) and sha256_of(body) == f.sha256


# --- files ------------------------------------------------------------------------------------------

FILE_FAULTS = ["refused", "hang", "http-500", "http-404", "http-403", "wrong-bytes", "truncated", "reset",
               "stall", "extra-bytes"]


async def inject_file_fault(upstream, fault: str, only=lambda path: path.startswith("/files/")) -> None:
    STATS["faults injected"] += 1
    upstream.fault_filter = only
    if fault == "refused":
        await upstream.down()
    elif fault == "hang":
        upstream.delay = 3 * PAGE_TIMEOUT
    elif fault.startswith("http-"):
        upstream.fail_status = int(fault.removeprefix("http-"))
    else:
        attr = {"wrong-bytes": "wrong_bytes", "truncated": "truncate", "reset": "reset_mid_file",
                "stall": "stall_mid_file", "extra-bytes": "extra_bytes"}[fault]
        setattr(upstream, attr, True)


def record_delivery(body: bytes, full: bytes, error: BaseException | None) -> None:
    STATS["unverified bytes delivered before the cut"] += len(body)
    STATS["unverified complete bodies delivered"] += body == full or (len(body) >= len(full) and error is None)


FILE_CASES = [(fault, method) for fault in FILE_FAULTS for method in ("GET", "HEAD")]
FILE_CASES += [(fault, "Range") for fault in ("hang", "http-500", "wrong-bytes", "truncated", "extra-bytes")]


@pytest.mark.parametrize(("fault", "method"), FILE_CASES)
async def test_file_fault_nothing_unverified_served_or_cached(mirror, upstream, dists, http, fault, method):
    big = bytes(range(256)) * 3000  # 768 KB: several 256 KiB chunks, so GET streams before the end
    f = upstream.add_file("filefault", FakeFile("filefault-1.0.tar.gz", big))
    assert (await get(http, mirror.index() + "filefault/", Accept=JSON_TYPE))[0] == 200  # fresh for 600 s
    url = f"{mirror.base}/all/files/filefault/{f.filename}"
    await inject_file_fault(upstream, fault)
    headers = {"Range": "bytes=0-99"} if method == "Range" else {}
    (status, _, body, error), elapsed = await timed(get(http, url, "HEAD" if method == "HEAD" else "GET", **headers))
    assert elapsed < bound(fault), f"{elapsed:.2f} s"
    STATS["5xx answers (upstream faults, expected 502/504)"] += status >= 500
    if method == "GET" and status == 200:
        # Streaming had begun: the connection must be cut before the last byte.
        assert error is not None and len(body) < len(big), (len(body), error)
        assert big.startswith(body) or fault == "wrong-bytes"
        record_delivery(body, big, error)
    else:
        # Failed before the first byte; HEAD and Range always wait for the complete, verified file.
        assert status == (504 if fault in ("hang", "stall") else 502), (status, body[:300])
    assert not mirror.storage.path_for("sha256", f.sha256).exists()
    assert mirror.cached_files() == [] and mirror.temp_files() == []

    await clear_faults(upstream)
    status, _, body, error = await get(http, url)
    assert (status, error) == (200, None) and hashlib.sha256(body).hexdigest() == f.sha256
    assert mirror.storage.path_for("sha256", f.sha256).is_file()


async def test_many_clients_tailing_a_download_that_fails_verification(mirror, upstream, http):
    big = bytes(range(256)) * 4000
    f = upstream.add_file("tailing", FakeFile("tailing-1.0.tar.gz", big))
    await get(http, mirror.index() + "tailing/", Accept=JSON_TYPE)
    upstream.slow_files[f.filename] = (128 * 1024, 0.05)  # slow enough for every client to join
    await inject_file_fault(upstream, "wrong-bytes")
    upstream.reset_log()
    url = f"{mirror.base}/all/files/tailing/{f.filename}"
    results = await asyncio.gather(*(get(http, url) for _ in range(10)))
    for status, _, body, error in results:
        assert status == 200 and error is not None and len(body) < len(big), (status, len(body), error)
        record_delivery(body, big, error)
    assert upstream.count("/files/", "GET") == 1
    assert mirror.cached_files() == [] and mirror.temp_files() == []


# --- .metadata ----------------------------------------------------------------------------------------

METADATA_FAULTS = ["lying-hash", "wrong-bytes", "truncated", "reset", "http-500", "hang"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("fault", METADATA_FAULTS)
async def test_metadata_fault_nothing_unverified_served_or_cached(start_mirror, upstream, dists, http, fault, method):
    mirror = await start_mirror(index_ttl=0)  # the page is re-read on every request: fixes show at once
    w = upstream.add_wheel("metafault", "1.0", dists)
    assert w.metadata is not None
    url = f"{mirror.base}/all/files/metafault/{w.filename}.metadata"
    if fault == "lying-hash":
        STATS["faults injected"] += 1
        upstream.lying_metadata.add(w.filename)
    else:
        await inject_file_fault(upstream, fault, only=lambda path: path.endswith(".metadata"))
    _, _, page, _ = await get(http, mirror.index() + "metafault/", Accept=JSON_TYPE)
    advertised = json.loads(page)["files"][0]["core-metadata"]["sha256"]
    assert (advertised == sha256_of(w.metadata)) == (fault != "lying-hash")

    (status, _, body, error), elapsed = await timed(get(http, url, method))
    assert elapsed < bound(fault), f"{elapsed:.2f} s"
    STATS["5xx answers (upstream faults, expected 502/504)"] += status >= 500
    if method == "GET" and status == 200:
        assert error is not None and len(body) < len(w.metadata), (len(body), error)
        record_delivery(body, w.metadata, error)
    else:
        assert status == (504 if fault == "hang" else 502), (status, body[:300])
    for digest in {advertised, sha256_of(w.metadata)}:
        assert not mirror.storage.path_for("sha256", digest).exists()
    assert mirror.cached_files() == [] and mirror.temp_files() == []

    await clear_faults(upstream)
    _, _, page, _ = await get(http, mirror.index() + "metafault/", Accept=JSON_TYPE)
    assert json.loads(page)["files"][0]["core-metadata"]["sha256"] == sha256_of(w.metadata)
    status, _, body, error = await get(http, url)
    assert (status, error, body) == (200, None, w.metadata)
    assert [p.name for p in mirror.cached_files()] == [sha256_of(w.metadata)]


@pytest.mark.parametrize("ctype", ["image/png", "application/octet-stream"])
async def test_same_bytes_with_a_wrong_type_do_not_poison_the_stored_page(start_mirror, upstream, wheels, http,
                                                                          ctype):
    """Upstream re-sends the very bytes of a good page under a wrong Content-Type. Serving the known-good
    page is fine; but what is stored must still be a page the mirror can read back after a restart."""
    mirror = await start_mirror(index_ttl=0)
    url = mirror.index() + f"{WARM}/"
    _, _, good, _ = await get(http, url, Accept=JSON_TYPE)
    STATS["faults injected"] += 1
    upstream.etags = False  # no 304: the body comes again
    upstream.faults_apply_to = "pages"
    upstream.page_content_type = ctype
    status, _, body, _ = await get(http, url, Accept=JSON_TYPE)
    assert (status, body) == (200, good)
    await mirror.restart()
    await upstream.down()
    status, headers, body, _ = await get(http, url, Accept=JSON_TYPE)
    assert (status, body) == (200, good), body[:300]
