"""``config.toml`` → a frozen :class:`Config`.

Every key is declared once in ``_SCHEMA`` with its type, default and allowed values, so an unknown key, a
wrong type or a bad value is reported with the file, line and key, and what would be accepted.
Relative paths are resolved against the directory of the config file (or the working directory when
running on built-in defaults).
"""

from __future__ import annotations

import importlib.util
import re
import socket
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mirror.core.errors import ConfigError
from mirror.core.fetch_rules import parse_host_rule

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


# --- validation -----------------------------------------------------------------------------------

Check = Callable[[Any], str | None]  # returns a problem description, or None when the value is fine


def _positive(value: Any) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _non_negative(value: Any) -> str | None:
    return None if value >= 0 else "must be 0 or more"


def _max_stale(value: Any) -> str | None:
    # Below the 10-minute re-verification period a fresh copy would already count as stale.
    return None if value >= 600 else "must be at least 600 (the provenance re-verification period)"


def _port(value: Any) -> str | None:
    return None if 0 <= value <= 65535 else "must be between 0 and 65535"


def _prefetch(value: Any) -> str | None:
    return None if 0 <= value <= 32 else "must be between 0 and 32"


def _workers(value: Any) -> str | None:
    return None if 1 <= value <= 64 else "must be between 1 and 64"


def _upstream_url(value: Any) -> str | None:
    if value == PUBLIC_INDEX_KEYWORD:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"must be {PUBLIC_INDEX_KEYWORD!r} or an http(s) URL of a simple index"
    return None


def _file_hosts(value: Any) -> str | None:
    for entry in value:
        if not isinstance(entry, str):
            return f"every entry must be a string, not {type(entry).__name__}"
        try:
            parse_host_rule(entry)
        except ValueError as exc:
            return str(exc)
    return None


#: database backend → (the async driver the mirror uses, the package that provides it, the extra that installs it)
_DRIVERS = {"sqlite": ("aiosqlite", "aiosqlite", None), "postgresql": ("asyncpg", "asyncpg", "postgres")}
_DATABASE_URLS = ("empty (SQLite under the storage path), sqlite+aiosqlite:///PATH, or "
                  "postgresql+asyncpg://USER:PASSWORD@HOST[:PORT]/DATABASE")


def mask_database_url(url: str) -> str:
    """``url`` as it may be shown anywhere (banner, log, error): the password replaced by ``***``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        if "@" not in (parsed.host or ""):
            return parsed.render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        pass
    # Not a URL SQLAlchemy reads as meant (e.g. an unescaped "@" in the password): drop everything that
    # could be credentials, up to the last "@".
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***"
    _credentials, at, place = rest.rpartition("@")
    return f"{scheme}://***@{place}" if at else url


def normalize_database_url(url: str) -> str:
    """The async-driver form of a supported URL: ``sqlite://...`` and ``postgresql://...`` name their driver
    (aiosqlite, asyncpg); any other URL is returned unchanged (:func:`database_url_problem` judges it)."""
    for backend, (driver, _package, _extra) in _DRIVERS.items():
        if url.startswith(f"{backend}://"):
            return f"{backend}+{driver}://" + url[len(backend) + 3:]
    return url


def database_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be used (unsupported database or driver, or the driver's package is not installed,
    naming the extra that installs it), or None. The text never contains the URL."""
    import importlib.util

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(normalize_database_url(url))
    except (ArgumentError, ValueError):
        return "not a database URL"
    if "@" in (parsed.host or ""):
        return 'a user name or password with "@" (or ":" or "/") must be percent-encoded: "@" as %40'
    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        return f"unsupported database {backend!r}: the mirror runs on SQLite or PostgreSQL"
    driver, package, extra = _DRIVERS[backend]
    if parsed.get_driver_name() != driver:
        return f"unsupported driver {parsed.get_driver_name()!r}: use {backend}+{driver}://"
    if backend == "postgresql" and not parsed.database:
        return "names no database: postgresql+asyncpg://USER:PASSWORD@HOST[:PORT]/DATABASE"
    if importlib.util.find_spec(package) is None:
        how = f"pip install 'mirror[{extra}]'" if extra else f"pip install {package}"
        return f"{backend} needs the {package} driver, which is not installed: {how}"
    return None


def _database_url(value: Any) -> str | None:
    if value == "":
        return None
    if re.match(r"^sqlite(\+aiosqlite)?://(/(:memory:)?)?(\?|$)", value):
        return "names no database file (an in-memory database would lose everything at exit)"
    return database_url_problem(value)


def _pool_size(value: Any) -> str | None:
    return None if 1 <= value <= 1000 else "must be between 1 and 1000"


def _max_overflow(value: Any) -> str | None:
    return None if 0 <= value <= 1000 else "must be between 0 and 1000"


def _timeout(value: Any) -> str | None:
    return None if 0 < value <= 86400 else "must be greater than 0 and at most 86400"


_LOG_LEVELS = ("debug", "info", "warning", "error")
_LOG_FORMATS = ("text", "json")
_WEB_ACCESS = ("public", "login")
_SECURE_COOKIES = ("auto", "always")
_EXPLAIN_MODES = ("public", "off")


def _header_timeout(value: Any) -> str | None:
    return None if 0 < value <= 3600 else "must be greater than 0 and at most 3600"


def _explain(value: Any) -> str | None:
    return None if value in _EXPLAIN_MODES else "unknown mode"


def _cors_origins(value: Any) -> str | None:
    for origin in value:
        if not isinstance(origin, str):
            return f"{origin!r} is not a string"
        if origin == "*":
            continue
        parts = urlsplit(origin)
        if (parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query
                or parts.fragment or parts.username or parts.password):
            return f"{origin!r} is not \"*\" nor an origin such as \"https://tools.example.org\""
    return None


def _max_rows(value: Any) -> str | None:
    return None if 1 <= value <= 10_000_000 else "must be between 1 and 10000000"


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ADDRESSING_STYLES = ("auto", "path", "virtual")


def _storage_url(value: Any) -> str | None:
    if value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme != "s3" or not _BUCKET.match(parts.netloc) or ".." in parts.netloc or parts.query \
            or parts.fragment or "//" in parts.path:
        return 'must be empty (files under path) or "s3://bucket" or "s3://bucket/prefix"'
    if importlib.util.find_spec("aiobotocore") is None:
        return "S3 storage needs the s3 extra: pip install 'mirror[s3]'"
    return None


def _endpoint_url(value: Any) -> str | None:
    if value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return "must be an http(s) URL without credentials (they go in access_key_id and secret_access_key)"
    return None


def _addressing_style(value: Any) -> str | None:
    return None if value in _ADDRESSING_STYLES else "unknown addressing style"


def _part_size(value: Any) -> str | None:
    # S3's own bounds: every part but the last at least 5 MiB, at most 5 GiB.
    return None if 5 * _MIB <= value <= 5 * 1024 * _MIB else "must be between 5 MiB (5242880) and 5 GiB"


def _max_connections(value: Any) -> str | None:
    return None if 1 <= value <= 1024 else "must be between 1 and 1024"


def _storage_problem(storage: StorageConfig) -> tuple[str, str] | None:
    """(key, problem) when the ``[storage]`` keys contradict each other."""
    if storage.backend != "s3":
        for key in ("endpoint_url", "region", "access_key_id", "secret_access_key", "session_token"):
            if getattr(storage, key):
                return key, 'has no effect without url = "s3://bucket/prefix"'
    if bool(storage.access_key_id) != bool(storage.secret_access_key):
        key = "secret_access_key" if storage.access_key_id else "access_key_id"
        return key, "access_key_id and secret_access_key are set together (or both left to the environment)"
    if storage.session_token and not storage.access_key_id:
        return "session_token", "needs access_key_id and secret_access_key"
    return None


def _web_access(value: Any) -> str | None:
    return None if value in _WEB_ACCESS else "unknown mode"


def _secure_cookies(value: Any) -> str | None:
    return None if value in _SECURE_COOKIES else "unknown mode"


def _session_hours(value: Any) -> str | None:
    return None if 0 < value <= 24 * 30 else "must be greater than 0 and at most 720 (30 days)"


def _per_minute(value: Any) -> str | None:
    return None if 1 <= value <= 100_000 else "must be between 1 and 100000"
def _targets(value: Any) -> str | None:
    from mirror.core.targets import Target, TargetError

    if not all(isinstance(v, str) for v in value):
        return "every target must be a string"
    for text in value:
        try:
            Target.parse(text)
        except TargetError as exc:
            return str(exc)
    return None


def _log_level(value: Any) -> str | None:
    return None if value in _LOG_LEVELS else "unknown log level"


def _log_format(value: Any) -> str | None:
    return None if value in _LOG_FORMATS else "unknown log format"


def _node_name(value: Any) -> str | None:
    return None if re.match(r"^[A-Za-z0-9._-]{0,63}$", value) else "at most 63 letters, digits, '.', '_' or '-'"


def _lease_ttl(value: Any) -> str | None:
    return None if 1 <= value <= 600 else "must be between 1 and 600"


def _lease_poll(value: Any) -> str | None:
    return None if 0.01 <= value <= 10 else "must be between 0.01 and 10"


def _attempts(value: Any) -> str | None:
    return None if 1 <= value <= 10 else "must be between 1 and 10"


def _retry_after(value: Any) -> str | None:
    return None if 1 <= value <= 3600 else "must be between 1 and 3600"


def _interval(value: Any) -> str | None:
    return None if 0.05 <= value <= 3600 else "must be between 0.05 and 3600"


# section -> key -> (python type(s), check, human description of what is allowed)
_SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], Check | None, str]]] = {
    "server": {
        "host": ((str,), None, "a host name or IP address"),
        "port": ((int,), _port, "an integer 0-65535 (0 = any free port)"),
        "client_max_age": ((int,), _non_negative, "seconds, an integer >= 0"),
        "log_level": ((str,), _log_level, ", ".join(_LOG_LEVELS)),
        "workers": ((int,), _workers, "an integer 1-64"),
        "header_timeout": ((int, float), _header_timeout, "seconds, a number > 0 and <= 3600"),
        "explain": ((str,), _explain, ", ".join(_EXPLAIN_MODES)),
        "cors_origins": ((list,), _cors_origins, 'a list of origins ("https://host[:port]"), or ["*"]'),
        "access_log": ((bool,), None, "true or false"),
        "log_format": ((str,), _log_format, ", ".join(_LOG_FORMATS)),
    },
    "upstream": {
        "url": ((str,), _upstream_url, f"{PUBLIC_INDEX_KEYWORD!r} or an http(s) simple-index URL"),
        "index_ttl": ((int, float), _non_negative, "seconds, a number >= 0"),
        "project_list_ttl": ((int, float), _non_negative, "seconds, a number >= 0"),
        "connect_timeout": ((int, float), _positive, "seconds, a number > 0"),
        "read_timeout": ((int, float), _positive, "seconds, a number > 0"),
        "page_timeout": ((int, float), _positive, "seconds, a number > 0"),
        "max_page_bytes": ((int,), _positive, "bytes, an integer > 0"),
        "provenance_max_stale": ((int, float), _max_stale, "seconds, a number >= 600 (default 86400: 24 h)"),
        "file_timeout": ((int, float), _positive, "seconds, a number > 0"),
        "max_file_bytes": ((int,), _positive, "bytes, an integer > 0"),
        "prefetch_concurrency": ((int,), _prefetch, "an integer 0-32 (0 turns prefetching off)"),
        "file_hosts": ((list,), _file_hosts, 'a list of hosts such as ["files.example.org", "10.0.0.5:8080", '
                                             '"https://cdn.example.org"]'),
    },
    "storage": {
        "path": ((str,), None, "a directory path"),
        "url": ((str,), _storage_url, 'empty (files under path), or "s3://bucket/prefix" (S3-compatible storage)'),
        "endpoint_url": ((str,), _endpoint_url, "empty (AWS, or AWS_ENDPOINT_URL), or the S3 endpoint's http(s) URL"),
        "region": ((str,), None, "a region name, or empty (AWS_REGION / AWS_DEFAULT_REGION)"),
        "access_key_id": ((str,), None, "an access key id, or empty (the AWS environment)"),
        "secret_access_key": ((str,), None, "a secret key, or empty (the AWS environment)"),
        "session_token": ((str,), None, "a session token, or empty"),
        "addressing_style": ((str,), _addressing_style, ", ".join(_ADDRESSING_STYLES)),
        "multipart_threshold": ((int,), _part_size, "bytes, 5 MiB - 5 GiB"),
        "multipart_chunk_size": ((int,), _part_size, "bytes, 5 MiB - 5 GiB"),
        "max_connections": ((int,), _max_connections, "an integer 1-1024"),
        "connect_timeout": ((int, float), _timeout, "seconds, a number > 0"),
        "read_timeout": ((int, float), _timeout, "seconds, a number > 0"),
        "attempts": ((int,), _attempts, "an integer 1-10"),
    },
    "database": {
        "url": ((str,), _database_url, _DATABASE_URLS),
        "auto_upgrade": ((bool,), None, "true or false"),
        "pool_size": ((int,), _pool_size, "an integer 1-1000"),
        "max_overflow": ((int,), _max_overflow, "an integer 0-1000"),
        "pool_timeout": ((int, float), _timeout, "seconds, a number > 0"),
        "connect_timeout": ((int, float), _timeout, "seconds, a number > 0"),
        "statement_timeout": ((int, float), _timeout, "seconds, a number > 0"),
    },
    "policies": {
        "path": ((str,), None, "a directory path"),
        "reload_interval": ((int, float), _interval, "seconds, a number 0.05-3600"),
    },
    "demand": {"max_rows": ((int,), _max_rows, "an integer 1-10000000")},
    "cluster": {
        "node_name": ((str,), _node_name, "empty (the host name) or a name of letters, digits, '.', '_', '-'"),
        "lease_ttl": ((int, float), _lease_ttl, "seconds, a number 1-600"),
        "lease_poll": ((int, float), _lease_poll, "seconds, a number 0.01-10"),
        "ready_timeout": ((int, float), _timeout, "seconds, a number > 0"),
        "retry_after": ((int,), _retry_after, "seconds, an integer 1-3600"),
        "reconnect_interval": ((int, float), _interval, "seconds, a number 0.05-3600"),
    },
    "web": {
        "access": ((str,), _web_access, ", ".join(_WEB_ACCESS)),
        "session_hours": ((int, float), _session_hours, "hours, a number > 0 and <= 720"),
        "login_per_minute": ((int,), _per_minute, "an integer 1-100000"),
        "api_per_minute": ((int,), _per_minute, "an integer 1-100000"),
        "secure_cookies": ((str,), _secure_cookies, ", ".join(_SECURE_COOKIES)),
    },
    "dependencies": {"targets": ((list,), _targets, 'a list of targets like "3.12-linux-x86_64", '
                                                    '"3.11-macos-arm64", "pypy3.10-linux-aarch64"'),
                     "holes_delay": ((int, float), _non_negative, "seconds, a number >= 0"),
                     "holes_interval": ((int, float), _positive, "seconds, a number > 0")},
}

_SECTION_TYPES = {
    "server": ServerConfig,
    "upstream": UpstreamConfig,
    "storage": StorageConfig,
    "database": DatabaseConfig,
    "policies": PoliciesConfig,
    "demand": DemandConfig,
    "cluster": ClusterConfig,
    "web": WebConfig,
    "dependencies": DependenciesConfig,
}


def _frozen_value(value: Any) -> Any:
    """A TOML array as a tuple (config objects are frozen); any other value unchanged."""
    return tuple(value) if isinstance(value, list) else value


def _line_of(text: str, section: str, key: str | None) -> int | None:
    """Best-effort line number of ``key`` in ``[section]`` (or of the section header)."""
    current = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = re.match(r"^\[\s*([A-Za-z0-9_.-]+)\s*\]", line)
        if header:
            current = header.group(1)
            if key is None and current == section:
                return number
            continue
        if key is not None and current == section and re.match(rf"^{re.escape(key)}\s*=", line):
            return number
    return None


def default_config() -> Config:
    """The built-in defaults, paths relative to the working directory."""
    return _resolve_paths(Config(), Path.cwd(), None)


def load_config(path: Path | None = None, *, default_path: Path = Path("config.toml")) -> Config:
    """Read and validate a config file.

    With ``path`` None, reads ``default_path`` when it exists and otherwise returns the built-in
    defaults (paths relative to the working directory). Raises :class:`ConfigError` naming the file,
    line and key of the first problem found; an explicitly given file that does not exist is an error.
    """
    if path is None:
        if not default_path.is_file():
            return default_config()
        path = default_path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), None, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), None, f"cannot read file: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python < 3.14 has no lineno attribute; the message always ends "(at line N, column M)".
        found = re.search(r"at line (\d+)", str(exc))
        line = getattr(exc, "lineno", None) or (int(found.group(1)) if found else None)
        raise ConfigError(str(path), None, f"invalid TOML: {exc}", line=line) from None
    return parse_config(data, text=text, source=path)


def parse_config(data: dict[str, Any], *, text: str = "", source: Path | None = None) -> Config:
    """Validate already-parsed TOML data; see :func:`load_config` for the errors raised."""
    file = str(source) if source else "<config>"
    sections: dict[str, Any] = {}
    for section, values in data.items():
        if section not in _SCHEMA:
            raise ConfigError(file, section, "unknown section", line=_line_of(text, section, None),
                              allowed=", ".join(f"[{s}]" for s in _SCHEMA))
        if not isinstance(values, dict):
            raise ConfigError(file, section, "must be a table", allowed=f"[{section}]")
        fields: dict[str, Any] = {}
        for key, value in values.items():
            dotted = f"{section}.{key}"
            spec = _SCHEMA[section].get(key)
            if spec is None:
                raise ConfigError(file, dotted, "unknown key", line=_line_of(text, section, key),
                                  allowed=", ".join(_SCHEMA[section]))
            types, check, allowed = spec
            # bool is an int subclass in Python; a TOML boolean is never a valid number here.
            if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
                raise ConfigError(file, dotted, f"wrong type {type(value).__name__}",
                                  line=_line_of(text, section, key), allowed=allowed)
            problem = check(value) if check else None
            if problem:
                shown = mask_database_url(str(value)) if dotted == "database.url" else value
                raise ConfigError(file, dotted, f"bad value {shown!r}: {problem}",
                                  line=_line_of(text, section, key), allowed=allowed)
            fields[key] = Path(str(value)) if key == "path" else _frozen_value(value)
        sections[section] = _SECTION_TYPES[section](**fields)
        if section == "storage":
            contradiction = _storage_problem(sections[section])
            if contradiction:
                key, why = contradiction
                raise ConfigError(file, f"storage.{key}", why, line=_line_of(text, section, key))
    base = source.resolve().parent if source else Path.cwd()
    return _resolve_paths(Config(**sections, source=source), base, source)


def _resolve_paths(config: Config, base: Path, source: Path | None) -> Config:
    storage = replace(config.storage, path=(base / config.storage.path).resolve())
    policies = replace(config.policies, path=(base / config.policies.path).resolve())
    database = replace(config.database, url=normalize_database_url(config.database.url))
    # A relative SQLite path is relative to the config file too, like every other path.
    match = re.match(r"^(sqlite(?:\+\w+)?:///)(?!/)(.+)$", database.url)
    if match:
        database = replace(database, url=f"{match.group(1)}{(base / match.group(2)).resolve()}")
    return replace(config, storage=storage, database=database, policies=policies, source=source)
