"""``[storage]``: the keys of both backends, errors by file, line and key, and no secret on show."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mirror.config import load_config
from mirror.core.errors import ConfigError
from mirror.web.server import banner


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_s3_keys(tmp_path):
    config = load_config(write(tmp_path, """
[storage]
path = "spool"
url = "s3://my-bucket/mirror/files"
endpoint_url = "https://minio.internal.example:9000"
region = "eu-west-1"
access_key_id = "AKIDEXAMPLE"
secret_access_key = "very-secret"
addressing_style = "path"
multipart_threshold = 67108864
multipart_chunk_size = 8388608
max_connections = 32
"""))
    s = config.storage
    assert (s.backend, s.bucket, s.prefix) == ("s3", "my-bucket", "mirror/files/")
    assert s.path == tmp_path / "spool" and s.multipart_chunk_size == 8 * 1024 * 1024
    shown = banner(config, 8080) + repr(config)
    assert "s3://my-bucket/mirror/files" in shown and "very-secret" not in shown


def test_default_is_the_file_system(tmp_path):
    s = load_config(write(tmp_path, "[storage]\npath = 'c'\n")).storage
    assert (s.backend, s.url, s.describe()) == ("filesystem", "", str(tmp_path / "c"))


@pytest.mark.parametrize(("text", "key", "line", "fragment"), [
    ("[storage]\nurl = 'gs://bucket'\n", "storage.url", 2, "s3://bucket"),
    ("[storage]\nurl = 's3://UPPER'\n", "storage.url", 2, "s3://bucket"),
    ("[storage]\nurl = 's3://b'\n", "storage.url", 2, "s3://bucket"),
    ("[storage]\n\nendpoint_url = 'ftp://x'\nurl = 's3://bucket'\n", "storage.endpoint_url", 3, "http(s)"),
    ("[storage]\nurl = 's3://bucket'\nendpoint_url = 'https://key:secret@host'\n", "storage.endpoint_url", 3,
     "without credentials"),
    ("[storage]\nurl = 's3://bucket'\naddressing_style = 'sideways'\n", "storage.addressing_style", 3, "unknown"),
    ("[storage]\nurl = 's3://bucket'\nmultipart_chunk_size = 1024\n", "storage.multipart_chunk_size", 3, "5 MiB"),
    ("[storage]\nurl = 's3://bucket'\naccess_key_id = 'k'\n", "storage.secret_access_key", None, "together"),
    ("[storage]\nurl = 's3://bucket'\nsecret_access_key = 's'\n", "storage.access_key_id", None, "together"),
    ("[storage]\nregion = 'eu-west-1'\n", "storage.region", 2, "no effect"),
])  # fmt: skip
def test_bad_storage_keys_name_file_line_and_key(tmp_path, text, key, line, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key and info.value.line == line and fragment in str(info.value)
    assert str(path) in str(info.value)


def test_missing_extra_is_named(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "aiobotocore" else real(name))
    with pytest.raises(ConfigError, match=r"pip install 'mirror\[s3\]'") as info:
        load_config(write(tmp_path, "[storage]\nurl = 's3://bucket'\n"))
    assert info.value.key == "storage.url" and info.value.line == 2
