"""Processes the suite starts: each in its own process group under ``timeout``, all stopped on exit.

Also the measurements of processes: CPU seconds of a process tree and an RSS sampler thread.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class Fatal(Exception):
    """The run cannot go on (a prerequisite or the main mirror failed); the message says why."""


class Budget:
    """The hard cap of a whole run: every step's time limit is cut to what is left of it."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.deadline = clock() + seconds

    def remaining(self) -> float:
        """Seconds left, never below 5 (a step still gets a chance to stop cleanly)."""
        return max(5.0, self.deadline - self._clock())

    def limit(self, seconds: float) -> float:
        return min(seconds, self.remaining())


@dataclass
class Ran:
    rc: int
    out: str
    err: str
    seconds: float
    pgid: int
    cpu: float = 0.0  # user + system seconds of the command and the descendants it waited for


def slug(label: str) -> str:
    """A file-name-safe form of a label: ``mirror (w1)`` -> ``mirror-w1``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-")


def tail(text: str, n: int = 8) -> str:
    return "\n".join("    | " + line for line in text.strip().splitlines()[-n:])


class Procs:
    """The process groups started by the suite (output in ``logs``), so that all can be stopped."""

    def __init__(self, logs: Path, budget: Budget, verbose: bool = False) -> None:
        self.logs, self.budget, self.verbose = logs, budget, verbose
        self.groups: dict[int, str] = {}  # pgid -> what, for cleanup
        self.leaders: dict[int, subprocess.Popen] = {}  # pgid -> its leader, our child (reaped here)

    def group_alive(self, pgid: int) -> bool:
        leader = self.leaders.get(pgid)
        if leader is not None:
            leader.poll()  # reap: a zombie leader would keep the group "alive" for kill(0)
        try:
            os.killpg(pgid, 0)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    def stop_group(self, pgid: int, grace: float = 10.0, say: Callable[[str], None] | None = None) -> None:
        """SIGTERM the group, SIGKILL it if still alive after ``grace`` seconds."""
        if self.group_alive(pgid):
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            end = time.monotonic() + grace
            while time.monotonic() < end and self.group_alive(pgid):
                time.sleep(0.1)
            if self.group_alive(pgid):
                if say is not None:
                    say(f"process group {pgid} ({self.groups.get(pgid)}) still alive after {grace:.0f}s: SIGKILL")
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                time.sleep(0.2)
                self.group_alive(pgid)
        self.groups.pop(pgid, None)
        self.leaders.pop(pgid, None)

    def stop_all(self) -> None:
        for pgid in list(self.groups):
            self.stop_group(pgid, 5)

    def spawn(self, name: str, argv: list[str], *, seconds: float, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> subprocess.Popen:
        """Start ``argv`` under ``timeout`` in a new process group; its output goes to ``logs/name.log``."""
        with open(self.logs / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(["timeout", "-k", "10", str(int(seconds)), *argv], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
        self.groups[proc.pid] = name
        self.leaders[proc.pid] = proc
        return proc

    def log_text(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def run(self, name: str, argv: list[str], *, seconds: float, env: dict[str, str] | None = None,
            cwd: Path | None = None, keep_group: bool = False) -> Ran:
        """Run to completion (bounded); stdout/stderr in files. ``keep_group``: a server it started lives on."""
        out_path, err_path = self.logs / f"{name}.out", self.logs / f"{name}.err"
        cpu = 0.0
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(["timeout", "-k", "10", str(int(seconds)), *argv], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, env=env, cwd=cwd, start_new_session=True)
            self.groups[proc.pid] = name
            end = time.monotonic() + seconds + 20
            rc = None
            while rc is None:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid == proc.pid:
                    rc = os.waitstatus_to_exitcode(status)
                    cpu = usage.ru_utime + usage.ru_stime
                    proc.returncode = rc  # reaped here: tell Popen
                elif time.monotonic() > end:
                    self.leaders[proc.pid] = proc
                    self.stop_group(proc.pid, 2)
                    rc = 124
                else:
                    time.sleep(0.01)
            elapsed = time.perf_counter() - started
        if not keep_group:
            self.stop_group(proc.pid, 5)  # anything it left behind
        text = out_path.read_text(errors="replace")
        etext = err_path.read_text(errors="replace")
        if self.verbose:
            sys.stderr.write(etext)
        return Ran(rc, text, etext, elapsed, proc.pid, cpu)


def _ps_children(columns: str) -> list[list[int]]:
    out = subprocess.run(["ps", "-e", "-o", columns], capture_output=True, text=True, timeout=10).stdout
    return [list(map(int, line.split())) for line in out.splitlines() if line.strip()]


def tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants (root first)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _ps_children("pid=,ppid="):
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def child_pid(pid: int) -> int:
    """The first child of ``pid`` (the server under ``timeout``), or ``pid``."""
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return int(kids[0]) if kids else pid
    except OSError:
        return pid


def tree_cpu(root: int) -> float:
    """user + system seconds used so far by the processes of a tree (from /proc/<pid>/stat)."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in tree_pids(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


def tree_rss_kb(root: int) -> int | None:
    """The RSS sum of a process tree now, in KiB (None when ``root`` is gone)."""
    rows = _ps_children("pid=,ppid=,rss=")
    rss = {pid: kb for pid, _ppid, kb in rows}
    if root not in rss:
        return None
    return sum(rss.get(pid, 0) for pid in tree_pids(root))


class RssSampler(threading.Thread):
    """Every second: ``ps`` once, then the RSS sum of each tracked process tree."""

    def __init__(self) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.roots: dict[str, int] = {}
        self.samples: dict[str, list[tuple[float, int]]] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def track(self, label: str, pid: int) -> None:
        with self.lock:
            self.roots[label] = pid
            self.samples.setdefault(label, [])

    def untrack(self, label: str) -> None:
        self.sample()  # the last figure before it goes
        with self.lock:
            self.roots.pop(label, None)

    def sample(self) -> None:
        try:
            rows = _ps_children("pid=,ppid=,rss=")
        except (OSError, subprocess.TimeoutExpired, ValueError):
            return
        children: dict[int, list[int]] = {}
        rss: dict[int, int] = {}
        for pid, ppid, kb in rows:
            children.setdefault(ppid, []).append(pid)
            rss[pid] = kb
        now = time.monotonic()
        with self.lock:
            for label, root in self.roots.items():
                if root not in rss:
                    continue
                total, todo = 0, [root]
                while todo:
                    pid = todo.pop()
                    total += rss.get(pid, 0)
                    todo.extend(children.get(pid, []))
                self.samples[label].append((now, total))

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            self.sample()

    def peak_mb(self, label: str) -> float | None:
        s = self.samples.get(label)
        return max(kb for _, kb in s) / 1024 if s else None

    def peaks_mb(self) -> dict[str, float]:
        with self.lock:
            return {label: max(kb for _, kb in s) / 1024 for label, s in self.samples.items() if s}

    def window(self, label: str, t0: float, t1: float) -> list[int]:
        return [kb for t, kb in self.samples.get(label, []) if t0 <= t <= t1]
