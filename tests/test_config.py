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
    for section in ("server", "upstream", "storage", "database", "policies", "demand", "dependencies"):
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
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path, text, key, line, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.file == str(path) and err.key == key and err.line == line
    assert fragment in str(err) and str(path) in str(err) and "allowed" in str(err)


def test_invalid_toml_reports_line(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "[server]\nport = = 1\n"))
    assert info.value.line == 2 and "invalid TOML" in str(info.value)


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")
