"""Looking into a mirror's file store from a test, whichever backend holds it."""

from __future__ import annotations

from pathlib import PurePosixPath

from mirror.config import StorageConfig


def stored_files(storage: StorageConfig) -> list[str]:
    """The stored files (``<algorithm>/<aa>/<bb>/<digest>``) a reader could see; temp files excluded."""
    if storage.backend == "s3":
        import boto3

        client = boto3.client("s3", endpoint_url=storage.endpoint_url, region_name=storage.region,
                              aws_access_key_id=storage.access_key_id,
                              aws_secret_access_key=storage.secret_access_key)
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=storage.bucket, Prefix=storage.prefix)
        keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
        return sorted(k.removeprefix(storage.prefix + "files/") for k in keys)
    files = storage.path / "files"
    return sorted(str(p.relative_to(files)) for p in files.rglob("*") if p.is_file()) if files.is_dir() else []


def stored_names(storage: StorageConfig) -> set[str]:
    """The digests files are stored under (any algorithm)."""
    return {PurePosixPath(f).name for f in stored_files(storage)}


def temp_files(storage: StorageConfig) -> list[str]:
    tmp = storage.path / "tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.is_dir() else []
