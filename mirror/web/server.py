"""Running the server: one process, or several worker processes sharing the port (SO_REUSEPORT).

Workers share the database (SQLite in WAL mode), the file cache (content-addressed, atomic renames) and
the policy directory; each keeps its own prepared pages. They fetch each cold page or file once between them,
as nodes do (leases in the database), and keep their metrics in one directory that ``/metrics`` on any of them
sums (created here before they fork, removed when they have all exited).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile

from aiohttp import web

from mirror.config import Config, mask_database_url
from mirror.core.errors import MirrorError

log = logging.getLogger("mirror")


class ListenError(MirrorError):
    """The server cannot listen where it was told to (the port is in use, the address is not this host's)."""


def listen_error(host: str, port: int, exc: OSError) -> ListenError:
    """One line saying why ``host:port`` cannot be listened on, and what to do."""
    if exc.errno == errno.EADDRINUSE:
        why = "the port is in use (is another server running there?); choose another with --port or [server] port"
    elif exc.errno == errno.EACCES:
        why = "permission denied (ports below 1024 need privileges); choose another with --port or [server] port"
    elif exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        why = f"{exc.strerror or 'no such address'} on this machine; set --host or [server] host"
    else:
        why = exc.strerror or str(exc)
    return ListenError(f"cannot listen on {host}:{port}: {why}")


def check_listen(host: str, port: int) -> None:
    """Bind ``host:port`` once and let it go: ListenError now rather than in every worker."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}; set --host or [server] host") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise listen_error(host, port, exc) from None


def banner(config: Config, port: int) -> str:
    """What ``mirror serve`` prints at start: where it listens, upstream, cache, and each tier's URL."""
    host = config.server.host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://{shown}:{port}"
    lines = [
        f"mirror listening on http://{host}:{port} ({config.server.workers} worker"
        f"{'s' if config.server.workers > 1 else ''})",
        f"  upstream:  {config.upstream_url} (config: {config.upstream.url!r})",
        f"  files:     {config.storage.describe()}",
        f"  database:  {mask_database_url(config.database_url)}",
        f"  policies:  {config.policies.path}",
        f"  node:      {config.node_name}",
        f"  config:    {config.source or 'built-in defaults'}",
        f"  web UI:    {base}/  (admin API {base}/api/v1/, tokens: mirror token create --name NAME)",
        "  tiers:",
    ]
    for tier in ("all", "reviewed", "vetted"):
        url = f"{base}/{tier}/simple/"
        lines += [f"    {tier:9s} {url}",
                  f"      pip install --index-url {url} PACKAGE",
                  f"      uv pip install --index-url {url} PACKAGE"]
    return "\n".join(lines)


def _listen(config: Config, *, reuse_port: bool) -> socket.socket:
    """The listening socket (the stand-in of a node waiting for its database and store, then the server, answer
    on it in turn); ConfigError naming ``server.port`` when it cannot be bound."""
    host = config.server.host or "0.0.0.0"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, config.server.port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise listen_error(config.server.host, config.server.port, exc) from None
    return sock


async def _serve(config: Config, *, reuse_port: bool, announce: bool) -> None:
    from mirror.web import create_app  # the server's imports are only paid by `serve`
    from mirror.web.access import runner_options
    from mirror.web.waiting import wait_for_dependencies

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    bound: list[socket.socket] = []

    def listen() -> socket.socket:
        """Bind (once) and announce."""
        if not bound:
            bound.append(_listen(config, reuse_port=reuse_port))
            if announce:
                print(banner(config, bound[0].getsockname()[1]), flush=True)
        return bound[0]

    try:
        # A node whose database or store cannot be reached yet listens and waits for them (/readyz 503); one
        # whose configuration is wrong for good (a missing bucket, refused credentials) stops here.
        if not await wait_for_dependencies(config, listen, stop):
            return
        app = create_app(config)
        # aiohttp arms its keep-alive timer when a connection is made and again when a response ends, and closes
        # the connection if it fires while no complete request has arrived: so header_timeout bounds both a
        # client that never finishes its request headers (slowloris) and an idle kept-alive connection.
        runner = web.AppRunner(app, handle_signals=False, keepalive_timeout=config.server.header_timeout,
                               **runner_options(app))  # type: ignore[arg-type]
        await runner.setup()
        try:
            sock = listen()
            await web.SockSite(runner, sock, backlog=1024).start()
            await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        for sock in bound:
            sock.close()


def _run(config: Config, *, reuse_port: bool, announce: bool) -> None:
    # The standard event loop on purpose: aiohttp sends cached files with loop.sendfile (zero copy),
    # which uvloop does not implement (it falls back to reading chunks in threads: ~2x slower).
    asyncio.run(_serve(config, reuse_port=reuse_port, announce=announce))


def run_server(config: Config) -> int:
    """Serve until SIGINT/SIGTERM; with ``workers`` > 1, fork that many processes sharing the port."""
    workers = config.server.workers
    if workers <= 1:
        _run(config, reuse_port=False, announce=True)
        return 0
    check_listen(config.server.host, config.server.port)  # the workers share the port: it must be free
    print(banner(config, config.server.port), flush=True)
    # The workers' metrics go to files in one directory, read by /metrics on any worker (prometheus-client's
    # multiprocess mode); a directory the operator set is used as it is, but emptied of a previous run's files.
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    own_dir = metrics_dir is None
    if metrics_dir is None:
        metrics_dir = tempfile.mkdtemp(prefix="mirror-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    else:
        for stale in os.listdir(metrics_dir):
            if stale.endswith(".db"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(metrics_dir, stale))
    try:
        return _run_workers(config, workers)
    finally:
        if own_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _run_workers(config: Config, workers: int) -> int:
    """Fork ``workers`` processes serving ``config`` and wait for them; 1 if any failed."""
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # child: serve, never return into the parent's code
            code = 0
            try:
                _run(config, reuse_port=True, announce=False)
            except BaseException:  # noqa: BLE001 - report and exit the child
                log.exception("worker %d failed", os.getpid())
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for child in children:
        while True:
            try:
                _, code = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
        if os.waitstatus_to_exitcode(code) not in (0, -signal.SIGTERM):
            status = 1
    return status
