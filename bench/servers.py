"""The servers under test: the mirror, the peers (proxpi, devpi), nginx and the fake upstream index.

Each starts on a free loopback port, records its start-up time and is tracked by the RSS sampler
until it stops. All are started through ``Context.procs`` and so are stopped on exit whatever happens.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time

from bench.context import Context
from bench.net import http_get
from bench.procs import child_pid, slug, tail, tree_pids
from bench.settings import REPO


def _answers(url: str, timeout: float = 1.0) -> bool:
    try:
        return http_get(url, timeout=timeout).status == 200
    except OSError:
        return False


class Mirror:
    """``python -m mirror serve`` with a temp config: loopback, its own storage and policies."""

    def __init__(self, ctx: Context, label: str, *, workers: int, upstream: str, storage: os.PathLike[str],
                 policies: os.PathLike[str], index_ttl: int | None = None, extra: tuple[str, ...] = (),
                 server_extra: tuple[str, ...] = ()) -> None:
        self.ctx, self.label, self.workers, self.upstream = ctx, label, workers, upstream
        self.storage, self.policies, self.index_ttl, self.extra = storage, policies, index_ttl, extra
        self.server_extra = server_extra
        self.slug = slug(label)
        self.dir = ctx.tmp / self.slug
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def rss_label(self) -> str:
        return f"mirror ({self.label})"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def index(self, tier: str = "all") -> str:
        return f"{self.base}/{tier}/simple/"

    def config_text(self) -> str:
        s = self.ctx.settings
        lines = ["[server]", 'host = "127.0.0.1"', f"port = {self.port}", f"workers = {self.workers}"]
        if s.log_level:
            lines.append(f'log_level = "{s.log_level}"')
        lines += list(self.server_extra)
        lines += ["", "[upstream]", f'url = "{self.upstream}"']
        if self.index_ttl is not None:
            lines.append(f"index_ttl = {self.index_ttl}")
        lines += list(self.extra)
        lines += ["", "[storage]", f'path = "{self.storage}"', "", "[policies]", f'path = "{self.policies}"']
        # The holes count (every vetted release's dependencies, read by downloading its wheels) is background
        # work the phases do not measure: started after HOLES_DELAY seconds (0 shows its effect on them).
        lines += ["", "[dependencies]", f"holes_delay = {s.holes_delay}"]
        return "\n".join(lines) + "\n"

    def start(self) -> float:
        """Start and wait for a 200 on /healthz; returns the seconds it took. Fatal if it never answers."""
        ctx = self.ctx
        self.port = ctx.free_port(ctx.settings.mirror_port)
        config = self.dir / "config.toml"
        config.write_text(self.config_text())
        ctx.say(f"starting mirror '{self.label}' (workers={self.workers}) on 127.0.0.1:{self.port}")
        started = time.perf_counter()
        self.proc = ctx.procs.spawn(self.slug, [ctx.python, "-m", "mirror", "serve", "--config", str(config)],
                                    seconds=ctx.budget.remaining(), cwd=REPO)
        end = time.monotonic() + ctx.settings.start_timeout
        while time.monotonic() < end and self.proc.poll() is None:
            if _answers(f"{self.base}/healthz"):
                elapsed = time.perf_counter() - started
                ctx.results.startup[self.rss_label] = elapsed
                ctx.rss.track(self.rss_label, child_pid(self.proc.pid))
                ctx.say(f"  ready in {elapsed:.2f}s")
                return elapsed
            time.sleep(0.01)
        log = ctx.procs.log_text(self.slug)
        ctx.die(f"mirror '{self.label}' did not answer /healthz within {ctx.settings.start_timeout}s\n{tail(log, 30)}")

    def root_pid(self) -> int | None:
        """The mirror's own process (the child of ``timeout``)."""
        return child_pid(self.proc.pid) if self.proc is not None else None

    def server_pids(self) -> list[int]:
        """The processes answering requests: the workers (or the single server process)."""
        root = self.root_pid()
        if root is None:
            return []
        pids = tree_pids(root)
        return pids[1:] if self.workers > 1 and len(pids) > 1 else [root]

    def stop(self) -> None:
        if self.proc is not None:
            self.ctx.rss.untrack(self.rss_label)
            self.ctx.say(f"stopping mirror '{self.label}'")
            self.ctx.procs.stop_group(self.proc.pid, 10, self.ctx.say)
            self.proc = None


class Peer:
    """proxpi or devpi, started and stopped by its script in bench/peers/ (state in PEERS_HOME)."""

    def __init__(self, ctx: Context, name: str, port: int, key: str, health: str, index: str) -> None:
        self.ctx, self.name, self.pref_port, self.key = ctx, name, port, key
        self.health, self.index_path = health, index
        self.base: str | None = None
        self.pgid: int | None = None
        self.started = False
        self.port = 0

    @property
    def script(self) -> str:
        return str(self.ctx.settings.peers / f"start_{self.name}.sh")

    def start(self, upstream: str | None = None, label: str | None = None) -> None:
        """Start it (``upstream``: another index than the public one); on failure a note, and base stays None."""
        ctx, s = self.ctx, self.ctx.settings
        label = label or self.name
        self.port = ctx.free_port(self.pref_port)
        env = {k: v for k, v in os.environ.items() if k not in ("THREADS", "DURATION", "CONNS", "PORT")}
        env.update(PORT=str(self.port), PEERS_HOME=str(s.peers_home))
        if upstream:
            env["UPSTREAM"] = upstream
        ctx.say(f"starting {label} on 127.0.0.1:{self.port} (the first start pip-installs it into {s.peers_home}/venv)")
        self.started = True
        health_at: list[float] = []
        started = time.perf_counter()
        stop_poll = threading.Event()
        health_url = f"http://127.0.0.1:{self.port}{self.health}"

        def poll() -> None:  # time to the first 200 on the health URL, while the start script runs
            while not stop_poll.is_set():
                if _answers(health_url):
                    health_at.append(time.perf_counter() - started)
                    return
                time.sleep(0.05)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        ran = ctx.procs.run(f"{label}.start".replace(" ", "_"), ["bash", self.script, "start"],
                            seconds=ctx.budget.limit(s.peer_start_timeout), env=env, keep_group=True)
        poller.join(5)
        stop_poll.set()
        self.pgid = ran.pgid
        base = None
        for line in ran.out.splitlines():
            if line.startswith(f"{self.key}="):
                base = line.split()[0].split("=", 1)[1]
        healthy = _answers(health_url, timeout=5)
        if ran.rc == 0 and base and healthy:
            self.base = base
        elif ran.rc != 124 and healthy:
            self.base = f"http://127.0.0.1:{self.port}{self.index_path}"
            ctx.note(f"{label}: its start script failed (exit {ran.rc}) but the server answers {self.health}: "
                     "benchmarked anyway")
        else:
            ctx.note(f"{label} failed to start (exit {ran.rc}): skipped\n{tail(ran.err, 10)}\n{tail(ran.out, 5)}")
            self.stop()
            return
        if health_at:
            ctx.results.startup[label] = health_at[0]
        pid = self.pid()
        if pid:
            ctx.rss.track(label, pid)
        ctx.say(f"{label} ready: {self.base}")

    def pid(self) -> int | None:
        try:
            return int((self.ctx.settings.peers_home / f".{self.name}.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        if not self.started:
            return
        ctx = self.ctx
        for label in list(ctx.rss.roots):
            if label.startswith(self.name):
                ctx.rss.untrack(label)
        ctx.say(f"stopping {self.name}")
        env = dict(os.environ, PEERS_HOME=str(ctx.settings.peers_home))
        ctx.procs.run(f"{self.name}.stop", ["bash", self.script, "stop"], seconds=30, env=env)
        if self.pgid:
            ctx.procs.stop_group(self.pgid, 10, ctx.say)
        self.started, self.pgid, self.base = False, None, None


def proxpi(ctx: Context) -> Peer:
    return Peer(ctx, "proxpi", ctx.settings.proxpi_port, "PROXPI_URL", "/health", "/index/")


def devpi(ctx: Context) -> Peer:
    return Peer(ctx, "devpi", ctx.settings.devpi_port, "DEVPI_URL", "/+api", "/root/pypi/+simple/")


_NGINX_CONF = """worker_processes 1; pid {r}/nginx.pid; error_log {r}/error.log; daemon off;
events {{ worker_connections 1024; }}
http {{
  access_log off; sendfile on; tcp_nopush on;
  types {{ text/html html; application/vnd.pypi.simple.v1+json json; }}
  default_type application/octet-stream;
  client_body_temp_path {r}/tmp; proxy_temp_path {r}/tmp; fastcgi_temp_path {r}/tmp;
  uwsgi_temp_path {r}/tmp; scgi_temp_path {r}/tmp;
  map $http_accept $idx {{ ~application/vnd\\.pypi\\.simple\\.v1\\+json index.json; default index.html; }}
  server {{ listen 127.0.0.1:{port}; root {r}/www; location / {{ try_files $uri$idx $uri =404; }} }}
}}
"""


class Nginx:
    """nginx serving static copies (the config of bench/peers/bench_static_ceiling.sh, plus files)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.root = ctx.tmp / "nginx"
        self.www = self.root / "www"
        self.www.mkdir(parents=True)
        (self.root / "tmp").mkdir()
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def running(self) -> bool:
        return self.proc is not None

    def add_page(self, project: str, html: bytes, js: bytes) -> None:
        d = self.www / project
        d.mkdir(exist_ok=True)
        (d / "index.html").write_bytes(html)
        (d / "index.json").write_bytes(js)

    def start(self) -> None:
        ctx = self.ctx
        self.port = ctx.free_port(ctx.settings.nginx_port)
        (self.root / "nginx.conf").write_text(_NGINX_CONF.format(r=self.root, port=self.port))
        started = time.perf_counter()
        self.proc = ctx.procs.spawn("nginx", ["nginx", "-c", str(self.root / "nginx.conf"), "-p", str(self.root)],
                                    seconds=ctx.budget.remaining())
        for _ in range(100):
            try:
                http_get(self.base, timeout=1)
            except OSError:
                time.sleep(0.05)
                continue
            ctx.results.startup["nginx"] = time.perf_counter() - started
            ctx.rss.track("nginx", child_pid(self.proc.pid))
            return
        ctx.note(f"nginx did not start: {tail(ctx.procs.log_text('nginx'))}")
        self.stop()

    def stop(self) -> None:
        if self.proc is not None:
            self.ctx.rss.untrack("nginx")
            self.ctx.procs.stop_group(self.proc.pid, 5, self.ctx.say)
            self.proc = None


class FakeIndex:
    """``python -m bench.fake_index`` (a local upstream on loopback) with the given arguments."""

    def __init__(self, ctx: Context, args: list[str], label: str = "fake upstream") -> None:
        self.ctx, self.args, self.label = ctx, args, label
        self.slug = slug(label)
        self.url = ""  # the simple root, ending in /
        self.control = ""  # the control root (POST /touch/<project>), ending in /
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 180) -> bool:
        """Start it and wait for its ``FAKE_URL=`` line; on failure a note and False."""
        ctx = self.ctx
        self.proc = ctx.procs.spawn(self.slug, [ctx.python, "-m", "bench.fake_index", *self.args],
                                    seconds=ctx.budget.remaining(), cwd=REPO)
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.proc.poll() is None:
            m = re.search(r"FAKE_URL=(\S+) CONTROL=(\S+)", ctx.procs.log_text(self.slug))
            if m:
                self.url, self.control = m.group(1), m.group(2)
                ctx.rss.track(self.label, child_pid(self.proc.pid))
                return True
            time.sleep(0.1)
        ctx.note(f"{self.label} did not start: {tail(ctx.procs.log_text(self.slug))}")
        self.stop()
        return False

    def stop(self) -> None:
        if self.proc is not None:
            self.ctx.rss.untrack(self.label)
            self.ctx.procs.stop_group(self.proc.pid, 5, self.ctx.say)
            self.proc = None
