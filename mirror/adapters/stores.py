"""Choosing the file store the configuration names."""

from __future__ import annotations

from mirror.adapters.s3 import S3FileStore
from mirror.adapters.storage import LocalFileStore
from mirror.config import StorageConfig


def open_file_store(config: StorageConfig, *, stale_after: float) -> LocalFileStore | S3FileStore:
    """The store of ``[storage]``: an S3-compatible bucket when ``url`` is ``s3://...``, else the directory
    ``path``. Temp files (the S3 store's spool too) live under ``path/tmp``; one not modified for
    ``stale_after`` seconds is dead whoever wrote it. Call ``prepare()`` before use and ``close()`` after."""
    if config.backend == "s3":
        return S3FileStore(config, config.path / "tmp", stale_after=stale_after, connect_timeout=config.connect_timeout,
                           read_timeout=config.read_timeout, attempts=config.attempts)
    return LocalFileStore(config.path, stale_after=stale_after)
