"""A local fake upstream for the cold-page benchmark: copies of real project pages on 127.0.0.1.

    python bench/fake_index.py --shape requests=PAGE.json --shape setuptools=PAGE.json --copies 42

Each ``--shape NAME=PAGE.json`` is a PEP 691 JSON project page (the suite saves the mirror's own
``all``-tier page of NAME). The fake index (``tests/support/fake_upstream.py``, without ETags, like the
upstream copy this machine reaches) then lists projects ``cold<i>-<NAME>`` for i < copies, each with
the same files, versions, hashes, sizes, upload times, Requires-Python and yanks as NAME, file names
renamed to the copy's name. Every copy is a page no proxy has seen yet: a cold fetch.

It also holds a small ``six`` 1.16.0 wheel, which the peers' start scripts download as their check.
A second loopback port takes ``POST /touch/<project>``, which adds one file to that project (its page
bytes and serial change, as when upstream publishes a release).

Prints ``FAKE_URL=<simple root> CONTROL=<control root>`` when both listen; runs until SIGTERM/SIGINT.
File contents are empty: the pages are what is measured, no file is downloaded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo: tests.support

from aiohttp import web  # noqa: E402

from tests.support.fake_upstream import FakeFile, FakeUpstream  # noqa: E402

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class SizedFile(FakeFile):
    """A file advertised with the original's size although its content is empty."""

    real_size: int = 0

    @property
    def size(self) -> int:  # type: ignore[override]
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


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", action="append", required=True, metavar="NAME=PAGE.json")
    ap.add_argument("--copies", type=int, default=42)
    args = ap.parse_args()

    up = FakeUpstream(etags=False)
    for item in args.shape:
        name, _, path = item.partition("=")
        populate(up, name, load_shape(Path(path)), args.copies)
    with tempfile.TemporaryDirectory() as tmp:  # what shared/peers/start_proxpi.sh downloads to check
        up.add_wheel("six", "1.16.0", Path(tmp))

    touched = 0

    async def touch(request: web.Request) -> web.Response:
        nonlocal touched
        project = request.match_info["project"]
        touched += 1
        up.add_file(project, SizedFile(filename=f"{_basename(project)}-9999.{touched}.tar.gz", content=b"",
                                       advertised_sha256=f"{touched:064x}", real_size=1))
        return web.json_response({"project": project, "serial": up.project_serial(project)})

    control = web.Application()
    control.router.add_post("/touch/{project}", touch)
    runner = web.AppRunner(control, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    control_port = runner.addresses[0][1]

    await up.start()
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
