"""Issue 9, point 6: downloads are bounded (a total deadline, a size cap) and abandoned downloads cannot starve
page fetches (pages have their own connection pool; a download every client left is cancelled)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from ..support.fake_upstream import JSON_TYPE, FakeFile
from ..support.policies import wait_until
from .conftest import get

CLIENTS = 110
READ_TIMEOUT = 3.0


async def open_and_leave(port: int, path: str, stay: float) -> int:
    """Send a GET, read whatever comes for ``stay`` seconds, then hang up; returns the bytes received."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    got = 0
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(stay):
                while chunk := await reader.read(65536):
                    got += len(chunk)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return got


async def test_abandoned_slow_downloads_do_not_delay_a_cold_page(upstream, start_mirror, http, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="mirror.files")
    for i in range(CLIENTS):
        name = f"slow-{i}.0.tar.gz"
        upstream.add_file("slow", FakeFile(name, bytes([i % 256]) * 64 * 1024))
        upstream.slow_files[name] = (256, 0.1)  # 64 KiB at 2.5 KiB/s: 25 s each, never a read timeout
    upstream.add_wheel("fresh", "1.0", tmp_path / "d")
    mirror = await start_mirror(read_timeout=READ_TIMEOUT, page_timeout=10.0, connect_timeout=2.0)
    status, _, _ = await get(http, f"{mirror.base}/all/simple/slow/", Accept=JSON_TYPE)
    assert status == 200
    await asyncio.gather(*(open_and_leave(mirror.port, f"/all/files/slow/slow-{i}.0.tar.gz", 1.0)
                           for i in range(CLIENTS)))
    # The downloads really hold upstream connections (as many as a connection pool allows per host):
    await wait_until(lambda: upstream.count("/files/") >= 50, "downloads to reach upstream", deadline=10)

    began = time.monotonic()
    status, body, _ = await get(http, f"{mirror.base}/all/simple/fresh/", Accept=JSON_TYPE)
    elapsed = time.monotonic() - began
    assert status == 200 and b"fresh-1.0" in body, body
    assert elapsed < READ_TIMEOUT / 3, f"a cold page took {elapsed:.2f} s behind abandoned downloads"

    # Nobody waits for them any more: they are cancelled (temp files gone, upstream stops sending) ...
    await wait_until(lambda: mirror.temp_files() == [], "abandoned downloads to be cancelled", deadline=20)
    sent = sum(upstream.streamed.values())
    await asyncio.sleep(1.0)
    assert sum(upstream.streamed.values()) - sent < 64 * 1024
    assert any("cancelled abandoned download" in r.getMessage() for r in caplog.records)
    # ... and files are served again at once.
    status, body, error = await get(http, f"{mirror.base}/all/files/fresh/fresh-1.0-py3-none-any.whl")
    assert status == 200 and error is None and body.startswith(b"PK")


async def test_a_download_past_file_timeout_is_cut_and_not_cached(upstream, start_mirror, http, caplog):
    caplog.set_level(logging.INFO, logger="mirror.files")
    f = upstream.add_file("slow", FakeFile("slow-1.0.tar.gz", b"s" * 50_000))
    upstream.slow_files[f.filename] = (1000, 0.1)  # 5 s in all
    mirror = await start_mirror(file_timeout=1.5)
    began = time.monotonic()
    status, body, error = await get(http, f"{mirror.base}/all/files/slow/{f.filename}")
    assert time.monotonic() - began < 4
    assert error is not None and len(body) < len(f.content)  # cut before the end: never taken for the file
    assert mirror.cached_files() == [] and mirror.temp_files() == []
    assert any("file_timeout" in r.getMessage() for r in caplog.records)


async def test_files_larger_than_the_cap_are_refused(upstream, start_mirror, http):
    unsized = upstream.add_file("big", FakeFile("big-1.0.tar.gz", b"b" * 300_000, hide_size=True))
    sized = upstream.add_file("big", FakeFile("big-2.0.tar.gz", b"c" * 300_000))
    mirror = await start_mirror(max_file_bytes=100_000)
    # no size advertised: upstream's answer is capped at max_file_bytes
    status, body, _ = await get(http, f"{mirror.base}/all/files/big/{unsized.filename}")
    assert status == 502 and b"larger than max_file_bytes" in body
    # an advertised size over the cap is refused without downloading anything
    before = upstream.count("/files/")
    status, body, _ = await get(http, f"{mirror.base}/all/files/big/{sized.filename}")
    assert status == 502 and b"larger than max_file_bytes" in body
    assert upstream.count("/files/") == before
    assert mirror.cached_files() == [] and mirror.temp_files() == []
