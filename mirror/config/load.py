"""Loading: reading ``config.toml``, parsing and validating it against ``_SCHEMA`` (an error names the
file, the line found for the key, and the key), and resolving relative paths against the file's directory."""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from mirror.config.database_url import mask_database_url, normalize_database_url
from mirror.config.model import (
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
)
from mirror.config.schema import _SCHEMA, _storage_problem
from mirror.core.errors import ConfigError

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
