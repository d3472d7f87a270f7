"""The benchmark suite: this mirror against proxpi, devpi-server and nginx, in one run, on one machine.

Run it with ``bench/run.sh`` (see bench/README.md for every knob). Phases:

1. warm project page, HTML and PEP 691 JSON, small and big project, each tier, workers = 1 and 2;
   proxpi, devpi and nginx (static copy of the mirror's page) on the same pages (wrk via
   ``shared/peers/bench_simple.sh``); prepare time of each page (``Server-Timing``) and a check that
   pages are served from prepared bytes until the policy (here) or the upstream page (phase 2) changes;
2. cold project page (first fetch through the mirror) against a local fake upstream
   (``bench/fake_index.py``), next to fetching the same page from it directly, and through proxpi;
3. a cached ~18 MB wheel: single downloads (``shared/peers/bench_wheel.sh``) and 50 concurrent ones,
   mirror vs nginx serving the same file vs proxpi and devpi;
4. ``pip install`` and ``uv pip install`` of ``bench/install-set.txt`` directly from the upstream index,
   and through a fresh mirror (cold cache) and again (warm cache);
5. peak RSS of every server during the run (``ps`` every second, all processes of a server),
   start-up time (exec to the first 200 on the health URL), and an RSS soak under sustained load.

Every server listens on 127.0.0.1; all load goes to loopback. Every step runs under a time limit in
its own process group, and everything started is stopped on exit (end, error, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

JSON_ACCEPT = "application/vnd.pypi.simple.v1+json"
HTML_ACCEPT = "text/html"
TIERS_ALL = ("all", "reviewed", "vetted")


# ------------------------------------------------------------------------------------------ settings
def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _flag(name: str, default: bool) -> bool:
    return _env(name, "1" if default else "0") not in ("0", "no", "false", "")


def _seconds(text: str) -> int:
    m = re.fullmatch(r"(\d+)([smh]?)", text.strip())
    if not m:
        raise SystemExit(f"[bench] ERROR: '{text}' is not a duration like 5s, 10s or 1m")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


@dataclass
class Settings:
    projects: list[str] = field(default_factory=lambda: _env("PROJECTS", "requests setuptools").replace(",", " ").split())
    tiers: list[str] = field(default_factory=lambda: _env("TIERS", "all reviewed vetted").replace(",", " ").split())
    workers: list[int] = field(default_factory=lambda: [int(w) for w in _env("WORKERS", "1 2").replace(",", " ").split()])
    # tiers measured with the 2nd and later worker counts (the first gets TIERS)
    more_workers_tiers: list[str] = field(default_factory=lambda: _env("MORE_WORKERS_TIERS", "all").replace(",", " ").split())
    duration: str = _env("DURATION", "5s")
    conns: str = _env("CONNS", "32")
    threads: str = _env("THREADS", "2")
    with_proxpi: bool = _flag("WITH_PROXPI", True)
    with_devpi: bool = _flag("WITH_DEVPI", True)
    with_nginx: bool = _flag("WITH_NGINX", shutil.which("nginx") is not None)
    with_cold: bool = _flag("WITH_COLD", True)
    with_wheel: bool = _flag("WITH_WHEEL", True)
    with_install: bool = _flag("WITH_INSTALL", True)
    with_soak: bool = _flag("WITH_SOAK", True)
    profile: bool = _flag("PROFILE", False)
    soak: int = int(_env("SOAK", "60"))
    cold_n: int = int(_env("COLD_N", "10"))
    wheel_project: str = _env("WHEEL_PROJECT", "numpy")
    wheel_file: str = _env("WHEEL_FILE", "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    wheel_n: int = int(_env("WHEEL_N", "7"))
    concurrent: int = int(_env("CONCURRENT", "50"))
    concurrent_rounds: int = int(_env("CONCURRENT_ROUNDS", "3"))
    install_set: Path = Path(_env("INSTALL_SET", str(HERE / "install-set.txt")))
    install_workers: int = int(_env("INSTALL_WORKERS", "1"))
    install_timeout: int = int(_env("INSTALL_TIMEOUT", "240"))
    record: bool = _flag("RECORD", False)
    results_file: Path = Path(_env("RESULTS_FILE", str(HERE / "RESULTS.md")))
    keep_tmp: bool = _flag("KEEP_TMP", False)
    verbose: bool = _flag("VERBOSE", False)
    shared: Path = Path(_env("SHARED", str(REPO.parent / "shared")))
    peers_home: Path = Path(_env("PEERS_HOME", str(Path.home() / ".cache" / "mirror-peers")))
    tools_home: Path = Path(_env("BENCH_TOOLS", str(Path.home() / ".cache" / "mirror-bench-tools")))
    upstream: str = _env("UPSTREAM", "pypi")  # the mirror's keyword for the public index
    mirror_port: int = int(_env("MIRROR_PORT", "8090"))
    proxpi_port: int = int(_env("PROXPI_PORT", "5000"))
    devpi_port: int = int(_env("DEVPI_PORT", "3141"))
    nginx_port: int = int(_env("NGINX_PORT", "8081"))
    log_level: str = os.environ.get("MIRROR_LOG_LEVEL", "warning")
    start_timeout: int = int(_env("MIRROR_START_TIMEOUT", "60"))
    peer_start_timeout: int = int(_env("PEER_START_TIMEOUT", "300"))
    max_runtime: int = int(_env("MAX_RUNTIME", "1500"))

    @property
    def peers(self) -> Path:
        return self.shared / "peers"

    @property
    def dur_s(self) -> int:
        return _seconds(self.duration)


S = Settings()
PYTHON = os.environ.get("PYTHON") or sys.executable


# ------------------------------------------------------------------------------------------ helpers
def say(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


NOTES: list[str] = []


def note(msg: str) -> None:
    NOTES.append(msg)
    say(msg)


class Fatal(Exception):
    pass


def die(msg: str) -> None:
    raise Fatal(msg)


DEADLINE = time.monotonic() + S.max_runtime


def remaining() -> float:
    return max(5.0, DEADLINE - time.monotonic())


def limit(seconds: float) -> float:
    return min(seconds, remaining())


def loopback(url: str) -> str:
    host = urllib.parse.urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError(f"refusing non-loopback URL {url}")
    return url


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 30.0
             ) -> tuple[int, dict[str, str], bytes, float]:
    """GET on loopback: status, lower-cased headers, body, seconds."""
    u = urllib.parse.urlsplit(loopback(url))
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    started = time.perf_counter()
    try:
        conn.request("GET", u.path + (f"?{u.query}" if u.query else ""), headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body, time.perf_counter() - started
    finally:
        conn.close()


def prepare_ms(headers: dict[str, str]) -> float | None:
    m = re.search(r"prepare;dur=([0-9.]+)", headers.get("server-timing", ""))
    return float(m.group(1)) if m else None


def port_free(port: int) -> bool:
    import socket
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) != 0


def free_port(start: int, taken: set[int] = set()) -> int:  # noqa: B006 - shared on purpose
    for p in range(start, start + 200):
        if p not in taken and port_free(p):
            taken.add(p)
            return p
    die(f"no free port near {start}")
    raise AssertionError


def fmt_num(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "-"
    if digits == 0 and abs(v) < 10:
        digits = 1
    return f"{v:,.{digits}f}"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0 or a <= 0:
        return None
    return a / b


def fmt_ratio(r: float | None) -> str:
    return "-" if r is None else (f"{r:.2f}" if r < 10 else f"{r:.1f}")


def kv(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in line.split() if "=" in part)


def num(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "", "n/a") else None
    except ValueError:
        return None


# ------------------------------------------------------------------------- processes we started
GROUPS: dict[int, str] = {}  # pgid -> what, for cleanup
LEADERS: dict[int, subprocess.Popen] = {}  # pgid -> its leader, our child (reaped here, or it stays a zombie)
TMP = Path(tempfile.mkdtemp(prefix="mirror-bench."))
TMP.chmod(0o755)
LOGS = TMP / "logs"
LOGS.mkdir()


def group_alive(pgid: int) -> bool:
    leader = LEADERS.get(pgid)
    if leader is not None:
        leader.poll()  # reap: a zombie leader would keep the group "alive" for kill(0)
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def stop_group(pgid: int, grace: float = 10.0) -> None:
    if not group_alive(pgid):
        GROUPS.pop(pgid, None)
        LEADERS.pop(pgid, None)
        return
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    end = time.monotonic() + grace
    while time.monotonic() < end and group_alive(pgid):
        time.sleep(0.1)
    if group_alive(pgid):
        say(f"process group {pgid} ({GROUPS.get(pgid)}) still alive after {grace:.0f}s: SIGKILL")
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        time.sleep(0.2)
        group_alive(pgid)
    GROUPS.pop(pgid, None)
    LEADERS.pop(pgid, None)


def spawn(name: str, argv: list[str], *, seconds: float, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen:
    """Start ``argv`` under ``timeout`` in a new process group; output to LOGS/name.log."""
    log = open(LOGS / f"{name}.log", "wb")
    proc = subprocess.Popen(["timeout", "-k", "10", str(int(seconds)), *argv], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
    log.close()
    GROUPS[proc.pid] = name
    LEADERS[proc.pid] = proc
    return proc


@dataclass
class Ran:
    rc: int
    out: str
    err: str
    seconds: float
    pgid: int
    cpu: float = 0.0  # user + system seconds of the command and the descendants it waited for


def run(name: str, argv: list[str], *, seconds: float, env: dict[str, str] | None = None,
        cwd: Path | None = None, keep_group: bool = False) -> Ran:
    """Run to completion (bounded); stdout/stderr in files. ``keep_group``: a server it started lives on."""
    out_path, err_path = LOGS / f"{name}.out", LOGS / f"{name}.err"
    cpu = 0.0
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(["timeout", "-k", "10", str(int(seconds)), *argv], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, env=env, cwd=cwd, start_new_session=True)
        GROUPS[proc.pid] = name
        end = time.monotonic() + seconds + 20
        rc = None
        while rc is None:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                rc = os.waitstatus_to_exitcode(status)
                cpu = usage.ru_utime + usage.ru_stime
                proc.returncode = rc  # reaped here: tell Popen
            elif time.monotonic() > end:
                LEADERS[proc.pid] = proc
                stop_group(proc.pid, 2)
                rc = 124
            else:
                time.sleep(0.01)
        elapsed = time.perf_counter() - started
    if not keep_group:
        stop_group(proc.pid, 5)  # anything it left behind
    text = out_path.read_text(errors="replace")
    etext = err_path.read_text(errors="replace")
    if S.verbose:
        sys.stderr.write(etext)
    return Ran(rc, text, etext, elapsed, proc.pid, cpu)


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


def tail(text: str, n: int = 8) -> str:
    return "\n".join("    | " + line for line in text.strip().splitlines()[-n:])


# ------------------------------------------------------------------------------------ RSS sampler
class RssSampler(threading.Thread):
    """Every second: ``ps`` once, then the RSS sum of each tracked process tree."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.roots: dict[str, int] = {}
        self.samples: dict[str, list[tuple[float, int]]] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def track(self, label: str, pid: int) -> None:
        with self.lock:
            self.roots[label] = pid
            self.samples.setdefault(label, [])

    def untrack(self, label: str) -> None:
        with self.lock:
            self.roots.pop(label, None)

    def sample(self) -> None:
        try:
            out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,rss="], capture_output=True, text=True,
                                 timeout=5).stdout
        except (OSError, subprocess.TimeoutExpired):
            return
        children: dict[int, list[int]] = {}
        rss: dict[int, int] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3:
                pid, ppid, kb = map(int, parts)
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

    def window(self, label: str, t0: float, t1: float) -> list[int]:
        return [kb for t, kb in self.samples.get(label, []) if t0 <= t <= t1]


RSS = RssSampler()


def child_pid(pid: int) -> int:
    """The first child of ``pid`` (the server under ``timeout``), or ``pid``."""
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return int(kids[0]) if kids else pid
    except OSError:
        return pid


def tree_pids(root: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        a, b = map(int, line.split())
        children.setdefault(b, []).append(a)
    found, todo = [], [root]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


STARTUP: dict[str, float] = {}


# ------------------------------------------------------------------------------------------ mirror
class Mirror:
    def __init__(self, label: str, *, workers: int, upstream: str, storage: Path, policies: Path,
                 index_ttl: int | None = None) -> None:
        self.label, self.workers, self.upstream = label, workers, upstream
        self.storage, self.policies, self.index_ttl = storage, policies, index_ttl
        self.dir = TMP / label.replace(" ", "-")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def index(self, tier: str = "all") -> str:
        return f"{self.base}/{tier}/simple/"

    def start(self) -> float:
        self.port = free_port(S.mirror_port)
        lines = ["[server]", 'host = "127.0.0.1"', f"port = {self.port}", f"workers = {self.workers}"]
        if S.log_level:
            lines.append(f'log_level = "{S.log_level}"')
        lines += ["", "[upstream]", f'url = "{self.upstream}"']
        if self.index_ttl is not None:
            lines.append(f"index_ttl = {self.index_ttl}")
        lines += ["", "[storage]", f'path = "{self.storage}"', "", "[policies]", f'path = "{self.policies}"']
        config = self.dir / "config.toml"
        config.write_text("\n".join(lines) + "\n")
        say(f"starting mirror '{self.label}' (workers={self.workers}) on 127.0.0.1:{self.port}")
        started = time.perf_counter()
        self.proc = spawn(self.label.replace(" ", "-"), [PYTHON, "-m", "mirror", "serve", "--config", str(config)],
                          seconds=remaining(), cwd=REPO)
        end = time.monotonic() + S.start_timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                break
            try:
                if http_get(f"{self.base}/healthz", timeout=1)[0] == 200:
                    elapsed = time.perf_counter() - started
                    STARTUP[f"mirror ({self.label})"] = elapsed
                    RSS.track(f"mirror ({self.label})", child_pid(self.proc.pid))
                    say(f"  ready in {elapsed:.2f}s")
                    return elapsed
            except OSError:
                pass
            time.sleep(0.01)
        log = (LOGS / f"{self.label.replace(' ', '-')}.log").read_text(errors="replace")
        die(f"mirror '{self.label}' did not answer /healthz within {S.start_timeout}s\n{tail(log, 30)}")
        raise AssertionError

    def server_pids(self) -> list[int]:
        """The processes answering requests: the workers (or the single server process)."""
        if self.proc is None:
            return []
        root = child_pid(self.proc.pid)
        pids = tree_pids(root)
        return pids[1:] if self.workers > 1 and len(pids) > 1 else [root]

    def stop(self) -> None:
        if self.proc is not None:
            RSS.sample()
            RSS.untrack(f"mirror ({self.label})")
            say(f"stopping mirror '{self.label}'")
            stop_group(self.proc.pid, 10)
            self.proc = None


# ------------------------------------------------------------------------------------------- peers
class Peer:
    def __init__(self, name: str, port: int, key: str, health: str, index: str) -> None:
        self.name, self.pref_port, self.key, self.health, self.index_path = name, port, key, health, index
        self.base: str | None = None
        self.pgid: int | None = None
        self.started = False
        self.port = 0

    def start(self, upstream: str | None = None, label: str | None = None) -> None:
        label = label or self.name
        self.port = free_port(self.pref_port)
        env = {k: v for k, v in os.environ.items() if k not in ("THREADS", "DURATION", "CONNS", "PORT")}
        env.update(PORT=str(self.port), PEERS_HOME=str(S.peers_home))
        if upstream:
            env["UPSTREAM"] = upstream
        say(f"starting {label} on 127.0.0.1:{self.port} (the first start pip-installs it into {S.peers_home}/venv)")
        self.started = True
        health_at: list[float] = []
        started = time.perf_counter()
        stop_poll = threading.Event()

        def poll() -> None:  # time to the first 200 on the health URL, while the start script runs
            while not stop_poll.is_set():
                try:
                    if http_get(f"http://127.0.0.1:{self.port}{self.health}", timeout=1)[0] == 200:
                        health_at.append(time.perf_counter() - started)
                        return
                except OSError:
                    pass
                time.sleep(0.05)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        ran = run(f"{label}.start", ["bash", str(S.peers / f"start_{self.name}.sh"), "start"],
                  seconds=limit(S.peer_start_timeout), env=env, keep_group=True)
        poller.join(5)
        stop_poll.set()
        self.pgid = ran.pgid
        base = None
        for line in ran.out.splitlines():
            if line.startswith(f"{self.key}="):
                base = line.split()[0].split("=", 1)[1]
        healthy = self._healthy()
        if ran.rc == 0 and base and healthy:
            self.base = base
        elif ran.rc != 124 and healthy:
            self.base = f"http://127.0.0.1:{self.port}{self.index_path}"
            note(f"{label}: its start script failed (exit {ran.rc}) but the server answers {self.health}: "
                 "benchmarked anyway")
        else:
            note(f"{label} failed to start (exit {ran.rc}): skipped\n{tail(ran.err, 10)}\n{tail(ran.out, 5)}")
            self.stop()
            return
        if health_at:
            STARTUP[label] = health_at[0]
        pid = self.pid()
        if pid:
            RSS.track(label, pid)
        say(f"{label} ready: {self.base}")

    def _healthy(self) -> bool:
        try:
            return http_get(f"http://127.0.0.1:{self.port}{self.health}", timeout=5)[0] == 200
        except OSError:
            return False

    def pid(self) -> int | None:
        try:
            return int((S.peers_home / f".{self.name}.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        if not self.started:
            return
        for label in list(RSS.roots):
            if label.startswith(self.name):
                RSS.sample()
                RSS.untrack(label)
        say(f"stopping {self.name}")
        env = dict(os.environ, PEERS_HOME=str(S.peers_home))
        run(f"{self.name}.stop", ["bash", str(S.peers / f"start_{self.name}.sh"), "stop"], seconds=30, env=env)
        if self.pgid:
            stop_group(self.pgid, 10)
        self.started, self.pgid, self.base = False, None, None


# ------------------------------------------------------------------------------------------- nginx
class Nginx:
    """nginx serving static copies (the same config as shared/peers/bench_static_ceiling.sh, plus files)."""

    def __init__(self) -> None:
        self.root = TMP / "nginx"
        self.www = self.root / "www"
        self.www.mkdir(parents=True)
        (self.root / "tmp").mkdir()
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def add_page(self, project: str, html: bytes, js: bytes) -> None:
        d = self.www / project
        d.mkdir(exist_ok=True)
        (d / "index.html").write_bytes(html)
        (d / "index.json").write_bytes(js)

    def start(self) -> None:
        self.port = free_port(S.nginx_port)
        r = self.root
        (r / "nginx.conf").write_text(f"""worker_processes 1; pid {r}/nginx.pid; error_log {r}/error.log; daemon off;
events {{ worker_connections 1024; }}
http {{
  access_log off; sendfile on; tcp_nopush on;
  types {{ text/html html; application/vnd.pypi.simple.v1+json json; }}
  default_type application/octet-stream;
  client_body_temp_path {r}/tmp; proxy_temp_path {r}/tmp; fastcgi_temp_path {r}/tmp;
  uwsgi_temp_path {r}/tmp; scgi_temp_path {r}/tmp;
  map $http_accept $idx {{ ~application/vnd\\.pypi\\.simple\\.v1\\+json index.json; default index.html; }}
  server {{ listen 127.0.0.1:{self.port}; root {r}/www; location / {{ try_files $uri$idx $uri =404; }} }}
}}
""")
        started = time.perf_counter()
        self.proc = spawn("nginx", ["nginx", "-c", str(r / "nginx.conf"), "-p", str(r)], seconds=remaining())
        for _ in range(100):
            try:
                http_get(self.base, timeout=1)
                STARTUP["nginx"] = time.perf_counter() - started
                RSS.track("nginx", child_pid(self.proc.pid))
                return
            except OSError:
                time.sleep(0.05)
        note(f"nginx did not start: {tail((LOGS / 'nginx.log').read_text(errors='replace'))}")
        self.stop()

    def stop(self) -> None:
        if self.proc is not None:
            RSS.untrack("nginx")
            stop_group(self.proc.pid, 5)
            self.proc = None


# ------------------------------------------------------------------------------------ measurements
WRK_ENV = {"DURATION": S.duration, "CONNS": S.conns, "THREADS": S.threads}


def bench_simple(label: str, base: str, project: str) -> dict[str, str] | None:
    say(f"wrk: {label} {project} ({base}, 2 x {S.duration})")
    env = dict(os.environ, **WRK_ENV)
    ran = run(f"simple.{label}.{project}".replace(" ", "_").replace("/", "_"),
              ["bash", str(S.peers / "bench_simple.sh"), loopback(base), project],
              seconds=limit(2 * S.dur_s + 120), env=env)
    lines = [line for line in ran.out.splitlines() if line.startswith("RESULT ")]
    if ran.rc != 0 or not lines:
        note(f"wrk {label} {project}: bench_simple.sh failed (exit {ran.rc})\n{tail(ran.err)}")
        return None
    res = kv(lines[-1])
    # wrk gives up on a response after 2 s ("timeout" socket errors): the HTML run comes first, then JSON
    for fmt, m in zip(("html", "json"), re.finditer(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", ran.err)):
        res[f"errors_{fmt}"] = str(sum(int(x) for x in m.groups()))
    say(f"  {label} {project}: html {res.get('html_rps')} req/s, json {res.get('json_rps')} req/s")
    return res


def bench_wheel(label: str, base: str, project: str, filename: str) -> dict[str, str] | None:
    say(f"wheel: {label} ({project}/{filename}), 1 cold + {S.wheel_n} warm downloads")
    env = dict(os.environ, N=str(S.wheel_n))
    ran = run(f"wheel.{label}".replace(" ", "_"), ["bash", str(S.peers / "bench_wheel.sh"), loopback(base), project, filename],
              seconds=limit(300), env=env)
    lines = [line for line in ran.out.splitlines() if line.startswith("RESULT ")]
    if ran.rc != 0 or not lines:
        note(f"wheel {label}: bench_wheel.sh failed (exit {ran.rc})\n{tail(ran.err)}")
        return None
    res = kv(lines[-1])
    say(f"  {label}: cold {res.get('cold_s')}s, warm median {res.get('warm_median_s')}s = {res.get('warm_MBps')} MB/s,"
        f" sha256 ok: {res.get('sha256_ok')}")
    return res


def file_url(base: str, project: str, filename: str) -> tuple[str, str] | None:
    """(absolute URL, sha256) of ``filename`` from the index's PEP 691 page of ``project``."""
    page = base.rstrip("/") + f"/{project}/"
    try:
        status, _, body, _ = http_get(page, {"Accept": JSON_ACCEPT}, timeout=60)
        if status != 200:
            return None
        for f in json.loads(body)["files"]:
            if f["filename"] == filename:
                return loopback(urllib.parse.urljoin(page, f["url"])), f["hashes"]["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    return None


def wrk_mbps(text: str) -> float | None:
    """wrk's ``Transfer/sec`` (binary units) in decimal MB/s."""
    m = re.search(r"Transfer/sec:\s+([0-9.]+)([KMG]?B)", text)
    if not m:
        return None
    return float(m.group(1)) * {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}[m.group(2)] / 1e6


def concurrent_downloads(label: str, url: str, size: int) -> dict[str, Any] | None:
    """CONCURRENT curl downloads at once (every response checked: 200 and full size), CONCURRENT_ROUNDS
    times, then wrk with CONCURRENT connections for DURATION (sustained throughput)."""
    script = ('for i in $(seq "$N"); do curl -s -o /dev/null -w "%{http_code} %{size_download}\\n" "$URL" & done; wait')
    rates, bad = [], 0
    for rnd in range(S.concurrent_rounds):
        ran = run(f"concurrent.{label}.{rnd}".replace(" ", "_"), ["bash", "-c", script], seconds=limit(180),
                  env=dict(os.environ, N=str(S.concurrent), URL=loopback(url)))
        ok = sum(1 for line in ran.out.splitlines() if line.split() == ["200", str(size)])
        bad += S.concurrent - ok
        if ran.rc == 0 and ok == S.concurrent:
            rates.append(S.concurrent * size / 1e6 / ran.seconds)
    res: dict[str, Any] = {"burst_MBps": statistics.median(rates) if rates else None, "failed": bad}
    if bad:
        note(f"{S.concurrent} concurrent downloads from {label}: {bad} incomplete or failed downloads")
    ran = run(f"wrkfile.{label}".replace(" ", "_"), ["wrk", f"-t{S.threads}", f"-c{S.concurrent}", f"-d{S.dur_s}s",
                                                     loopback(url)], seconds=limit(S.dur_s + 60))
    res["wrk_MBps"] = wrk_mbps(ran.out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", ran.out)
    if non2xx:
        note(f"wrk c={S.concurrent} on the wheel from {label}: {non2xx.group(1)} non-2xx responses")
        res["wrk_MBps"] = None
    say(f"  {label}: {S.concurrent} curl at once: {fmt_num(res['burst_MBps'])} MB/s aggregate; "
        f"wrk c={S.concurrent}: {fmt_num(res['wrk_MBps'])} MB/s")
    return res


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus pip/uv settings (this machine sets PIP_FIND_LINKS, for example)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", UV_NO_CONFIG="1",
               UV_NO_PROGRESS="1", NO_PROXY="127.0.0.1,localhost")
    env.update(extra)
    return env


def uv_bin() -> str | None:
    try:
        out = subprocess.run([PYTHON, "-c", "from uv import find_uv_bin; print(find_uv_bin())"],
                             capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return shutil.which("uv")


def install(tool: str, index_url: str, label: str, mirror: Mirror | None = None) -> dict[str, float] | None:
    """One isolated install of the set into a fresh target dir, with no installer cache.

    Returns wall seconds, the installer's CPU seconds and (through a mirror) the mirror's CPU seconds.
    """
    target = TMP / "installs" / label
    cache = TMP / "installs" / f"{label}.uv-cache"
    shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    target.parent.mkdir(exist_ok=True)
    if tool == "pip":
        argv = [PYTHON, "-m", "pip", "install", "--no-cache-dir", "--no-input", "--no-warn-conflicts",
                "--target", str(target), "--index-url", index_url, "-r", str(S.install_set)]
    else:
        uv = uv_bin()
        if uv is None:
            note("uv not found (pip install uv): uv installs skipped")
            return None
        argv = [uv, "pip", "install", "--cache-dir", str(cache), "--target", str(target), "--python", PYTHON,
                "--index-url", index_url, "-r", str(S.install_set)]
    say(f"install: {label}")
    root = child_pid(mirror.proc.pid) if mirror is not None and mirror.proc is not None else None
    server_before = tree_cpu(root) if root else 0.0
    ran = run(f"install.{label}", argv, seconds=limit(S.install_timeout), env=clean_env())
    server_cpu = tree_cpu(root) - server_before if root else None
    wanted = sum(1 for line in S.install_set.read_text().splitlines() if line.strip() and not line.startswith("#"))
    got = len(list(target.glob("*.dist-info"))) if target.is_dir() else 0
    shutil.rmtree(cache, ignore_errors=True)
    if ran.rc != 0 or got != wanted:
        note(f"install {label} failed (exit {ran.rc}, {got}/{wanted} packages)\n{tail(ran.err or ran.out)}")
        return None
    say(f"  {label}: {ran.seconds:.2f}s (installer CPU {ran.cpu:.2f}s"
        + (f", mirror CPU {server_cpu:.2f}s)" if server_cpu is not None else ")"))
    return {"s": ran.seconds, "cpu": ran.cpu, "server_cpu": server_cpu}


# ----------------------------------------------------------------------------------------- policies
def write_policies(directory: Path, projects: list[str], revision: int = 0,
                   pins: dict[str, dict[str, dict[str, str]]] | None = None) -> None:
    """tiers.toml (no cooldown) and a reviewed (and, with ``pins``, vetted) file per project."""
    (directory / "projects").mkdir(parents=True, exist_ok=True)
    (directory / "tiers.toml").write_text("[reviewed]\ncooldown_days = 0\nallow_prereleases = false\n")
    for project in projects:
        lines = ["[review]", 'by = "bench"', "at = 2026-01-01T00:00:00Z", f'note = "bench revision {revision}"', ""]
        for version, files in (pins or {}).get(project, {}).items():
            lines += [f'[vetted."{version}"]', 'by = "bench"', "at = 2026-01-01T00:00:00Z", "",
                      f'[vetted."{version}".files]']
            lines += [f'"{name}" = "{sha}"' for name, sha in files.items()] + [""]
        tmp = directory / "projects" / f".{project}.toml.tmp"
        tmp.write_text("\n".join(lines))
        tmp.replace(directory / "projects" / f"{project}.toml")  # atomic: the watcher never reads half a file


def pins_from_page(page: dict) -> dict[str, dict[str, str]]:
    """{version: {filename: sha256}} for every final release on a PEP 691 page (all files pinned)."""
    from packaging.utils import (
        canonicalize_version,
        parse_sdist_filename,
        parse_wheel_filename,
    )
    from packaging.version import InvalidVersion

    pins: dict[str, dict[str, str]] = {}
    for f in page["files"]:
        name, sha = f["filename"], f.get("hashes", {}).get("sha256")
        if not sha:
            continue
        try:
            version = parse_wheel_filename(name)[1] if name.endswith(".whl") else parse_sdist_filename(name)[1]
        except (ValueError, InvalidVersion):
            continue
        if version.is_prerelease or version.is_devrelease:
            continue
        pins.setdefault(canonicalize_version(version), {})[name] = sha
    return pins


# ------------------------------------------------------------------------------------------ results
@dataclass
class Results:
    pages: dict[tuple[str, str, str], dict[str, str]] = field(default_factory=dict)  # (project, server, tier)
    prepare: list[dict[str, Any]] = field(default_factory=list)
    prepared_checks: list[tuple[str, bool, str]] = field(default_factory=list)
    cold: list[dict[str, Any]] = field(default_factory=list)
    wheel: dict[str, dict[str, Any]] = field(default_factory=dict)
    install: dict[str, float | None] = field(default_factory=dict)
    soak: dict[str, Any] = field(default_factory=dict)
    profiles: list[str] = field(default_factory=list)
    page_files: dict[str, int] = field(default_factory=dict)
    page_versions: dict[str, int] = field(default_factory=dict)
    install_pages: dict[str, list[tuple[str, int, float]]] = field(default_factory=dict)


R = Results()


def fetch_page(base: str, tier: str, project: str, accept: str) -> tuple[int, dict[str, str], bytes, float]:
    return http_get(f"{base}/{tier}/simple/{project}/", {"Accept": accept}, timeout=120)


def prepared_check(mirror: Mirror, tier: str, project: str, accept: str, n: int = 5) -> tuple[float | None, str | None, bool]:
    """n requests of one page: the same Server-Timing value and ETag each time = served from prepared bytes."""
    seen = set()
    dur, etag = None, None
    for _ in range(n):
        status, headers, _, _ = fetch_page(mirror.base, tier, project, accept)
        if status != 200:
            return None, None, False
        dur, etag = prepare_ms(headers), headers.get("etag")
        seen.add((dur, etag))
    return dur, etag, len(seen) == 1


def policy_change_check(mirror: Mirror, policies: Path, pins: dict, project: str) -> None:
    """Edit the policy (a note): each tier page is prepared once more, then served from the new bytes."""
    pages = [(tier, fmt, accept) for tier in S.tiers for fmt, accept in (("html", HTML_ACCEPT), ("json", JSON_ACCEPT))
             if tier != "all" or fmt == "html"]  # the all tier ignores reviews: one format shows it
    before = {(tier, fmt): prepared_check(mirror, tier, project, accept, n=1)[0] for tier, fmt, accept in pages}
    write_policies(policies, S.projects, revision=1, pins=pins)
    for tier, fmt, accept in pages:
        changed, new = False, None
        end = time.monotonic() + 10  # the server polls its policy directory every second
        while time.monotonic() < end:
            status, headers, body, _ = fetch_page(mirror.base, tier, project, accept)
            new = prepare_ms(headers)
            if status == 200 and new != before[(tier, fmt)]:
                changed = True
                break
            time.sleep(0.1)
        dur, _, stable = prepared_check(mirror, tier, project, accept)
        ok = changed and stable and dur == new
        R.prepared_checks.append((
            f"{project} {tier} {fmt}: policy edited → prepared again ({before[(tier, fmt)]} → {new} ms), then the "
            f"next 5 requests carry the same Server-Timing and ETag", ok, "policy"))
        if changed:
            R.prepare.append({"project": project, "tier": tier, "fmt": fmt, "when": "after policy change",
                              "ms": new, "workers": mirror.workers})


# ------------------------------------------------------------------------------------------- phases
def phase_warm(mirror: Mirror, tiers: list[str], peers: list[Peer], nginx: Nginx | None, first: bool,
               policies: Path) -> dict:
    """Warm pages of every project through ``mirror`` (and, the first time, the peers and nginx)."""
    pins: dict[str, dict[str, dict[str, str]]] = {}
    label = f"mirror w{mirror.workers}"
    for project in S.projects:
        bodies = {}
        for fmt, accept in (("json", JSON_ACCEPT), ("html", HTML_ACCEPT)):
            status, headers, body, secs = fetch_page(mirror.base, "all", project, accept)
            if status != 200:
                die(f"mirror: /all/simple/{project}/ answered {status}: {body[:200]!r}")
            bodies[fmt] = body
            if first and fmt == "json":
                R.prepare.append({"project": project, "tier": "all", "fmt": fmt, "workers": mirror.workers,
                                  "when": f"first request: page fetched from upstream ({secs * 1000:.0f} ms in all)",
                                  "ms": prepare_ms(headers), "bytes": len(body)})
        page = json.loads(bodies["json"])
        pins[project] = pins_from_page(page)
        R.page_files[project] = len(page["files"])
        R.page_versions[project] = len(page.get("versions", []))
        (TMP / "shapes").mkdir(exist_ok=True)
        (TMP / "shapes" / f"{project}.json").write_bytes(bodies["json"])
        if first and nginx is not None:
            nginx.add_page(project, bodies["html"], bodies["json"])
    if first:  # vet every final release of each project (all its files pinned), wait for the reload
        write_policies(policies, S.projects, revision=0, pins=pins)
        end = time.monotonic() + 15
        while time.monotonic() < end:
            if all(fetch_page(mirror.base, "vetted", p, JSON_ACCEPT)[0] == 200 for p in S.projects):
                break
            time.sleep(0.2)
        else:
            note("the vetted tier did not pick up the policy within 15 s")
    # The first preparation of each page for the policy in force (the all tier's too: a policy change
    # re-prepares every tier), then "served from prepared bytes".
    when = "first for this policy version" if first else f"first in this worker ({mirror.workers} workers)"
    for project in S.projects:
        for tier in tiers:
            for fmt, accept in (("html", HTML_ACCEPT), ("json", JSON_ACCEPT)):
                status, headers, body, _ = fetch_page(mirror.base, tier, project, accept)
                if status != 200:
                    note(f"mirror w{mirror.workers}: /{tier}/simple/{project}/ answered {status}")
                    continue
                R.prepare.append({"project": project, "tier": tier, "fmt": fmt, "when": when,
                                  "ms": prepare_ms(headers), "bytes": len(body), "workers": mirror.workers})
        for tier in tiers if mirror.workers == 1 else ():  # each worker prepares its own copy
            for fmt, accept in (("html", HTML_ACCEPT), ("json", JSON_ACCEPT)):
                dur, etag, same = prepared_check(mirror, tier, project, accept)
                R.prepared_checks.append((f"{project} {tier} {fmt}: 5 requests, one Server-Timing value "
                                          f"({dur} ms) and one ETag", same, "prepared"))
    # wrk
    for project in S.projects:
        for tier in tiers:
            res = bench_simple(f"{label} {tier}", mirror.index(tier), project)
            if res:
                R.pages[(project, label, tier)] = res
        if first:
            for peer in peers:
                if peer.base:
                    res = bench_simple(peer.name, peer.base, project)
                    if res:
                        R.pages[(project, peer.name, "all")] = res
            if nginx is not None and nginx.proc is not None:
                res = bench_simple("nginx", nginx.base, project)
                if res:
                    R.pages[(project, "nginx", "all")] = res
    return pins


def phase_wheel(servers: list[tuple[str, str]], nginx: Nginx | None, mirror: Mirror | None) -> None:
    """bench_wheel.sh and concurrent downloads of one wheel from each (label, simple base)."""
    project, filename = S.wheel_project, S.wheel_file
    for label, base in servers:
        res = bench_wheel(label, base, project, filename)
        if res is None:
            continue
        entry: dict[str, Any] = {"single": res}
        found = file_url(base, project, filename)
        size = int(res.get("size", "0"))
        if found:
            entry["concurrent"] = concurrent_downloads(label, found[0], size)
        R.wheel[label] = entry
        if label.startswith("mirror") and nginx is not None and nginx.proc is not None and "nginx" not in R.wheel:
            # nginx serves the same bytes, with a one-file PEP 691 page for bench_wheel.sh
            if found and size:
                d = nginx.www / project
                d.mkdir(exist_ok=True)
                status, _, data, _ = http_get(found[0], timeout=120)
                if status == 200 and len(data) == size:
                    (d / filename).write_bytes(data)
                    page = {"meta": {"api-version": "1.1"}, "name": project, "versions": [],
                            "files": [{"filename": filename, "url": filename, "hashes": {"sha256": found[1]},
                                       "size": size}]}
                    (d / "index.json").write_text(json.dumps(page))
                    (d / "index.html").write_text(f'<a href="{filename}#sha256={found[1]}">{filename}</a>\n')
                    del data
                    nres = bench_wheel("nginx", nginx.base, project, filename)
                    if nres:
                        R.wheel["nginx"] = {"single": nres,
                                            "concurrent": concurrent_downloads("nginx", f"{nginx.base}{project}/{filename}", size)}


def phase_cold(proxpi: Peer | None) -> None:
    """First fetch of never-seen pages through a fresh mirror, against the local fake upstream."""
    shapes = [p for p in S.projects if (TMP / "shapes" / f"{p}.json").is_file()]
    if not shapes:
        note("cold page: no saved page shapes (phase 1 failed?): skipped")
        return
    n = S.cold_n
    copies = (5 if S.profile else 4) * n + 3  # mirror 0..2n-1, proxpi 2n..4n-1, profile 4n..5n-1, serial, warm-up
    argv = [PYTHON, str(HERE / "fake_index.py"), "--copies", str(copies)]
    for p in shapes:
        argv += ["--shape", f"{p}={TMP / 'shapes' / (p + '.json')}"]
    say(f"cold page: fake upstream with {copies} copies of {', '.join(shapes)}")
    fake = spawn("fake-upstream", argv, seconds=remaining(), cwd=REPO)
    url = control = None
    end = time.monotonic() + 120
    while time.monotonic() < end and fake.poll() is None:
        text = (LOGS / "fake-upstream.log").read_text(errors="replace")
        m = re.search(r"FAKE_URL=(\S+) CONTROL=(\S+)", text)
        if m:
            url, control = m.group(1), m.group(2)
            break
        time.sleep(0.2)
    if url is None:
        note(f"fake upstream did not start: {tail((LOGS / 'fake-upstream.log').read_text(errors='replace'))}")
        stop_group(fake.pid)
        return
    RSS.track("fake upstream", child_pid(fake.pid))
    ttl = 2
    storage, policies = TMP / "cold" / "storage", TMP / "cold" / "policies"
    policies.mkdir(parents=True)
    mirror = Mirror("cold", workers=1, upstream=url, storage=storage, policies=policies, index_ttl=ttl)
    try:
        mirror.start()
        upstream_accept = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
                           "text/html;q=0.01")
        for shape in shapes:
            direct, through, prep = [], {"html": [], "json": []}, {"html": [], "json": []}
            # one throw-away request each, so one-time costs (imports, connection pools) are not counted
            fetch_page(mirror.base, "all", f"cold{copies - 1}-{shape}", JSON_ACCEPT)
            for i in range(n):
                direct.append(http_get(f"{url}cold{i}-{shape}/", {"Accept": upstream_accept})[3])
            for i in range(2 * n):
                fmt, accept = ("html", HTML_ACCEPT) if i % 2 == 0 else ("json", JSON_ACCEPT)
                status, headers, _, secs = fetch_page(mirror.base, "all", f"cold{i}-{shape}", accept)
                if status == 200:
                    through[fmt].append(secs)
                    prep[fmt].append(prepare_ms(headers) or 0.0)
            row: dict[str, Any] = {"shape": shape, "files": R.page_files.get(shape),
                                   "direct_ms": statistics.median(direct) * 1000 if direct else None}
            for fmt in ("html", "json"):
                row[f"mirror_{fmt}_ms"] = statistics.median(through[fmt]) * 1000 if through[fmt] else None
                row[f"prepare_{fmt}_ms"] = statistics.median(prep[fmt]) if prep[fmt] else None
            R.cold.append(row)
            say(f"  {shape}: direct {fmt_num(row['direct_ms'], 1)} ms, through the mirror html "
                f"{fmt_num(row['mirror_html_ms'], 1)} ms / json {fmt_num(row['mirror_json_ms'], 1)} ms")
        if S.profile:
            big = max(shapes, key=lambda p: R.page_files.get(p, 0))
            with Spy(mirror, f"{n} first fetches of copies of {big} (JSON) from the fake upstream", rate=500):
                for i in range(4 * n, 5 * n):
                    fetch_page(mirror.base, "all", f"cold{i}-{big}", JSON_ACCEPT)
        # served from prepared bytes until the upstream page changes
        shape = shapes[-1]
        project = f"cold{copies - 2}-{shape}"
        d0, e0, same0 = prepared_check(mirror, "all", project, JSON_ACCEPT, n=3)
        time.sleep(ttl + 0.5)  # the page is stale: the next request revalidates (same bytes upstream)
        d1, e1, same1 = prepared_check(mirror, "all", project, JSON_ACCEPT, n=3)
        R.prepared_checks.append((f"{project} (fake upstream, index_ttl={ttl}s): revalidated after the TTL, "
                                  f"upstream bytes unchanged → not prepared again ({d0} → {d1} ms, same ETag)",
                                  same0 and same1 and d0 == d1 and e0 == e1, "serial"))
        http_post(f"{control}touch/{project}")
        time.sleep(ttl + 0.5)
        d2, e2, same2 = prepared_check(mirror, "all", project, JSON_ACCEPT, n=3)
        R.prepared_checks.append((f"{project}: upstream published a file (serial bumped) → prepared again "
                                  f"({d1} → {d2} ms, new ETag), then served from the new bytes",
                                  same2 and e2 != e1 and d2 != d1, "serial"))
        if proxpi is not None:
            proxpi.start(upstream=url, label="proxpi (fake upstream)")
            if proxpi.base:
                for shape in shapes:
                    times = []
                    http_get(f"{proxpi.base}cold{copies - 1}-{shape}/", {"Accept": JSON_ACCEPT}, timeout=120)
                    for i in range(2 * n, 4 * n):
                        accept = HTML_ACCEPT if i % 2 == 0 else JSON_ACCEPT
                        status, _, _, secs = http_get(f"{proxpi.base}cold{i}-{shape}/", {"Accept": accept}, timeout=120)
                        if status == 200:
                            times.append(secs)
                    for row in R.cold:
                        if row["shape"] == shape and times:
                            row["proxpi_ms"] = statistics.median(times) * 1000
                            say(f"  {shape}: proxpi first fetch {row['proxpi_ms']:.1f} ms")
            proxpi.stop()
    finally:
        mirror.stop()
        RSS.untrack("fake upstream")
        stop_group(fake.pid, 5)


def http_post(url: str) -> None:
    u = urllib.parse.urlsplit(loopback(url))
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("POST", u.path)
        conn.getresponse().read()
    finally:
        conn.close()


def set_projects() -> list[str]:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    names = []
    for line in S.install_set.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(canonicalize_name(Requirement(line).name))
    return names


def set_pages(mirror: Mirror, label: str) -> None:
    """Server-Timing of the JSON page of each project of the set, as the installer got it: the time the
    mirror spent preparing the page version it served (pip and uv ask for PEP 691 JSON)."""
    rows = []
    for project in set_projects():
        status, headers, body, _ = fetch_page(mirror.base, "all", project, JSON_ACCEPT)
        if status == 200:
            try:
                files = len(json.loads(body)["files"])
            except (ValueError, KeyError):
                files = 0
            rows.append((project, files, prepare_ms(headers) or 0.0))
    R.install_pages[label] = rows


def phase_install() -> None:
    try:
        from pypi_simple import PYPI_SIMPLE_ENDPOINT
    except ImportError:
        PYPI_SIMPLE_ENDPOINT = None
    direct = S.upstream if S.upstream != "pypi" else PYPI_SIMPLE_ENDPOINT
    if not direct:
        note("pypi_simple is not installed: installs skipped")
        return
    R.install["pip direct"] = install("pip", direct, "pip-direct")
    R.install["uv direct"] = install("uv", direct, "uv-direct")
    for tool in ("pip", "uv"):
        mirror = Mirror(f"install {tool}", workers=S.install_workers, upstream=S.upstream,
                        storage=TMP / f"install-{tool}" / "storage", policies=TMP / f"install-{tool}" / "policies")
        mirror.policies.mkdir(parents=True)
        mirror.start()
        try:
            for run_name in ("cold", "warm", "warm again"):
                key = f"{tool} mirror {run_name}"
                R.install[key] = install(tool, mirror.index("all"), f"{tool}-{run_name.replace(' ', '-')}", mirror)
            set_pages(mirror, f"{tool} mirror warm again")  # only now: a request prepares pages too
        finally:
            mirror.stop()
    if S.profile:  # the same cold + warm sequence once more, the warm install under py-spy (not counted)
        mirror = Mirror("install uv, profiled", workers=S.install_workers, upstream=S.upstream,
                        storage=TMP / "install-profiled" / "storage", policies=TMP / "install-profiled" / "policies")
        mirror.policies.mkdir(parents=True)
        mirror.start()
        try:
            if install("uv", mirror.index("all"), "uv-cold-for-profile", mirror):
                with Spy(mirror, "the first warm `uv pip install` of the set after a cold one (not counted above)",
                         rate=500):
                    install("uv", mirror.index("all"), "uv-warm-profiled", mirror)
        finally:
            mirror.stop()


def phase_soak(mirror: Mirror) -> None:
    paths = [f"/{tier}/simple/{p}/" for p in S.projects for tier in S.tiers]
    label = f"mirror ({mirror.label})"
    say(f"soak: {S.soak}s of wrk over {len(paths)} pages (+1/16 absent names), RSS every second")
    env = dict(os.environ, SOAK_PATHS=" ".join(paths),
               SOAK_ABSENT_TIER="reviewed" if "reviewed" in S.tiers else "vetted")
    t0 = time.monotonic()
    ran = run("soak", ["wrk", f"-t{S.threads}", f"-c{S.conns}", f"-d{S.soak}s", "-s", str(HERE / "soak.lua"),
                       mirror.base + "/"], seconds=limit(S.soak + 60), env=env)
    t1 = time.monotonic()
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", ran.out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", ran.out)
    total = re.search(r"(\d+) requests in", ran.out)
    series = RSS.window(label, t0, t1)
    if len(series) < 6:
        note("soak: too few RSS samples")
        return
    k = max(3, len(series) // 10)
    warm = series[k: 2 * k]  # skip the first tenth (buffers growing to their working size)
    last = series[-k:]
    first_mb, last_mb = statistics.median(warm) / 1024, statistics.median(last) / 1024
    R.soak = {"seconds": S.soak, "rps": num(rps.group(1)) if rps else None, "requests": int(total.group(1)) if total else None,
              "non2xx": int(non2xx.group(1)) if non2xx else 0, "first_mb": first_mb, "last_mb": last_mb,
              "max_mb": max(series) / 1024, "min_mb": min(series) / 1024, "samples": len(series),
              "label": mirror.label}
    say(f"  soak: {R.soak['rps']} req/s, RSS {first_mb:.1f} → {last_mb:.1f} MB (max {R.soak['max_mb']:.1f})")


def ensure_py_spy() -> str | None:
    exe = S.tools_home / "bin" / "py-spy"
    if exe.exists():
        return str(exe)
    found = shutil.which("py-spy")
    if found:
        return found
    say(f"installing py-spy into {S.tools_home} (PROFILE=1)")
    ran = run("py-spy.install", ["bash", "-c", f'python3 -m venv "{S.tools_home}" && "{S.tools_home}/bin/pip" install -q py-spy'],
              seconds=limit(300), env=clean_env())
    if ran.rc != 0 or not exe.exists():
        note(f"py-spy could not be installed: {tail(ran.err)}")
        return None
    return str(exe)


_GENERIC_FRAMES = {"_run_module_as_main", "_run_code", "<module>", "main", "cmd_serve", "run_server", "_run",
                   "Runner.run", "BaseEventLoop.run_forever", "BaseEventLoop._run_once", "Handle._run",
                   "Thread._bootstrap", "Thread._bootstrap_inner", "Thread.run", "_worker", "run"}


def _frame(text: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)``."""
    return re.sub(r"\s+\((?:.*/)?([^/()]+?)(?::\d+)?\)$", r" (\1)", text)


def summarize_raw(path: Path, rate: int, seconds: float, processes: int) -> str:
    """Top frames of a py-spy ``--format raw`` (collapsed stacks) file, as a Markdown table."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        c = int(count)
        total += c
        frames = [_frame(f) for f in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + c
        for key in set(frames):
            incl[key] = incl.get(key, 0) + c
    if not total:
        return "(no samples)"
    expected = rate * seconds * processes
    lines = [f"{total} samples in {seconds:.1f} s at {rate} Hz in {processes} process(es) (one per thread seen "
             f"busy: {total / expected:.0%} of {expected:.0f}, above 100% when several threads are). Share of those samples; "
             "uvloop is compiled, so time inside the event loop itself (socket reads and writes, polling) is the "
             "own time of `Runner.run`; C calls made in thread-pool threads are the own time of "
             "`_WorkItem.run`, and `_worker` is a pool thread waiting for work or for the GIL:", "", "| frame (own time) | share | | frame (inclusive) | share |",
             "|---|---:|---|---|---:|"]
    top_own = sorted(own.items(), key=lambda kv: kv[1], reverse=True)[:10]
    top_incl = [kv for kv in sorted(incl.items(), key=lambda kv: kv[1], reverse=True)
                if kv[0].split(" (")[0] not in _GENERIC_FRAMES][:10]
    for i in range(max(len(top_own), len(top_incl))):
        a = top_own[i] if i < len(top_own) else ("", 0)
        b = top_incl[i] if i < len(top_incl) else ("", 0)
        lines.append(f"| `{a[0]}` | {a[1] / total:.0%} | | `{b[0]}` | {b[1] / total:.0%} |")
    return "\n".join(lines)


class Spy:
    """With PROFILE=1: py-spy (raw stacks) on every server process of a mirror while the block runs."""

    def __init__(self, mirror: Mirror, title: str, rate: int = 250) -> None:
        self.mirror, self.title, self.rate = mirror, title, rate
        self.recs: list[tuple[Path, subprocess.Popen]] = []
        self.pids: list[int] = []
        self.started = 0.0

    def __enter__(self) -> Spy:
        exe = ensure_py_spy() if S.profile else None
        if exe is None:
            return self
        self.pids = self.mirror.server_pids()
        say(f"profile: py-spy on {self.pids} during {self.title}")
        for pid in self.pids:
            out = TMP / f"profile.{pid}.{len(R.profiles)}.raw"
            self.recs.append((out, spawn(f"py-spy.{pid}.{len(R.profiles)}",
                                         [exe, "record", "--pid", str(pid), "--rate", str(self.rate), "--nonblocking",
                                          "--format", "raw", "--output", str(out)], seconds=remaining())))
        time.sleep(1.0)  # attached
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.recs:
            return
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
            stop_group(proc.pid, 5)
        merged = TMP / f"profile.{len(R.profiles)}.raw"
        with open(merged, "w") as fh:
            for out, _ in self.recs:
                if out.exists():
                    fh.write(out.read_text(errors="replace"))
        if merged.stat().st_size:
            R.profiles.append(f"**py-spy, mirror '{self.mirror.label}', {self.title} ({len(self.pids)} server "
                              f"process(es), {self.rate} Hz, {seconds:.1f} s):**\n\n"
                              + summarize_raw(merged, self.rate, seconds, len(self.pids)))
        else:
            note(f"py-spy recorded nothing during {self.title}")


def spy_wrk(mirror: Mirror, title: str, url: str, headers: list[str]) -> None:
    """wrk on ``url`` for DURATION under py-spy."""
    argv = ["wrk", f"-t{S.threads}", f"-c{S.conns}", f"-d{S.dur_s}s"]
    for h in headers:
        argv += ["-H", h]
    spy = Spy(mirror, f"wrk c={S.conns} on {title} for {S.duration}")
    with spy:
        ran = run(f"profile.wrk.{len(R.profiles)}", argv + [loopback(url)], seconds=limit(S.dur_s + 60))
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", ran.out)
    if spy.recs and R.profiles:
        R.profiles[-1] = R.profiles[-1].replace(":**", f": {fmt_num(num(rps.group(1)) if rps else None)} req/s, "
                                                f"{wrk_mbps(ran.out) or 0:.0f} MB/s under the profiler:**", 1)


def sendfile_probe(path: Path) -> None:
    """wrk c=CONCURRENT on a bare aiohttp FileResponse of the wheel, with asyncio's loop and with uvloop."""
    rows = []
    # uvloop is not a dependency of the mirror (it disables aiohttp's sendfile): compare only if present.
    has_uvloop = subprocess.run([PYTHON, "-c", "import uvloop"], capture_output=True).returncode == 0
    for loop in ("asyncio", "uvloop") if has_uvloop else ("asyncio",):
        port = free_port(S.mirror_port + 50)
        proc = spawn(f"sendfile-probe.{loop}", [PYTHON, str(HERE / "sendfile_probe.py"), loop, str(path), str(port)],
                     seconds=limit(S.dur_s + 90), cwd=REPO)
        url = f"http://127.0.0.1:{port}/file"
        try:
            for _ in range(100):
                try:
                    if http_get(url, timeout=5)[0] == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            ran = run(f"sendfile-probe.wrk.{loop}", ["wrk", f"-t{S.threads}", f"-c{S.concurrent}", f"-d{S.dur_s}s",
                                                     loopback(url)], seconds=limit(S.dur_s + 60))
            rows.append((loop, wrk_mbps(ran.out)))
        finally:
            stop_group(proc.pid, 5)
    ng = ((R.wheel.get("nginx") or {}).get("concurrent") or {}).get("wrk_MBps")
    text = ["**The event loop and file serving** (`bench/sendfile_probe.py`: a bare aiohttp `FileResponse` of the "
            f"same wheel, wrk c={S.concurrent} for {S.duration}):", "", "| loop | MB/s | ×nginx (its run above) |",
            "|---|---:|---:|"]
    for loop, mbps in rows:
        text.append(f"| {loop} | {fmt_num(mbps)} | {fmt_ratio(ratio(mbps, ng))} |")
    R.profiles.append("\n".join(text))


def phase_profile(mirror: Mirror) -> None:
    """py-spy during wrk on the big page and on the wheel; the prepare-time breakdown of the big page."""
    big = max(S.projects, key=lambda p: R.page_files.get(p, 0))
    if ensure_py_spy():
        spy_wrk(mirror, f"/all/simple/{big}/ (HTML)", f"{mirror.index('all')}{big}/", [f"Accept: {HTML_ACCEPT}"])
        if S.with_wheel:
            found = file_url(mirror.index("all"), S.wheel_project, S.wheel_file)
            if found:
                spy_wrk(mirror, f"the cached wheel ({S.wheel_file})", found[0], [])
    wheel = TMP / "nginx" / "www" / S.wheel_project / S.wheel_file
    if S.with_wheel and wheel.exists():
        sendfile_probe(wheel)
    page = TMP / "shapes" / f"{big}.json"
    if page.exists():
        ran = run("profile_prepare", [PYTHON, str(HERE / "profile_prepare.py"), str(page), str(mirror.policies),
                                      "--project", big], seconds=limit(180), cwd=REPO)
        if ran.rc == 0:
            R.profiles.append(f"**Preparing the pages of {big}, in process (`bench/profile_prepare.py`, "
                              "medians; the filter is not part of `Server-Timing: prepare`):**\n\n" + ran.out.strip())
        else:
            note(f"profile_prepare.py failed: {tail(ran.err)}")


# ------------------------------------------------------------------------------------------ report
def versions() -> str:
    v = []
    try:
        out = subprocess.run([PYTHON, "-c", "import mirror, sys, aiohttp; print(mirror.__version__, 'python',"
                              " sys.version.split()[0], 'aiohttp', aiohttp.__version__)"],
                             capture_output=True, text=True, cwd=REPO, timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out = "?"
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip() or "no-commit"
    if subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True).stdout.strip():
        rev += "+dirty"
    v.append(f"mirror {out} (git {rev})")
    peer_py = S.peers_home / "venv" / "bin" / "python"
    if peer_py.exists():
        for pk in ("proxpi", "gunicorn", "devpi-server"):
            try:
                ver = subprocess.run([str(peer_py), "-c", f"import importlib.metadata as m; print(m.version('{pk}'))"],
                                     capture_output=True, text=True, timeout=30).stdout.strip()
            except (OSError, subprocess.TimeoutExpired):
                ver = ""
            if ver:
                v.append(f"{pk} {ver}")
    if shutil.which("nginx"):
        v.append(subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
                 .replace("nginx version: ", "").replace("/", " "))
    pip = subprocess.run([PYTHON, "-m", "pip", "--version"], capture_output=True, text=True).stdout.split()
    if len(pip) > 1:
        v.append(f"pip {pip[1]}")
    uv = uv_bin()
    if uv:
        v.append(subprocess.run([uv, "--version"], capture_output=True, text=True).stdout.strip())
    v.append(" ".join(subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()[:2]))
    v.append(" ".join(subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split()[:2]))
    return "; ".join(x for x in v if x)


Target = tuple[str, str, bool | None]  # (target, measured, met)


def report(elapsed: float) -> str:
    out: list[str] = []
    targets: list[Target] = []
    w = S.workers
    mirror_labels = [f"mirror w{n}" for n in w]

    # 1. warm pages -------------------------------------------------------------------------------
    out += ["### 1. Warm project page (wrk req/s; ratios = mirror ÷ peer, same project and format)", "",
            "| project | server | tier | html req/s | json req/s | html p99 | json p99 | html bytes | json bytes "
            "| ×proxpi html / json | ×devpi html / json | ×nginx html / json |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for project in S.projects:
        size = f" ({R.page_versions.get(project, '?')} versions, {R.page_files.get(project, '?')} files)"
        peer_rows = {s: R.pages.get((project, s, "all")) for s in ("proxpi", "devpi", "nginx")}
        for (p, server, tier), res in sorted(R.pages.items(), key=lambda kv: (
                kv[0][0], 0 if kv[0][1].startswith("mirror") else 1, kv[0][1], TIERS_ALL.index(kv[0][2]))):
            if p != project:
                continue
            cells = []
            for peer in ("proxpi", "devpi", "nginx"):
                pr = peer_rows.get(peer)
                if server.startswith("mirror") and pr:
                    rh = ratio(num(res.get("html_rps")), num(pr.get("html_rps")))
                    rj = ratio(num(res.get("json_rps")), num(pr.get("json_rps")))
                    cells.append(f"{fmt_ratio(rh)} / {fmt_ratio(rj)}")
                else:
                    cells.append("")
            def flag(f: str, res: dict = res) -> str:
                text = ""
                if res.get(f"non2xx_{f}") not in (None, "0", "n/a"):
                    text += f" ({res[f'non2xx_{f}']} non-2xx!)"
                if res.get(f"errors_{f}") not in (None, "0"):
                    text += f" ({res[f'errors_{f}']} timeouts)"
                return text
            p99 = {f: ("-" if res.get(f"errors_{f}") not in (None, "0") else res.get(f"{f}_p99", "-")) for f in ("html", "json")}
            out.append(f"| {project}{size} | {server} | {tier} | {fmt_num(num(res.get('html_rps')))}{flag('html')} | "
                       f"{fmt_num(num(res.get('json_rps')))}{flag('json')} | {p99['html']} | {p99['json']} | "
                       f"{res.get('html_bytes', '-')} | {res.get('json_bytes', '-')} | " + " | ".join(cells) + " |")
            size = ""
    out += ["", "timeouts: wrk gave up on that many responses after 2 s (its latency figures are then meaningless, shown "
            "as -); the rate counts completed responses only. "
            "nginx serves the mirror's `all` page as static files (one worker, sendfile, `Accept` mapped to "
            "`index.html` / `index.json`: the config of `shared/peers/bench_static_ceiling.sh`); curated-tier "
            "rows are compared with that same page. proxpi and devpi have no tiers: their one page is compared "
            "with each tier's.", ""]
    for label in mirror_labels:
        for peer, want, name in (("proxpi", 10.0, "≥ 10× proxpi"), ("nginx", 0.3, "≥ 0.3× nginx static")):
            worst: tuple[float, str] | None = None
            missing = False
            for project in S.projects:
                pr = R.pages.get((project, peer, "all"))
                for tier in TIERS_ALL:
                    res = R.pages.get((project, label, tier))
                    if res is None:
                        continue
                    if pr is None:
                        missing = True
                        continue
                    for fmt in ("html", "json"):
                        r = ratio(num(res.get(f"{fmt}_rps")), num(pr.get(f"{fmt}_rps")))
                        if r is not None and (worst is None or r < worst[0]):
                            worst = (r, f"{project} {tier} {fmt}")
            if worst is None:
                targets.append((f"warm page {name} ({label})", "not measured" + (f" ({peer} missing)" if missing else ""), None))
            else:
                targets.append((f"warm page {name} ({label}, every project, tier and format)",
                                f"lowest {fmt_ratio(worst[0])}× ({worst[1]})", worst[0] >= want))

    # prepared pages
    big = max(S.projects, key=lambda p: R.page_versions.get(p, 0)) if S.projects else None
    out += ["#### Prepare time (`Server-Timing: prepare;dur=`, ms: render + gzip + ETag of one page version)", "",
            "| project | tier | format | workers | when | prepare ms | bytes |", "|---|---|---|---:|---|---:|---:|"]
    for p in R.prepare:
        out.append(f"| {p['project']} | {p['tier']} | {p['fmt']} | {p.get('workers', '')} | {p['when']} | "
                   f"{fmt_num(p['ms'], 2)} | {p.get('bytes', '')} |")
    out += ["", "Served from prepared bytes (checks):", ""]
    for text, ok, _kind in R.prepared_checks:
        out.append(f"- {'✅' if ok else '❌'} {text}")
    out.append("")
    if big:
        curated = [p for p in R.prepare if p["project"] == big and p["tier"] in ("reviewed", "vetted") and p["ms"] is not None]
        steady = [p for p in curated if p["when"] == "after policy change"] or curated
        if steady:
            worst = max(steady, key=lambda p: p["ms"])
            targets.append((f"filtered page of {big} ({R.page_versions.get(big)} versions) prepared in < 20 ms",
                            f"{worst['ms']:.1f} ms worst ({worst['tier']} {worst['fmt']}, {worst['when']}); "
                            f"first ever in the process: up to {max(p['ms'] for p in curated):.1f} ms",
                            worst["ms"] < 20))
        checks = [ok for _t, ok, _k in R.prepared_checks]
        if checks:
            targets.append(("then served from prepared bytes until the upstream page or the policy changes",
                            f"{sum(checks)}/{len(checks)} checks passed", all(checks)))

    # 2. cold --------------------------------------------------------------------------------------
    if R.cold:
        out += ["### 2. Cold project page (first fetch) against a local fake upstream (median ms)", "",
                "| page shape | files | fake upstream direct | mirror html | mirror json | mirror overhead html / json "
                "| mirror prepare html / json | proxpi first fetch | proxpi ÷ mirror (json) |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in R.cold:
            d = row.get("direct_ms")
            oh = [None if row.get(f"mirror_{f}_ms") is None or d is None else row[f"mirror_{f}_ms"] - d
                  for f in ("html", "json")]
            out.append(f"| {row['shape']} | {row.get('files', '')} | {fmt_num(d, 1)} | {fmt_num(row.get('mirror_html_ms'), 1)} | "
                       f"{fmt_num(row.get('mirror_json_ms'), 1)} | {fmt_num(oh[0], 1)} / {fmt_num(oh[1], 1)} | "
                       f"{fmt_num(row.get('prepare_html_ms'), 1)} / {fmt_num(row.get('prepare_json_ms'), 1)} | "
                       f"{fmt_num(row.get('proxpi_ms'), 1)} | {fmt_ratio(ratio(row.get('proxpi_ms'), row.get('mirror_json_ms')))} |")
        out += ["", f"Each figure is the median of {S.cold_n} first fetches of distinct copies of the page (the "
                "fake upstream renders its page on every request, without ETags). Overhead = through the mirror "
                "− directly from the fake upstream: fetch, parse, store in the database, filter, render, gzip.", ""]

    # 3. wheel -------------------------------------------------------------------------------------
    if R.wheel:
        size = next((e["single"].get("size") for e in R.wheel.values()), "?")
        out += [f"### 3. Cached wheel ({S.wheel_file}, {int(size) / 1e6:.1f} MB), MB/s", "",
                f"| server | first download s | one download (median of {S.wheel_n}) | ×nginx | "
                f"{S.concurrent} curl at once, aggregate (median of {S.concurrent_rounds}) | ×nginx | "
                f"wrk c={S.concurrent}, {S.duration} | ×nginx |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]
        ng = R.wheel.get("nginx") or {}
        ng_vals = [num((ng.get("single") or {}).get("warm_MBps")), (ng.get("concurrent") or {}).get("burst_MBps"),
                   (ng.get("concurrent") or {}).get("wrk_MBps")]
        for label, e in R.wheel.items():
            conc = e.get("concurrent") or {}
            vals = [num(e["single"].get("warm_MBps")), conc.get("burst_MBps"), conc.get("wrk_MBps")]
            rs = [ratio(v, n) for v, n in zip(vals, ng_vals)]
            sha = "" if e["single"].get("sha256_ok") == "yes" else " (sha256 mismatch!)"
            cells = [label, fmt_num(num(e["single"].get("cold_s")), 2), fmt_num(vals[0]) + sha]
            for i, (v, r) in enumerate(zip(vals, rs)):
                if i:
                    cells.append(fmt_num(v))
                cells.append(fmt_ratio(r) if label != "nginx" else "")
            out.append("| " + " | ".join(cells) + " |")
            if label.startswith("mirror") and (rs[0] is not None or rs[2] is not None):
                met = all(r is not None and r >= 0.9 for r in (rs[0], rs[2]))
                targets.append((f"cached wheel ≥ 0.9× nginx ({label}; one download and wrk c={S.concurrent})",
                                f"one download {fmt_ratio(rs[0])}×, wrk c={S.concurrent} {fmt_ratio(rs[2])}× "
                                f"({S.concurrent} curl at once {fmt_ratio(rs[1])}×)", met))
        out += ["", "One download: `shared/peers/bench_wheel.sh` (curl into a temp file, sha256 checked each time; the "
                "mirror's first download is its fetch from the upstream index). Curl at once: that many curl processes "
                "started together, every response checked for status 200 and full size. wrk: that many connections "
                "downloading the file again and again (the least client-bound figure). nginx serves the same file "
                "(sendfile, one worker).", ""]

    # 4. installs ----------------------------------------------------------------------------------
    if R.install:
        out += ["### 4. Installing the set (`bench/install-set.txt`, 20 pinned packages), wall seconds", "",
                "| installer | direct from upstream | mirror, cold cache | ÷ direct | mirror, warm cache | ÷ direct "
                "| warm again | ÷ direct |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        wall = {k: (v or {}).get("s") for k, v in R.install.items()}
        for tool in ("pip", "uv"):
            d = wall.get(f"{tool} direct")
            c, wm, wa = (wall.get(f"{tool} mirror {r}") for r in ("cold", "warm", "warm again"))
            out.append(f"| {tool} | {fmt_num(d, 2)} | {fmt_num(c, 2)} | {fmt_ratio(ratio(c, d))} | {fmt_num(wm, 2)} | "
                       f"{fmt_ratio(ratio(wm, d))} | {fmt_num(wa, 2)} | {fmt_ratio(ratio(wa, d))} |")
            for what, value, want in (("warm", wm, 0.7), ("cold", c, 1.2)):
                r = ratio(value, d)
                extra = f"; warm again {fmt_ratio(ratio(wa, d))}×" if what == "warm" and wa else ""
                targets.append((f"{what} `{tool} install` ≤ {want}× direct" + ("" if tool == "pip" else " (uv, not in the issue's targets)"),
                                (f"{fmt_ratio(r)}×" if r else "not measured") + extra, None if r is None else r <= want))
        out += ["", "Where the time goes: CPU seconds (user + system) of each install and of the mirror during it; after "
                "the last run, the mirror's `Server-Timing: prepare` of the JSON pages of the set (the time it spent "
                "preparing the page version it serves, once per version):", "",
                "| run | wall s | installer CPU s | mirror CPU s | pages prepared, sum ms | biggest |",
                "|---|---:|---:|---:|---:|---|"]
        for key, v in R.install.items():
            if v:
                pages = R.install_pages.get(key, [])
                big = sorted(pages, key=lambda r: r[2], reverse=True)[:2]
                out.append(f"| {key} | {v['s']:.2f} | {v['cpu']:.2f} | {fmt_num(v.get('server_cpu'), 2)} | "
                           f"{fmt_num(sum(r[2] for r in pages), 0) if pages else ''} | "
                           + ", ".join(f"{p} ({files} files) {ms:.0f} ms" for p, files, ms in big) + " |")
        out += ["", "Each install: a fresh `--target` dir and no installer cache (`pip --no-cache-dir`, uv with an "
                "empty `--cache-dir`), `PIP_CONFIG_FILE=/dev/null`, `UV_NO_CONFIG=1`, no `PIP_*`/`UV_*` variables, "
                f"`--index-url` the only index. Cold = a mirror started on an empty cache (workers={S.install_workers}); "
                "warm = the same install again through it (its cache holds every page and file; the installer's "
                "does not); warm again = once more. The same Server-Timing figure after two runs means the page "
                "was not prepared again.", ""]

    # 5. RSS and start-up --------------------------------------------------------------------------
    out += ["### 5. Memory and start-up", "", "| server | peak RSS MB (all its processes, sampled every second) "
            "| start-up s |", "|---|---:|---:|"]
    for label in sorted(set(RSS.samples) | set(STARTUP)):
        st = STARTUP.get(label)
        peak = RSS.peak_mb(label)
        out.append(f"| {label} | {fmt_num(peak, 1)} | {fmt_num(st, 2)} |")
    out += ["", "Start-up: from exec to the first 200 on `/healthz` (mirror, nginx); for proxpi and devpi, from "
            "launching their start script (which creates devpi's server dir) to the first 200 on their health URL.", ""]
    if R.soak:
        s = R.soak
        growth = s["last_mb"] - s["first_mb"]
        tol = max(5.0, 0.05 * s["first_mb"])
        out += [f"RSS soak ({s['label']}, {s['seconds']} s of wrk c={S.conns} over every page, tier, format and "
                f"encoding, 1 in 16 requests for one of 500 absent names): {fmt_num(s['rps'])} req/s, "
                f"{s['requests']} requests ({s['non2xx']} answered 404, the absent names); RSS after the first tenth "
                f"{s['first_mb']:.1f} MB, in the last tenth {s['last_mb']:.1f} MB (min {s['min_mb']:.1f}, max "
                f"{s['max_mb']:.1f}, {s['samples']} samples).", ""]
        targets.append((f"RSS flat over sustained load ({s['seconds']} s{'' if s['seconds'] >= 300 else '; the issue asks 300 s: SOAK=300'})",
                        f"{growth:+.1f} MB ({growth / s['first_mb']:+.1%}), tolerance ±{tol:.1f} MB", abs(growth) <= tol))

    # targets and profiles ----------------------------------------------------------------------------
    head = ["### Targets", "", "| target | measured | met |", "|---|---|---|"]
    for name, measured, met in targets:
        head.append(f"| {name} | {measured} | {'✅ met' if met else ('❌ not met' if met is False else '—')} |")
    head.append("")
    if R.profiles:
        out += ["### Profiles", ""]
        for p in R.profiles:
            out += [p, ""]
    if NOTES:
        out += ["### Notes", ""] + [f"- {n.splitlines()[0]}" for n in NOTES] + [""]
    out.append(f"Suite wall time: {elapsed / 60:.1f} min.")
    return "\n".join(head + out)


# -------------------------------------------------------------------------------------------- main
def preflight() -> None:
    for tool in ("curl", "timeout", "ps", "wrk", "bash"):
        if shutil.which(tool) is None:
            die(f"'{tool}' is not installed" + (" (apt-get install -y wrk)" if tool == "wrk" else ""))
    for script in ("bench_simple.sh", "bench_wheel.sh", "start_proxpi.sh", "start_devpi.sh"):
        if not (S.peers / script).is_file():
            die(f"{S.peers / script} is missing (set SHARED=/path/to/shared)")
    if S.with_nginx and shutil.which("nginx") is None:
        die("WITH_NGINX=1 but nginx is not installed: apt-get install -y nginx")
    if not S.install_set.is_file():
        die(f"{S.install_set} is missing")
    for p in S.projects:
        if not re.fullmatch(r"[a-z0-9]([a-z0-9._-]*[a-z0-9])?", p):
            die(f"'{p}' is not a normalized project name")
    for t in S.tiers + S.more_workers_tiers:
        if t not in TIERS_ALL:
            die(f"unknown tier {t!r}: tiers are {', '.join(TIERS_ALL)}")
    ran = subprocess.run([PYTHON, "-m", "mirror", "serve", "--help"], cwd=REPO, capture_output=True, timeout=60)
    if ran.returncode != 0:
        die(f"'{PYTHON} -m mirror serve --help' fails: set PYTHON to the project's venv python")
    S.dur_s  # validates DURATION


LOAD: list[str] = []


def main() -> int:
    started = time.monotonic()
    LOAD.append(" / ".join(f"{x:.2f}" for x in os.getloadavg()))
    preflight()
    RSS.start()
    say(f"projects: {' '.join(S.projects)} | tiers: {' '.join(S.tiers)} | workers: {' '.join(map(str, S.workers))} | "
        f"wrk c={S.conns} t={S.threads} d={S.duration} | capped at {S.max_runtime}s | logs: {TMP}")
    peers: list[Peer] = []
    proxpi = Peer("proxpi", S.proxpi_port, "PROXPI_URL", "/health", "/index/")
    devpi = Peer("devpi", S.devpi_port, "DEVPI_URL", "/+api", "/root/pypi/+simple/")
    nginx = Nginx() if S.with_nginx else None
    storage, policies = TMP / "main" / "storage", TMP / "main" / "policies"
    write_policies(policies, S.projects)
    mirror: Mirror | None = None
    try:
        upstream_env = None if S.upstream == "pypi" else S.upstream
        for i, workers in enumerate(S.workers):
            mirror = Mirror(f"w{workers}", workers=workers, upstream=S.upstream, storage=storage, policies=policies)
            mirror.start()
            if i == 0:
                if S.with_proxpi:
                    proxpi.start(upstream=upstream_env)
                    peers.append(proxpi)
                if S.with_devpi:
                    devpi.start(upstream=upstream_env)
                    peers.append(devpi)
                if nginx is not None:
                    nginx.start()
            pins = phase_warm(mirror, S.tiers if i == 0 else S.more_workers_tiers, peers, nginx, i == 0, policies)
            if i == 0 and S.projects:
                big = max(S.projects, key=lambda p: R.page_versions.get(p, 0))
                policy_change_check(mirror, policies, pins, big)
            if S.with_wheel:
                servers = [(f"mirror w{workers}", mirror.index("all"))]
                if i == 0:
                    servers += [(p.name, p.base) for p in peers if p.base]
                phase_wheel(servers, nginx, mirror)
            if S.profile and i == 0:
                phase_profile(mirror)
            if S.with_soak and i == len(S.workers) - 1:
                phase_soak(mirror)
            if i == 0:  # the peers' part is over: free their memory and CPU
                for p in peers:
                    p.stop()
                if nginx is not None:
                    nginx.stop()
            mirror.stop()
            mirror = None
        if S.with_cold:
            phase_cold(proxpi if S.with_proxpi else None)
        if S.with_install:
            phase_install()
    except Fatal as exc:
        say(f"ERROR: {exc}")
        return 1
    finally:
        if mirror is not None:
            mirror.stop()
        for p in (proxpi, devpi):
            p.stop()
        if nginx is not None:
            nginx.stop()
        RSS.stopped.set()
    elapsed = time.monotonic() - started
    LOAD.append(" / ".join(f"{x:.2f}" for x in os.getloadavg()))
    header = (f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC} · {platform.machine()} · {os.cpu_count()} cores · "
              f"wrk c={S.conns} t={S.threads} d={S.duration} · projects {', '.join(S.projects)}")
    body = report(elapsed)
    vers = versions()
    text = (f"## {header}\n\nversions: {vers}\n\nload average (1/5/15 min) at start {LOAD[0]}, at the end {LOAD[-1]}"
            f" (the machine is shared: other jobs' CPU use lowers every figure)\n\n{body}\n")
    print()
    print(text)
    if S.record:
        if not S.results_file.exists() or not S.results_file.read_text().strip():
            S.results_file.write_text("# Benchmark results\n\nAppended by `RECORD=1 bench/run.sh` (see README.md). "
                                      "Compare ratios within one run, not absolute numbers across runs.\n")
        with open(S.results_file, "a") as fh:
            fh.write("\n" + text)
        say(f"appended to {S.results_file}")
    return 0 if R.pages else 1


def _cleanup() -> None:
    for pgid in list(GROUPS):
        stop_group(pgid, 5)
    if S.keep_tmp:
        say(f"kept logs and caches in {TMP}")
    else:
        shutil.rmtree(TMP, ignore_errors=True)


def _on_signal(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_signal)
    code = 1
    try:
        code = main()
    except KeyboardInterrupt as exc:
        say(f"interrupted ({exc})")
        code = 130
    finally:
        _cleanup()
    sys.exit(code)
