"""py-spy on the mirror's server processes while a block of the suite runs (``PROFILE=1``, or always for the
cold install's breakdown by part of the mirror)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.context import Context
from bench.procs import tail
from bench.servers import Mirror
from bench.tools import clean_env

_GENERIC_FRAMES = {"_run_module_as_main", "_run_code", "<module>", "main", "cmd_serve", "run_server", "_run",
                   "Runner.run", "BaseEventLoop.run_forever", "BaseEventLoop._run_once", "Handle._run",
                   "Thread._bootstrap", "Thread._bootstrap_inner", "Thread.run", "_worker", "run"}


def ensure_py_spy(ctx: Context) -> str | None:
    """py-spy's path, installing it once into BENCH_TOOLS; None (and a note) when that fails."""
    tools = ctx.settings.tools_home
    exe = tools / "bin" / "py-spy"
    if exe.exists():
        return str(exe)
    found = shutil.which("py-spy")
    if found:
        return str(found)
    ctx.say(f"installing py-spy into {tools} (PROFILE=1)")
    script = f'python3 -m venv "{tools}" && "{tools}/bin/pip" install -q py-spy'
    ran = ctx.procs.run("py-spy.install", ["bash", "-c", script], seconds=ctx.budget.limit(300), env=clean_env())
    if ran.rc != 0 or not exe.exists():
        ctx.note(f"py-spy could not be installed: {tail(ran.err)}")
        return None
    return str(exe)


def _frame(text: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)``."""
    return re.sub(r"\s+\((?:.*/)?([^/()]+?)(?::\d+)?\)$", r" (\1)", text)


def _samples(text: str) -> Iterator[tuple[str, int]]:
    """(collapsed stack, sample count) of each line of py-spy ``--format raw`` output; other lines are skipped."""
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack, int(count)


def summarize_raw(text: str, rate: int, seconds: float, processes: int) -> str:
    """Top frames of py-spy ``--format raw`` output (collapsed stacks), as a Markdown table. Pure."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for stack, c in _samples(text):
        total += c
        frames = [_frame(f) for f in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + c
        for key in set(frames):
            incl[key] = incl.get(key, 0) + c
    if not total:
        return "(no samples)"
    expected = rate * seconds * processes
    lines = [f"{total} samples in {seconds:.1f} s at {rate} Hz in {processes} process(es) (one per thread seen "
             f"busy: {total / expected:.0%} of {expected:.0f}, above 100% when several threads are). Share of those "
             "samples; uvloop is compiled, so time inside the event loop itself (socket reads and writes, polling) is "
             "the own time of `Runner.run`; C calls made in thread-pool threads are the own time of "
             "`_WorkItem.run`, and `_worker` is a pool thread waiting for work or for the GIL:", "",
             "| frame (own time) | share | | frame (inclusive) | share |", "|---|---:|---|---|---:|"]
    top_own = sorted(own.items(), key=lambda kv: kv[1], reverse=True)[:10]
    top_incl = [kv for kv in sorted(incl.items(), key=lambda kv: kv[1], reverse=True)
                if kv[0].split(" (")[0] not in _GENERIC_FRAMES][:10]
    for i in range(max(len(top_own), len(top_incl))):
        a = top_own[i] if i < len(top_own) else ("", 0)
        b = top_incl[i] if i < len(top_incl) else ("", 0)
        lines.append(f"| `{a[0]}` | {a[1] / total:.0%} | | `{b[0]}` | {b[1] / total:.0%} |")
    return "\n".join(lines)


#: The parts of the mirror a sample is charged to: the first whose marker is in the sample's stack.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("database (SQLAlchemy, aiosqlite; first sightings, pages, extracted metadata)",
     ("sqlalchemy", "aiosqlite", "mirror/adapters/db")),
    ("TLS to upstream", ("ssl.py", "sslproto")),
    ("page parse", ("mirror/core/simple/parse",)),
    ("tier decision (servable files, decide_page, evidence)",
     ("mirror/core/tiers", "mirror/core/policy", "mirror/services/evidence", "mirror/core/advisories")),
    ("page render, gzip, ETag", ("mirror/core/simple/render", "mirror/services/prepared.py", "gzip", "zlib")),
    ("files: spool, hash, store, serve from disk",
     ("mirror/adapters/storage", "mirror/adapters/spool", "mirror/services/downloads", "mirror/services/filestore",
      "mirror/web/filesend", "hashlib")),
    ("wheel metadata extraction", ("mirror/services/metadata", "mirror/core/wheels", "zipfile")),
    ("upstream HTTP client (aiohttp)", ("aiohttp/client", "mirror/adapters/upstream")),
    ("HTTP server (aiohttp web: requests, responses)", ("aiohttp/web_", "aiohttp/http_")),
)


def summarize_parts(text: str, rate: int, seconds: float, processes: int) -> str:
    """py-spy ``--format raw`` samples charged to the parts of the mirror (:data:`PARTS`), as a Markdown table.
    Pure."""
    counts: dict[str, int] = {}
    total = 0
    for stack, c in _samples(text):
        total += c
        part = next((label for label, marks in PARTS if any(m in stack for m in marks)),
                    "event loop and the rest (asyncio scheduling, thread hand-offs)")
        counts[part] = counts.get(part, 0) + c
    if not total:
        return "(no samples)"
    lines = [f"{total} samples holding the GIL in {seconds:.1f} s at {rate} Hz in {processes} process(es) (about "
             f"{total / rate:.2f} s of Python work; C code that releases the GIL — sqlite, zlib, TLS, hashing of big "
             "buffers — is not counted). Each sample is charged to the first part whose code is on its stack:", "",
             "| part of the mirror | share | s |", "|---|---:|---:|"]
    for part, n in sorted(counts.items(), key=lambda kv: kv[1], reverse=True):
        lines.append(f"| {part} | {n / total:.0%} | {n / rate:.2f} |")
    return "\n".join(lines)


class Spy:
    """With PROFILE=1: py-spy (raw stacks) on every server process of a mirror while the block runs;
    the summary goes to the results' profiles. Without it (or without py-spy) a no-op."""

    def __init__(self, ctx: Context, mirror: Mirror, title: str, rate: int = 250, *, always: bool = False,
                 gil: bool = False, summary: Callable[[str, int, float, int], str] = summarize_raw) -> None:
        """``always``: also without PROFILE=1; ``gil``: only samples of the thread holding the GIL."""
        self.ctx, self.mirror, self.title, self.rate = ctx, mirror, title, rate
        self.always, self.gil, self.summary = always, gil, summary
        self.recs: list[tuple[Path, subprocess.Popen]] = []
        self.pids: list[int] = []
        self.started = 0.0

    def __enter__(self) -> Spy:
        ctx = self.ctx
        exe = ensure_py_spy(ctx) if ctx.settings.profile or self.always else None
        if exe is None:
            return self
        self.pids = self.mirror.server_pids()
        n = len(ctx.results.profiles)
        ctx.say(f"profile: py-spy on {self.pids} during {self.title}")
        for pid in self.pids:
            out = ctx.tmp / f"profile.{pid}.{n}.raw"
            self.recs.append((out, ctx.procs.spawn(
                f"py-spy.{pid}.{n}", [exe, "record", "--pid", str(pid), "--rate", str(self.rate), "--nonblocking",
                                      *(["--gil"] if self.gil else []), "--format", "raw", "--output", str(out)],
                seconds=ctx.budget.remaining())))
        time.sleep(1.0)  # attached
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.recs:
            return
        ctx = self.ctx
        seconds = time.monotonic() - self.started
        for _out, proc in self.recs:  # py-spy writes its file on Ctrl-C
            try:
                os.killpg(proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        for _out, proc in self.recs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                pass
            ctx.procs.stop_group(proc.pid, 5, ctx.say)
        raw = "".join(out.read_text(errors="replace") for out, _ in self.recs if out.exists())
        if raw:
            ctx.results.profiles.append(
                f"**py-spy, mirror '{self.mirror.label}', {self.title} ({len(self.pids)} server process(es), "
                f"{self.rate} Hz, {seconds:.1f} s):**\n\n" + self.summary(raw, self.rate, seconds, len(self.pids)))
        else:
            ctx.note(f"py-spy recorded nothing during {self.title}")
