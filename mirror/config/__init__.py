"""``config.toml`` → a frozen :class:`Config`.

Every key is declared once in ``_SCHEMA`` with its type, default and allowed values, so an unknown key, a
wrong type or a bad value is reported with the file, line and key, and what would be accepted.
Relative paths are resolved against the directory of the config file (or the working directory when
running on built-in defaults).

The modules: :mod:`.model` (the dataclasses), :mod:`.schema` (the per-key validators and ``_SCHEMA``),
:mod:`.database_url` (supported database URLs, their problems, masking) and :mod:`.load` (reading, parsing,
line-finding, path resolution). Import from ``mirror.config``: it re-exports every public name.
"""

from mirror.config.database_url import database_url_problem, mask_database_url, normalize_database_url
from mirror.config.load import default_config, load_config, parse_config
from mirror.config.model import (
    PUBLIC_INDEX_KEYWORD,
    ClusterConfig,
    Config,
    DatabaseConfig,
    DemandConfig,
    DependenciesConfig,
    PoliciesConfig,
    ServerConfig,
    StorageConfig,
    UpstreamConfig,
    WebConfig,
    resolve_upstream_url,
)
from mirror.config.schema import Check

__all__ = [
    "PUBLIC_INDEX_KEYWORD",
    "Check",
    "ClusterConfig",
    "Config",
    "DatabaseConfig",
    "DemandConfig",
    "DependenciesConfig",
    "PoliciesConfig",
    "ServerConfig",
    "StorageConfig",
    "UpstreamConfig",
    "WebConfig",
    "database_url_problem",
    "default_config",
    "load_config",
    "mask_database_url",
    "normalize_database_url",
    "parse_config",
    "resolve_upstream_url",
]
