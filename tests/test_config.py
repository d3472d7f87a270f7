"""config.toml loading: defaults, relative paths, and errors that name file, line and key."""

from pathlib import Path

import pytest
from pypi_simple import PYPI_SIMPLE_ENDPOINT

from mirror.config import load_config
from mirror.core.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_no_file_gives_builtin_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(None)
    assert config.source is None
    assert config.server.host == "127.0.0.1" and config.server.port == 8080
    assert config.upstream_url == PYPI_SIMPLE_ENDPOINT
    assert config.storage.path == tmp_path / "cache"
    assert config.database_url == f"sqlite+aiosqlite:///{tmp_path / 'cache' / 'mirror.db'}"


def test_shipped_config_is_valid_and_equals_defaults(tmp_path, monkeypatch):
    shipped = load_config(REPO / "config.toml")
    monkeypatch.chdir(REPO)
    defaults = load_config(None, default_path=tmp_path / "absent.toml")
    for section in ("server", "upstream", "storage", "database", "policies", "demand", "cluster", "dependencies",
                    "web"):
        assert getattr(shipped, section) == getattr(defaults, section), section


def test_relative_paths_are_relative_to_the_config_file(tmp_path):
    sub = tmp_path / "etc"
    sub.mkdir()
    path = sub / "mirror.toml"
    path.write_text('[storage]\npath = "../data"\n[database]\nurl = "sqlite+aiosqlite:///db/m.db"\n')
    config = load_config(path)
    assert config.storage.path == tmp_path / "data"
    assert config.database_url == f"sqlite+aiosqlite:///{sub / 'db' / 'm.db'}"
    assert config.policies.path == sub / "policies"


def test_custom_upstream_gets_trailing_slash(tmp_path):
    config = load_config(write(tmp_path, '[upstream]\nurl = "http://127.0.0.1:9/simple"\n'))
    assert config.upstream_url == "http://127.0.0.1:9/simple/"


@pytest.mark.parametrize(
    ("text", "key", "line", "fragment"),
    [
        ("[server]\nhost = 'x'\nprot = 1\n", "server.prot", 3, "unknown key"),
        ("[server]\nport = '8080'\n", "server.port", 2, "wrong type"),
        ("[server]\nport = 70000\n", "server.port", 2, "bad value"),
        ("[upstream]\n\nurl = 'ftp://x'\n", "upstream.url", 3, "bad value"),
        ("[upstream]\nindex_ttl = true\n", "upstream.index_ttl", 2, "wrong type"),
        ("[upstream]\nread_timeout = 0\n", "upstream.read_timeout", 2, "greater than 0"),
        ("[server]\nlog_level = 'loud'\n", "server.log_level", 2, "unknown log level"),
        ("[stroage]\npath = 'x'\n", "stroage", 1, "unknown section"),
        ("[dependencies]\ntargets = ['3.12-beos-x86']\n", "dependencies.targets", 2, "unknown platform 'beos-x86'"),
        ("[database]\nurl = 'mysql://u@h/d'\n", "database.url", 2, "the mirror runs on SQLite or PostgreSQL"),
        ("[database]\nurl = 'postgresql+psycopg2://u@h/d'\n", "database.url", 2, "use postgresql+asyncpg://"),
        ("[database]\nurl = 'postgresql+asyncpg://u@h'\n", "database.url", 2, "names no database"),
        ("[database]\nurl = 'sqlite+aiosqlite://'\n", "database.url", 2, "in-memory database"),
        ("[database]\nurl = 'not a url'\n", "database.url", 2, "not a database URL"),
        ("[database]\nauto_upgrade = 1\n", "database.auto_upgrade", 2, "wrong type"),
        ("[database]\npool_size = 0\n", "database.pool_size", 2, "between 1 and 1000"),
        ("[database]\n\nstatement_timeout = 0\n", "database.statement_timeout", 3, "greater than 0"),
        ("[server]\nlog_format = 'xml'\n", "server.log_format", 2, "unknown log format"),
        ("[server]\naccess_log = 'yes'\n", "server.access_log", 2, "wrong type"),
        ("[policies]\nreload_interval = 0\n", "policies.reload_interval", 2, "between 0.05 and 3600"),
        ("[cluster]\nnode_name = 'a b'\n", "cluster.node_name", 2, "letters, digits"),
        ("[cluster]\nlease_ttl = 0.5\n", "cluster.lease_ttl", 2, "between 1 and 600"),
        ("[cluster]\nlease_poll = 0\n", "cluster.lease_poll", 2, "between 0.01 and 10"),
        ("[cluster]\nready_timeout = -1\n", "cluster.ready_timeout", 2, "greater than 0"),
        ("[cluster]\nleases = true\n", "cluster.leases", 2, "unknown key"),
        ("[cluster]\nretry_after = 0\n", "cluster.retry_after", 2, "between 1 and 3600"),
        ("[cluster]\nretry_after = 2.5\n", "cluster.retry_after", 2, "integer"),
        ("[cluster]\nreconnect_interval = 0\n", "cluster.reconnect_interval", 2, "between 0.05 and 3600"),
        ("[storage]\nattempts = 0\n", "storage.attempts", 2, "between 1 and 10"),
        ("[storage]\nread_timeout = 0\n", "storage.read_timeout", 2, "greater than 0"),
        ("[web]\naccess = 'private'\n", "web.access", 2, "unknown mode"),
        ("[web]\n\nsession_hours = 0\n", "web.session_hours", 3, "greater than 0"),
        ("[web]\napi_per_minute = 0\n", "web.api_per_minute", 2, "between 1"),
        ("[web]\nsecure_cookies = true\n", "web.secure_cookies", 2, "wrong type"),
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path, text, key, line, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.file == str(path) and err.key == key and err.line == line
    assert fragment in str(err) and str(path) in str(err) and "allowed" in str(err)


def test_database_keys_and_url_forms(tmp_path):
    config = load_config(write(tmp_path, '[database]\nurl = "postgresql://u:p%40ss@db.example/mirror"\n'
                                         "auto_upgrade = true\npool_size = 3\nstatement_timeout = 5\n"))
    # The driver the mirror uses is filled in; the rest of the URL is kept as written.
    assert config.database_url == "postgresql+asyncpg://u:p%40ss@db.example/mirror"
    settings = config.database_settings
    assert (settings.auto_upgrade, settings.pool_size, settings.statement_timeout) == (True, 3, 5)
    assert "p%40ss" not in repr(config) and "u:***@db.example" in repr(config)
    config = load_config(write(tmp_path, '[database]\nurl = "sqlite:///db/m.db"\n'))
    assert config.database_url == f"sqlite+aiosqlite:///{tmp_path / 'db' / 'm.db'}"


def test_invalid_toml_reports_line(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "[server]\nport = = 1\n"))
    assert info.value.line == 2 and "invalid TOML" in str(info.value)


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_cluster_and_logging_settings(tmp_path, monkeypatch):
    config = load_config(write(tmp_path, '[server]\nlog_format = "json"\naccess_log = false\n'
                                         '[cluster]\nnode_name = "edge-2.eu"\nlease_ttl = 30\nlease_poll = 0.25\n'
                                         '[policies]\nreload_interval = 2.5\n'))
    assert (config.server.log_format, config.server.access_log) == ("json", False)
    assert (config.cluster.lease_ttl, config.cluster.lease_poll, config.node_name) == (30, 0.25, "edge-2.eu")
    assert config.policies.reload_interval == 2.5 and config.policies.path == tmp_path / "policies"
    monkeypatch.setattr("socket.gethostname", lambda: "host-a")
    assert load_config(write(tmp_path, "")).node_name == "host-a"  # empty: the host name
