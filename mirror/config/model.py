"""The configuration's frozen dataclasses: one per ``config.toml`` section, and :class:`Config`, the whole.

Every field's default is the built-in default of its key; what a key accepts is declared in
:mod:`mirror.config.schema`.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from mirror.config.database_url import mask_database_url

#: The keyword that means "the public index"; resolved by :func:`resolve_upstream_url`.
PUBLIC_INDEX_KEYWORD = "pypi"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    client_max_age: int = 600
    log_level: str = "info"
    workers: int = 1
    #: Seconds a connection may take to send a complete request's headers, counted from when it connected
    #: or from the end of its previous response; an idle kept-alive connection is closed after as long.
    header_timeout: float = 30.0
    #: "public": ``/explain/...`` answers anonymous clients (paths relative, no reviewer notes); "off": 404.
    explain: str = "public"
    #: Origins allowed to read tier pages and files from a browser (CORS); empty = no CORS headers.
    cors_origins: tuple[str, ...] = ()
    #: One line per request (method, path, status, bytes, duration, tier, cache result) on the log.
    access_log: bool = True
    #: "text": one human-readable line per record; "json": one JSON object per line (every log record).
    log_format: str = "text"


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    url: str = PUBLIC_INDEX_KEYWORD
    index_ttl: float = 600.0
    project_list_ttl: float = 3600.0
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    page_timeout: float = 60.0
    max_page_bytes: int = 256 * 1024 * 1024
    #: seconds after which a last good provenance copy upstream no longer confirms proves nothing
    provenance_max_stale: float = 24 * 3600.0
    file_timeout: float = 1800.0
    max_file_bytes: int = 10 * 1024**3
    file_hosts: tuple[str, ...] = ()
    #: background fetches of the pages installers ask for next (0: no prefetching). Off by default: measured with
    #: pip and uv on a cold mirror (bench/RESULTS.md, install phase), it never made an install faster.
    prefetch_concurrency: int = 0


_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """Where files are stored: under ``path`` on a local or shared file system (``url`` empty), or in an
    S3-compatible bucket (``url = "s3://bucket/prefix"``; ``path`` then holds temp files and the default
    SQLite database). Empty S3 settings fall back to the standard AWS environment variables and files."""

    path: Path = Path("cache")
    url: str = ""
    endpoint_url: str = ""
    region: str = ""
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    session_token: str = field(default="", repr=False)
    addressing_style: str = "auto"
    multipart_threshold: int = 16 * _MIB
    multipart_chunk_size: int = 16 * _MIB
    max_connections: int = 64
    #: S3: seconds to connect, seconds a read may wait, and attempts per request: a store that does not answer
    #: costs a request at most ``attempts × (connect_timeout + read_timeout)`` before it answers 503.
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    attempts: int = 2

    @property
    def backend(self) -> str:
        """``"s3"`` or ``"filesystem"``."""
        return "s3" if self.url.startswith("s3://") else "filesystem"

    @property
    def bucket(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def prefix(self) -> str:
        """The key prefix inside the bucket: empty, or ending in ``/``."""
        prefix = urlsplit(self.url).path.strip("/")
        return prefix + "/" if prefix else ""

    def describe(self) -> str:
        """Where files are stored, for banners and logs (never a credential)."""
        if self.backend == "s3":
            return f"{self.url} (endpoint {self.endpoint_url or 'from the AWS environment'})"
        return str(self.path)


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    """``[database]``: where pages, the audit log and the demand queue live, and how connections behave.

    ``url`` empty means a SQLite file under the storage path (:attr:`Config.database_url`). Its ``repr`` never
    shows a password.
    """

    url: str = ""
    #: Bring an older schema up to date at start-up instead of refusing to start (an empty database is always
    #: created at the current schema).
    auto_upgrade: bool = False
    #: Connections kept open per process, and how many more may be opened under load.
    pool_size: int = 5
    max_overflow: int = 10
    #: Seconds to wait for a free connection of the pool, to connect, and for one statement (PostgreSQL:
    #: the server's statement_timeout; SQLite: how long a statement waits for another writer's lock).
    pool_timeout: float = 30.0
    connect_timeout: float = 10.0
    statement_timeout: float = 60.0

    def __repr__(self) -> str:
        return (f"DatabaseConfig(url={mask_database_url(self.url)!r}, auto_upgrade={self.auto_upgrade!r}, "
                f"pool_size={self.pool_size!r}, max_overflow={self.max_overflow!r}, "
                f"pool_timeout={self.pool_timeout!r}, connect_timeout={self.connect_timeout!r}, "
                f"statement_timeout={self.statement_timeout!r})")


@dataclass(frozen=True, slots=True)
class PoliciesConfig:
    path: Path = Path("policies")
    #: Seconds between two looks at the policy directory (and at the database's policy change signal).
    reload_interval: float = 1.0


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """``[cluster]``: how processes and nodes sharing one database act as one mirror (leases on cold fetches,
    policy change signals). The defaults suit one machine and a LAN alike."""

    #: This node's name in leases, logs, ``/healthz`` and metrics; empty = the host name.
    node_name: str = ""
    #: Seconds a lease (one node fetching a cold page or file) lasts without its holder renewing it: a node
    #: that dies mid-fetch is taken over this long after its last renewal (renewed every third of it).
    lease_ttl: float = 10.0
    #: Longest pause, in seconds, between two looks of a waiting node at the lease it waits for.
    lease_poll: float = 0.5
    #: Seconds /readyz waits for the database and the store before answering "not ready".
    ready_timeout: float = 2.0
    #: Seconds in the Retry-After of a 503 (a request that needs the database or the store while it is down).
    retry_after: int = 5
    #: Longest pause, in seconds, between two attempts to reach the database and the store while a node that
    #: started without them waits (the pause grows from 0.5 s to this).
    reconnect_interval: float = 5.0


@dataclass(frozen=True, slots=True)
class DemandConfig:
    #: Most (tier, project, version) counters kept; beyond it the least requested, oldest are dropped.
    max_rows: int = 10_000


@dataclass(frozen=True, slots=True)
class WebConfig:
    """The browser UI and the admin API: who may read the UI, browser sessions, rate limits."""

    #: "public": the UI's pages answer anyone (reviewers' notes only after a login); "login": every UI page
    #: needs a login. The Simple API, files and ``/explain`` are never behind a login.
    access: str = "public"
    #: Hours a browser session lasts (never beyond its token's expiry).
    session_hours: float = 12.0
    #: Login attempts, and admin API requests, each client address may make per minute.
    login_per_minute: int = 10
    api_per_minute: int = 120
    #: "auto": session cookies are ``Secure`` on https requests; "always": on every request (behind a
    #: TLS-terminating proxy).
    secure_cookies: str = "auto"


@dataclass(frozen=True, slots=True)
class DependenciesConfig:
    #: Target environments dependency closures are computed for (``mirror promote --with-deps``, ``mirror
    #: prefetch``), like "3.12-linux-x86_64"; empty = the running Python on Linux x86_64.
    targets: tuple[str, ...] = ()
    #: The server counts the curated tiers' holes (for /healthz) this many seconds after start-up, then whenever
    #: the policies change and every ``holes_interval`` seconds.
    holes_delay: float = 60.0
    holes_interval: float = 900.0


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration; ``source`` is the file it came from (None on built-in defaults)."""

    server: ServerConfig = ServerConfig()
    upstream: UpstreamConfig = UpstreamConfig()
    storage: StorageConfig = StorageConfig()
    database: DatabaseConfig = DatabaseConfig()
    policies: PoliciesConfig = PoliciesConfig()
    demand: DemandConfig = DemandConfig()
    cluster: ClusterConfig = ClusterConfig()
    web: WebConfig = WebConfig()
    dependencies: DependenciesConfig = DependenciesConfig()
    source: Path | None = None

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL; by default a SQLite file under the storage path."""
        return self.database.url or f"sqlite+aiosqlite:///{self.storage.path / 'mirror.db'}"

    @property
    def database_settings(self) -> DatabaseConfig:
        """``[database]`` with :attr:`database_url` as its URL (the default SQLite file filled in)."""
        return replace(self.database, url=self.database_url)

    @property
    def node_name(self) -> str:
        """This node's name: ``[cluster] node_name``, else the host name."""
        return self.cluster.node_name or socket.gethostname()

    @property
    def upstream_url(self) -> str:
        """The upstream simple-index root URL, with the ``pypi`` keyword resolved, ending in ``/``."""
        return resolve_upstream_url(self.upstream.url)


def resolve_upstream_url(value: str) -> str:
    """Map the ``pypi`` keyword to the public index's simple endpoint; ensure a trailing slash."""
    if value == PUBLIC_INDEX_KEYWORD:
        from pypi_simple import (
            PYPI_SIMPLE_ENDPOINT,  # the maintained constant, not a literal host
        )

        value = PYPI_SIMPLE_ENDPOINT
    return value if value.endswith("/") else value + "/"
