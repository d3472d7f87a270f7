"""A local fake upstream for the cold-path phases: copies of real project pages and synthetic pages.

    python -m bench.fake_index --shape requests=PAGE.json --shape setuptools=PAGE.json --copies 42
    python -m bench.fake_index --big-files 15000 --small-files 250 --list-size 700000

Each ``--shape NAME=PAGE.json`` is a PEP 691 JSON project page (the suite saves the mirror's own
``all``-tier page of NAME). The fake index (``tests/support/fake_upstream.py``, without ETags, like the
upstream copy this machine reaches) then lists projects ``cold<i>-<NAME>`` for i < copies, each with
the same files, versions, hashes, sizes, upload times, Requires-Python and yanks as NAME, file names
renamed to the copy's name. Every copy is a page no proxy has seen yet: a cold fetch.

Synthetic pages (``bench/synthetic.py``), rendered once at start-up and then served for any name:
``big<i>`` has ``--big-files`` files, ``small<i>`` has ``--small-files``; with ``--list-size N`` the
project list (``/simple/``) names N synthetic projects instead of the fake index's own.

It also holds a small ``six`` 1.16.0 wheel, which the peers' start scripts download as their check.
A second loopback port takes ``POST /touch/<project>``, which adds one file to that project (its page
bytes and serial change, as when upstream publishes a release), and answers ``GET /counts`` with how many
requests each path received (the herd of phase "nodes" counts upstream fetches with it).

With ``--herd N``, projects ``herd<i>`` (i < N) each list one sdist of ``--herd-size`` random bytes (real
content, verified by the mirror), answered after ``--file-delay`` seconds like a distant upstream.

Prints ``FAKE_URL=<simple root> CONTROL=<control root>`` when both listen; runs until SIGTERM/SIGINT.
File contents are empty (but the herd's): the pages are what is measured, no file is downloaded.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import re
import signal
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from bench.synthetic import Template, project_list, project_templates
from tests.support.fake_upstream import FakeFile, FakeUpstream

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class SizedFile(FakeFile):
    """A file advertised with the original's size although its content is empty."""

    real_size: int = 0

    @property
    def size(self) -> int:
        return self.real_size


def _basename(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _rename(filename: str, new_base: str) -> str:
    """``requests-2.32.3.tar.gz`` -> ``cold0_requests-2.32.3.tar.gz`` (the part before ``-<digit>``)."""
    m = re.match(r"(.+?)-(?=\d)", filename)
    return new_base + filename[m.end() - 1:] if m else f"{new_base}-{filename}"


def _upload_time(value: object) -> datetime:
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    return _EPOCH


def load_shape(path: Path) -> list[dict]:
    data = json.loads(path.read_bytes())
    return [f for f in data["files"] if f.get("hashes", {}).get("sha256")]


def populate(up: FakeUpstream, shape: str, files: list[dict], copies: int) -> None:
    for i in range(copies):
        project = f"cold{i}-{shape}"
        base = _basename(project)
        for f in files:
            yanked = f.get("yanked", False)
            up.add_file(project, SizedFile(
                filename=_rename(f["filename"], base), content=b"",
                upload_time=_upload_time(f.get("upload-time")),
                requires_python=f.get("requires-python"),
                yanked=yanked if isinstance(yanked, (bool, str)) else False,
                advertised_sha256=f["hashes"]["sha256"],
                real_size=int(f.get("size") or 0)))


class _BoundedLog(list[tuple[str, str]]):
    """The request log, bounded: the fake index may serve many thousand requests in a run."""

    def append(self, item: tuple[str, str]) -> None:
        if len(self) >= 1000:
            del self[:500]
        super().append(item)


_SYNTHETIC = re.compile(r"(big|small)[0-9]+")


class BenchUpstream(FakeUpstream):
    """The fake index plus synthetic pages served from templates rendered once (see the module docstring)."""

    def __init__(self, *, big_files: int, small_files: int, list_size: int) -> None:
        super().__init__(etags=False)
        self.requests = _BoundedLog()
        self.sizes = {"big": big_files, "small": small_files}
        self.list_size = list_size
        self.templates: dict[str, tuple[Template, Template]] = {}
        self.list_pages: tuple[bytes, bytes] | None = None
        #: path → requests received (unbounded in paths: the phases ask for a bounded set of names)
        self.counts: collections.Counter[str] = collections.Counter()
        self.file_delay = 0.0

    @web.middleware
    async def _middleware(self, request: web.Request, handler):  # noqa: ANN001 - as in the base class
        self.counts[request.path] += 1
        if self.file_delay and request.path.startswith("/files/"):
            await asyncio.sleep(self.file_delay)
        return await super()._middleware(request, handler)

    def prerender(self) -> float:
        """Render the synthetic pages (file URLs need the port: after start). Returns the seconds taken."""
        started = time.perf_counter()
        files_base = f"{self.base}/files/"
        self.templates = {kind: project_templates(n, files_base) for kind, n in self.sizes.items() if n > 0}
        if self.list_size > 0:
            self.list_pages = project_list(self.list_size)
        return time.perf_counter() - started

    async def _project_page(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["project"]
        m = _SYNTHETIC.fullmatch(name)
        if m is None or m.group(1) not in self.templates:
            return await super()._project_page(request)
        as_json = self._negotiate_json(request)
        html_page, json_page = self.templates[m.group(1)]
        return self._page(request, (json_page if as_json else html_page).render(name), as_json, 1)

    async def _root_page(self, request: web.Request) -> web.StreamResponse:
        if self.list_pages is None:
            return await super()._root_page(request)
        as_json = self._negotiate_json(request)
        return self._page(request, self.list_pages[1 if as_json else 0], as_json, 1)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", action="append", default=[], metavar="NAME=PAGE.json")
    ap.add_argument("--copies", type=int, default=42)
    ap.add_argument("--big-files", type=int, default=15000, help="files of each synthetic big<i> page (0: none)")
    ap.add_argument("--small-files", type=int, default=250, help="files of each synthetic small<i> page (0: none)")
    ap.add_argument("--list-size", type=int, default=0, help="names in a synthetic project list (0: the fake's own)")
    ap.add_argument("--herd", type=int, default=0, help="projects herd<i> with one sdist of real bytes each")
    ap.add_argument("--herd-size", type=int, default=8 * 1024 * 1024, help="bytes of each herd<i> sdist")
    ap.add_argument("--file-delay", type=float, default=0.0, help="seconds before answering a file request")
    ap.add_argument("--html-only", action="store_true", help="answer HTML whatever the Accept header says")
    args = ap.parse_args()

    up = BenchUpstream(big_files=args.big_files, small_files=args.small_files, list_size=args.list_size)
    up.file_delay = args.file_delay
    up.html_only = args.html_only
    for i in range(args.herd):
        up.add_file(f"herd{i}", FakeFile(f"herd{i}-1.0.tar.gz", random.Random(i).randbytes(args.herd_size)))
    for item in args.shape:
        name, _, path = item.partition("=")
        populate(up, name, load_shape(Path(path)), args.copies)
    with tempfile.TemporaryDirectory() as tmp:  # what bench/peers/start_proxpi.sh downloads to check
        up.add_wheel("six", "1.16.0", Path(tmp))

    touched = 0

    async def touch(request: web.Request) -> web.Response:
        nonlocal touched
        project = request.match_info["project"]
        touched += 1
        up.add_file(project, SizedFile(filename=f"{_basename(project)}-9999.{touched}.tar.gz", content=b"",
                                       advertised_sha256=f"{touched:064x}", real_size=1))
        return web.json_response({"project": project, "serial": up.project_serial(project)})

    async def counts(request: web.Request) -> web.Response:
        return web.json_response(dict(up.counts))

    control = web.Application()
    control.router.add_post("/touch/{project}", touch)
    control.router.add_get("/counts", counts)
    runner = web.AppRunner(control, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    control_port = runner.addresses[0][1]

    await up.start()
    seconds = up.prerender()
    print(f"synthetic pages rendered in {seconds:.2f}s", flush=True)
    print(f"FAKE_URL={up.url} CONTROL=http://127.0.0.1:{control_port}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await up.stop()
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
