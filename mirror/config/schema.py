"""The per-key validators and ``_SCHEMA``: every key of every section, its type(s), its check and a human
description of what it accepts (quoted back in a :class:`~mirror.core.errors.ConfigError`)."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from mirror.config.database_url import _DATABASE_URLS, database_url_problem
from mirror.config.model import _MIB, PUBLIC_INDEX_KEYWORD, StorageConfig
from mirror.core.fetch_rules import parse_host_rule

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
