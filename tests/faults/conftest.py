"""Shared pieces of the fault suite: a fake upstream with more fault switches, a mirror with short
timeouts, a raw HTTP client that sends request targets byte for byte, and the suite's tallies.

Everything runs on 127.0.0.1. The tallies (faults injected, requests fuzzed, 5xx answers, bytes of
unverified files a client received before its connection was cut) are printed at the end of the run.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gzip
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from mirror.adapters.storage import LocalFileStore
from mirror.config import Config
from mirror.web import create_app
from mirror.web.state import SERVICES

from ..support.dists import sha256_of
from ..support.fake_upstream import _FLIP, JSON_TYPE, FakeFile, FakeUpstream
from ..support.mirror_server import make_config

#: Tallies reported at the end of the run (see ``pytest_terminal_summary``).
STATS: collections.Counter[str] = collections.Counter()

#: A small page limit so that "absurdly large" pages are cheap to produce.
MAX_PAGE_BYTES = 100_000
CONNECT_TIMEOUT, READ_TIMEOUT, PAGE_TIMEOUT = 1.0, 0.5, 1.0

#: Modes of ``FaultyUpstream.page_fault`` (applied to /simple... requests selected by the fault filter).
PAGE_FAULTS = (
    "huge",             # a valid-looking HTML page ten times max_page_bytes, with Content-Length
    "huge-chunked",     # an endless chunked HTML body (no Content-Length)
    "gzip-bomb",        # 16 KB on the wire, 16 MB once decompressed
    "truncated",        # the real page's Content-Length, half its body, then FIN
    "empty",            # 200, JSON content type, no body
    "wrong-schema",     # valid JSON, not a Simple API page
    "api-v2",           # a well-formed page of an unsupported major API version
    "redirect-loop",    # 302 to itself, forever
    "offsite-redirect", # 302 to another origin
)


@lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    return gzip.compress(b"<!DOCTYPE html><html><body><!--" + b" " * (16 * 1024 * 1024) + b"--></body></html>",
                         compresslevel=9, mtime=0)


class FaultyUpstream(FakeUpstream):
    """:class:`FakeUpstream` plus page faults, content-type lies, lying metadata hashes and slow files."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)
        self.page_fault: str | None = None
        self.page_content_type: str | None = None  # e.g. "image/png": pages keep their bytes, change type
        self.extra_bytes = False        # files: 1 KiB more than advertised (Content-Length says so)
        self.stall_mid_file = False     # files: half the body, then silence
        #: filenames whose PEP 658 hash is advertised wrong (the .metadata bytes are the real ones)
        self.lying_metadata: set[str] = set()
        #: filename -> (chunk size, seconds between chunks): served slowly, always completely if read
        self.slow_files: dict[str, tuple[int, float]] = {}
        self.streamed: collections.Counter[str] = collections.Counter()  # path -> bytes written
        self.faulty_answers = 0  # responses that carried an injected fault

    # -- pages ---------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        # The base class's middleware, plus the page faults; its delay is interruptible so that stop()
        # does not wait for a "hanging" answer nobody is listening to any more.
        self.requests.append((request.method, request.path))
        faulty = self._faulty(request.path)
        page = request.path.startswith("/simple")
        if faulty and (self.delay > 0 or self.fail_status is not None or self.garbage or self.wrong_bytes
                       or self.truncate or self.reset_mid_file
                       or (page and (self.page_fault or self.page_content_type))):
            self.faulty_answers += 1
        if faulty:
            if self.delay > 0:
                await self.pause(self.delay)
            if self.fail_status is not None:
                return web.Response(status=self.fail_status, text=f"injected {self.fail_status}")
            if page and self.page_fault is not None:
                return await self._page_fault(request, handler)
            if page and self.page_content_type is not None:
                resp = await handler(request)
                if resp.status == 200:
                    resp.headers["Content-Type"] = self.page_content_type
                return resp
        return await handler(request)

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the fake is being stopped."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        await super().start()

    async def stop(self) -> None:
        if hasattr(self, "_stopping"):
            self._stopping.set()
        await super().stop()

    async def _page_fault(self, request: web.Request, handler) -> web.StreamResponse:
        mode = self.page_fault
        if mode == "huge":
            body = b"<!DOCTYPE html><html><body><!--" + b"x" * (10 * MAX_PAGE_BYTES) + b"--></body></html>"
            return web.Response(body=body, content_type="text/html")
        if mode == "huge-chunked":
            resp = web.StreamResponse(headers={"Content-Type": "text/html"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            chunk = b"<!--" + b"x" * (64 * 1024) + b"-->"
            try:
                for _ in range(1024):  # at most 64 MB; the mirror should hang up long before
                    await resp.write(chunk)
                    self.streamed[request.path] += len(chunk)
            except (ConnectionError, RuntimeError):
                return resp
            return resp
        if mode == "gzip-bomb":
            return web.Response(body=gzip_bomb(), headers={"Content-Type": "text/html",
                                                           "Content-Encoding": "gzip"})
        if mode == "truncated":
            real = await handler(request)
            assert isinstance(real, web.Response) and real.body is not None
            data = bytes(real.body)
            resp = web.StreamResponse(headers={"Content-Type": real.headers.get("Content-Type", "text/html")})
            resp.content_length = len(data)
            await resp.prepare(request)
            await resp.write(data[: len(data) // 2])
            assert request.transport is not None
            request.transport.close()
            return resp
        if mode == "empty":
            return web.Response(body=b"", headers={"Content-Type": JSON_TYPE})
        if mode == "wrong-schema":
            body = json.dumps({"meta": {"api-version": "1.1"}, "name": "x", "files": "not a list",
                               "projects": 42}).encode()
            return web.Response(body=body, headers={"Content-Type": JSON_TYPE})
        if mode == "api-v2":
            body = json.dumps({"meta": {"api-version": "2.0"}, "name": "x", "files": [], "projects": []}).encode()
            return web.Response(body=body, headers={"Content-Type": "application/vnd.pypi.simple.v2+json"})
        if mode == "redirect-loop":
            raise web.HTTPFound(request.path)
        if mode == "offsite-redirect":
            raise web.HTTPFound("http://127.0.0.2:9" + request.path)
        raise AssertionError(f"unknown page fault {mode!r}")

    def _lie(self, body: bytes, files: list[FakeFile]) -> bytes:
        for f in files:
            if f.filename in self.lying_metadata and f.metadata is not None:
                real = sha256_of(f.metadata)
                body = body.replace(real.encode(), sha256_of(f.metadata + b" tampered").encode())
        return body

    def _project_json(self, key, proj, files) -> bytes:  # noqa: ANN001 - as in the base class
        return self._lie(super()._project_json(key, proj, files), files)

    def _project_html(self, key, proj, files) -> bytes:  # noqa: ANN001
        return self._lie(super()._project_html(key, proj, files), files)

    # -- files ---------------------------------------------------------------------------------------

    async def _send_bytes(self, request: web.Request, data: bytes, ctype: str) -> web.StreamResponse:
        faulty = self._faulty(request.path)
        name = request.path.rsplit("/", 1)[-1]
        if faulty and self.extra_bytes:
            self.faulty_answers += 1
            data = data + b"\0" * 1024
        if request.method == "GET" and faulty and self.stall_mid_file:
            self.faulty_answers += 1
            return await self._stream(request, data, ctype, chunk=len(data) // 2 or 1, pause=0, stop_after=1)
        if request.method == "GET" and name in self.slow_files:
            chunk, pause = self.slow_files[name]
            if faulty and self.wrong_bytes:
                data = data.translate(_FLIP)
            return await self._stream(request, data, ctype, chunk=chunk, pause=pause)
        return await super()._send_bytes(request, data, ctype)

    async def _stream(self, request: web.Request, data: bytes, ctype: str, *, chunk: int, pause: float,
                      stop_after: int | None = None) -> web.StreamResponse:
        """Full Content-Length, ``chunk`` bytes every ``pause`` s; after ``stop_after`` chunks, silence."""
        resp = web.StreamResponse(headers={"Content-Type": ctype})
        resp.content_length = len(data)
        await resp.prepare(request)
        try:
            for i, start in enumerate(range(0, len(data), chunk)):
                if stop_after is not None and i >= stop_after:
                    await self.pause(30)  # bounded; the mirror's read timeout is far shorter
                    return resp
                await resp.write(data[start:start + chunk])
                self.streamed[request.path] += len(data[start:start + chunk])
                if pause:
                    await asyncio.sleep(pause)
            await resp.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the mirror went away (killed, or gave up): nothing more to send
        return resp


def fast_config(root: Path, upstream_url: str, **upstream: object) -> Config:
    """make_config with second-scale timeouts and a small page limit; ``upstream`` overrides."""
    values: dict[str, object] = dict(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                                     page_timeout=PAGE_TIMEOUT, max_page_bytes=MAX_PAGE_BYTES)
    values.update(upstream)
    root.mkdir(parents=True, exist_ok=True)
    return make_config(root, upstream_url, **values)


class QuickServer:
    """The real application on 127.0.0.1 behind a plain AppRunner (as ``mirror serve`` runs it, but
    with a 1024 backlog and a short shutdown timeout so a stuck handler cannot stall teardown)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> QuickServer:
        self._runner = web.AppRunner(create_app(self.config), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024)  # restart: same port
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    @property
    def app(self) -> web.Application:
        assert self._runner is not None
        return self._runner.app

    @property
    def storage(self) -> LocalFileStore:
        return self.app[SERVICES].storage

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def index(self, tier: str = "all") -> str:
        return f"{self.base}/{tier}/simple/"

    def cached_files(self) -> list[Path]:
        return [p for p in self.config.storage.path.joinpath("files").rglob("*") if p.is_file()]

    def temp_files(self) -> list[Path]:
        tmp = self.config.storage.path / "tmp"
        return list(tmp.iterdir()) if tmp.is_dir() else []


@pytest.fixture
async def upstream() -> AsyncIterator[FaultyUpstream]:
    fake = FaultyUpstream()
    await fake.start()
    yield fake
    await fake.stop()
    STATS["upstream answers that carried a fault"] += fake.faulty_answers


@pytest.fixture
async def start_mirror(tmp_path: Path, upstream: FaultyUpstream):
    """``await start_mirror(name="m", **upstream_overrides)`` → a started QuickServer, stopped at teardown."""
    servers: list[QuickServer] = []

    async def start(name: str = "mirror", **overrides: object) -> QuickServer:
        server = QuickServer(fast_config(tmp_path / name, upstream.url, **overrides))
        servers.append(await server.start())
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def mirror(start_mirror) -> QuickServer:
    return await start_mirror()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


# -- raw HTTP ------------------------------------------------------------------------------------------

@dataclass
class RawResponse:
    status: int  # 0: the connection closed without a status line
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    reset: bool = False  # the connection was cut before the server closed it normally
    raw: bytes = b""


def _dechunk(data: bytes) -> bytes:
    out, rest = [], data
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            return data
        if size == 0:
            break
        out.append(rest[:size])
        rest = rest[size + 2:]
    return b"".join(out)


async def raw_request(port: int, method: str, target: str | bytes, headers: list[tuple[str, str]] = (),
                      body: bytes = b"", timeout: float = 15.0) -> RawResponse:
    """Send one HTTP/1.1 request with ``target`` exactly as given (no normalization, no quoting)."""
    target_bytes = target if isinstance(target, bytes) else target.encode("utf-8", "surrogatepass")
    head = [f"{method} ".encode() + target_bytes + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    head += [name.encode() + b": " + value.encode("utf-8", "surrogatepass") for name, value in headers]
    if body or method in ("POST", "PUT", "PATCH"):
        head.append(f"Content-Length: {len(body)}".encode())
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    chunks: list[bytes] = []
    reset = False
    try:
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        async with asyncio.timeout(timeout):
            while True:
                try:
                    chunk = await reader.read(65536)
                except ConnectionError:
                    reset = True
                    break
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    data = b"".join(chunks)
    head_bytes, _, payload = data.partition(b"\r\n\r\n")
    lines = head_bytes.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return RawResponse(0, reset=reset, raw=data)
    hdrs: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        hdrs[name.strip().lower()] = value.strip()
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        payload = _dechunk(payload)
    return RawResponse(status, hdrs, payload, reset, data)


async def read_partial(resp: aiohttp.ClientResponse) -> tuple[bytes, BaseException | None]:
    """Read a body until it ends or the connection fails: (bytes received, the error or None)."""
    got = bytearray()
    try:
        async for chunk in resp.content.iter_any():
            got += chunk
    except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
        return bytes(got), exc
    return bytes(got), None


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 - pytest hook
    if STATS:
        terminalreporter.write_sep("-", "fault suite tallies")
        for key in sorted(STATS):
            terminalreporter.write_line(f"{key}: {STATS[key]}")


# -- the real server as a subprocess -------------------------------------------------------------------

def write_config(path: Path, upstream_url: str, *, storage: str = "cache", **upstream: object) -> Path:
    """A config.toml for ``mirror serve``: 127.0.0.1, any free port, the given upstream settings."""
    values = {"url": upstream_url, "connect_timeout": 2, "read_timeout": 5, "page_timeout": 5, **upstream}
    lines = ["[server]", 'host = "127.0.0.1"', "port = 0", 'log_level = "info"', "", "[upstream]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    lines += ["", "[storage]", f"path = {json.dumps(storage)}", "", "[policies]", 'path = "policies"', ""]
    path.write_text("\n".join(lines))
    return path


class MirrorProcess:
    """``python -m mirror serve --config PATH`` in a subprocess; stderr goes to ``log``."""

    def __init__(self, config: Path, log: Path, preexec_fn: Callable[[], None] | None = None) -> None:
        self.config, self.log, self.preexec_fn = config, log, preexec_fn
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def index(self, tier: str = "all") -> str:
        return f"{self.base}/{tier}/simple/"

    async def start(self, timeout: float = 30.0) -> MirrorProcess:
        import sys

        env = dict(os.environ, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
                   PYTHONUNBUFFERED="1")
        with open(self.log, "ab") as log:  # noqa: ASYNC230 - opening a local log file does not wait
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "mirror", "serve", "--config", str(self.config),
                stdout=asyncio.subprocess.PIPE, stderr=log, cwd=self.config.parent, env=env,
                preexec_fn=self.preexec_fn)
        assert self.proc.stdout is not None
        try:
            return await self._wait_started(timeout)
        except BaseException:  # never leave a server running behind a failed start (a timeout, a cancel)
            await self.kill()
            raise

    async def _wait_started(self, timeout: float) -> MirrorProcess:
        import re

        assert self.proc is not None and self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    raise AssertionError(f"mirror serve exited ({await self.proc.wait()}):\n"
                                         + self.log.read_text(errors="replace")[-3000:])
                found = re.search(rb"listening on http://[^\s:]+:(\d+)", line)
                if found:
                    self.port = int(found.group(1))
                    break
            async with aiohttp.ClientSession() as session:
                while True:
                    try:
                        async with session.get(self.base + "/healthz") as resp:
                            if resp.status == 200:
                                return self
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.05)

    async def kill(self) -> int:
        """SIGKILL and reap."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        code = await self.proc.wait()
        await self._drain()
        return code

    async def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.proc.stdout.read(), 5)

    async def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` s."""
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            await self.kill()
        await self._drain()
