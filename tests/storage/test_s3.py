"""The S3 store's own failures: every one is a StorageError naming the bucket, never anything else."""

from __future__ import annotations

import hashlib
import socket
from dataclasses import replace

import pytest

from mirror.adapters.s3 import S3FileStore
from mirror.config import StorageConfig
from mirror.core.errors import StorageError
from mirror.core.stored import StoredFile


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_config(s3_server, tmp_path, bucket: str) -> StorageConfig:
    return s3_server.storage_config(StorageConfig(path=tmp_path / "cache"), bucket)


async def test_missing_bucket_stops_start_up_with_its_name(s3_server, tmp_path):
    store = S3FileStore(s3_config(s3_server, tmp_path, "no-such-bucket"), tmp_path / "spool")
    with pytest.raises(StorageError, match="no-such-bucket"):
        await store.prepare()
    await store.close()


async def test_wrong_credentials_are_a_storage_error(s3_server, tmp_path, monkeypatch):
    # moto accepts any key unless told to check them: ask it to, through its own switch
    config = replace(s3_config(s3_server, tmp_path, "whatever"), access_key_id="", secret_access_key="")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = S3FileStore(config, tmp_path / "spool")
    with pytest.raises(StorageError, match="credentials"):
        await store.prepare()
    await store.close()


async def test_credentials_from_the_standard_environment(s3_server, tmp_path, monkeypatch):
    bucket = s3_server.new_bucket()
    config = replace(s3_config(s3_server, tmp_path, bucket), access_key_id="", secret_access_key="", region="")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-env")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-env-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    store = S3FileStore(config, tmp_path / "spool")
    await store.prepare()
    try:
        assert (await store.health())["ok"] is True
    finally:
        await store.close()


async def test_unreachable_endpoint(tmp_path):
    config = StorageConfig(path=tmp_path / "cache", url="s3://bucket/p", endpoint_url=f"http://127.0.0.1:{free_port()}",
                           region="us-east-1", access_key_id="k", secret_access_key="s", addressing_style="path")
    store = S3FileStore(config, tmp_path / "spool", connect_timeout=1, read_timeout=1, attempts=1)
    with pytest.raises(StorageError, match="s3://bucket"):
        await store.prepare()
    # Each operation on a store that cannot be reached says so the same way.
    with pytest.raises(StorageError):
        await store.find("a" * 64)
    assert (await store.health())["ok"] is False
    await store.close()


async def test_bucket_gone_while_serving(s3_server, tmp_path):
    bucket = s3_server.new_bucket()
    store = S3FileStore(s3_config(s3_server, tmp_path, bucket), tmp_path / "spool")
    await store.prepare()
    try:
        data = b"some bytes"
        session = store.new_write({"sha256": hashlib.sha256(data).hexdigest()}, len(data))
        await session.open()
        await session.write(data)
        stored = await session.commit("u")
        client = s3_server.client()
        for key in s3_server.keys(bucket):
            client.delete_object(Bucket=bucket, Key=key)
        client.delete_bucket(Bucket=bucket)
        with pytest.raises(StorageError):
            [c async for c in store.read(stored)]
        # A HEAD cannot tell a missing bucket from a missing object: not found, and then storing fails.
        assert await store.find(stored.sha256) is None
        session = store.new_write({"sha256": hashlib.sha256(data).hexdigest()}, len(data))
        await session.open()
        await session.write(data)
        with pytest.raises(StorageError, match=bucket):
            await session.commit("u")
        assert list((tmp_path / "spool").iterdir()) == []
        report = await store.health()
        assert report["ok"] is False and bucket in str(report["problem"])
        ghost = StoredFile(sha256="b" * 64, size=3)
        with pytest.raises(StorageError):
            [c async for c in store.read(ghost)]
    finally:
        await store.close()


async def test_objects_keep_the_layout_of_a_directory(s3_server, tmp_path):
    bucket = s3_server.new_bucket()
    store = S3FileStore(s3_config(s3_server, tmp_path, bucket), tmp_path / "spool")
    await store.prepare()
    try:
        data = b"layout"
        want = {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}
        session = store.new_write(want, len(data))
        await session.open()
        await session.write(data)
        await session.commit("u")
    finally:
        await store.close()
    s, m = want["sha256"], want["md5"]
    assert s3_server.keys(bucket) == [f"mirror/files/md5/{m[:2]}/{m[2:4]}/{m}",
                                      f"mirror/files/sha256/{s[:2]}/{s[2:4]}/{s}"]
    head = s3_server.client().head_object(Bucket=bucket, Key=f"mirror/files/sha256/{s[:2]}/{s[2:4]}/{s}")
    assert head["Metadata"] == {"digest-sha256": s, "digest-md5": m}


async def test_a_region_the_client_refuses_is_a_storage_error(s3_server, tmp_path):
    config = replace(s3_config(s3_server, tmp_path, s3_server.new_bucket()), region="not a region!")
    store = S3FileStore(config, tmp_path / "spool")
    with pytest.raises(StorageError, match="region"):
        await store.prepare()
    await store.close()
