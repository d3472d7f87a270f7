"""The file store in S3-compatible object storage, through aiobotocore (the ``s3`` extra).

Layout (under the configured prefix), the same as on a file system so a bucket and a directory can be
copied into each other: ``files/sha256/<aa>/<bb>/<sha256>`` holds the bytes, with every digest computed while
they were verified in the object's metadata (``x-amz-meta-digest-<algorithm>``); ``files/<algorithm>/...``
for each other algorithm is an empty object whose metadata names the sha256. A lookup by a set of advertised
hashes therefore proves every one of them from what the mirror itself computed
(:meth:`S3FileStore.find_verified`).

A file enters the bucket only after verification: it is spooled to a local temp file while hashed
(:class:`~mirror.adapters.spool.Spool`), then uploaded (multipart above ``multipart_threshold``), each body
with its Content-MD5 so the server refuses bytes damaged on the way. Two nodes uploading the same file write
the same bytes under the same key: harmless. Every failure of the service (network, credentials, a missing
bucket) raises :class:`StorageError`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path
from typing import Any

from mirror.adapters.spool import Spool, sweep, temp_name
from mirror.config import StorageConfig
from mirror.core.errors import StorageError, StorageUnavailable
from mirror.core.hashes import COMPUTABLE, hex_length, primary
from mirror.core.stored import KEY_ALGORITHM, StoredFile

log = logging.getLogger("mirror.storage")

_META = "digest-"
_CHUNK = 256 * 1024
#: Parts uploaded at once (each is read into memory): the bound on a node's upload memory.
_PARTS_IN_FLIGHT = 4
#: Concurrent HEADs when checking which derived files are present.
_HEADS_IN_FLIGHT = 16
_MAX_PARTS = 10_000
_ABSENT_CODES = ("404", "NoSuchKey", "NotFound")


class S3FileStore:
    """Verified files in a bucket; temp files spool in ``spool_dir`` (swept like the file system's)."""

    def __init__(self, config: StorageConfig, spool_dir: Path, *, stale_after: float = 3600.0,
                 connect_timeout: float = 10.0, read_timeout: float = 60.0, attempts: int = 3) -> None:
        self.config = config
        self.bucket = config.bucket
        self.prefix = config.prefix
        self.spool_dir = spool_dir
        self.stale_after = stale_after
        self._timeouts = (connect_timeout, read_timeout)
        self._attempts = attempts
        self._client: Any = None
        self._stack = contextlib.AsyncExitStack()
        self._parts = asyncio.Semaphore(_PARTS_IN_FLIGHT)

    @property
    def description(self) -> str:
        return self.config.describe()

    # -- life cycle ----------------------------------------------------------------------------------

    async def prepare(self) -> int:
        """Open the client, check the bucket answers, sweep dead temp files; returns how many were removed.

        Raises StorageError (naming the bucket and the reason) when the bucket cannot be used.
        """
        from aiobotocore.config import AioConfig  # the optional extra, only when S3 is configured
        from aiobotocore.session import get_session

        c = self.config
        connect, read = self._timeouts
        settings = AioConfig(
            s3={"addressing_style": c.addressing_style}, connect_timeout=connect, read_timeout=read,
            retries={"max_attempts": self._attempts, "mode": "standard"}, max_pool_connections=c.max_connections,
            # Many S3-compatible servers do not know the newer default checksum headers; Content-MD5 is sent.
            request_checksum_calculation="when_required", response_checksum_validation="when_required")
        from botocore.exceptions import BotoCoreError

        try:
            self._client = await self._stack.enter_async_context(get_session().create_client(
                "s3", endpoint_url=c.endpoint_url or None, region_name=c.region or None,
                aws_access_key_id=c.access_key_id or None, aws_secret_access_key=c.secret_access_key or None,
                aws_session_token=c.session_token or None, config=settings))
        except (BotoCoreError, ValueError) as exc:  # e.g. a region name botocore refuses
            raise StorageError(f"cannot use the S3 store {self.description}: {exc}") from None
        await self._call("head_bucket", "", Bucket=self.bucket)
        await asyncio.to_thread(self.spool_dir.mkdir, parents=True, exist_ok=True)
        return await asyncio.to_thread(sweep, self.spool_dir, self.stale_after)

    async def close(self) -> None:
        """Close the client's connections."""
        self._client = None
        await self._stack.aclose()

    async def health(self) -> dict[str, object]:
        """Whether the bucket answers: ``ok``, ``backend``, ``location`` and ``problem``."""
        report: dict[str, object] = {"backend": "s3", "location": self.description, "ok": True, "problem": None}
        try:
            await self._call("head_bucket", "", Bucket=self.bucket)
        except StorageError as exc:
            report.update(ok=False, problem=str(exc))
        return report

    # -- keys ------------------------------------------------------------------------------------------

    def key_for(self, algorithm: str, digest: str) -> str:
        """The object key of a digest; raises ValueError for anything but a computable hex digest."""
        digest = digest.lower()
        if (algorithm not in COMPUTABLE or len(digest) != hex_length(algorithm)
                or digest.strip("0123456789abcdef")):
            raise ValueError(f"not a valid {algorithm} digest: {digest!r}")
        return f"{self.prefix}files/{algorithm}/{digest[:2]}/{digest[2:4]}/{digest}"

    # -- finding -------------------------------------------------------------------------------------

    async def find(self, sha256: str) -> StoredFile | None:
        """The stored file with this sha256, else None; raises StorageError when the bucket cannot be read."""
        return await self.find_verified({KEY_ALGORITHM: sha256})

    async def find_verified(self, hashes: Mapping[str, str]) -> StoredFile | None:
        """The stored file whose recorded digests include *every* one of ``hashes``, else None.

        Raises StorageError when the bucket cannot be read.
        """
        chosen = primary(hashes)
        if chosen is None:
            return None
        wanted = {a: d.lower() for a, d in hashes.items()}
        sha256 = wanted.get(KEY_ALGORITHM)
        if sha256 is None:  # a page without a sha256: the alias object names it
            alias = await self._head(self.key_for(*chosen))
            sha256 = _metadata(alias).get(KEY_ALGORITHM) if alias is not None else None
            if sha256 is None:
                return None
        found = await self._head(self.key_for(KEY_ALGORITHM, sha256))
        if found is None:
            return None
        digests = _metadata(found)
        if any(digests.get(a) != d for a, d in wanted.items()) or digests.get(KEY_ALGORITHM) != sha256:
            return None  # stored, but never checked against one of these hashes
        return _stored(sha256, found, digests)

    async def present(self, pairs: Mapping[str, str]) -> dict[str, str]:
        """The entries of ``pairs`` (file sha256 → derived file sha256) whose two files are both stored."""
        names = {*pairs, *pairs.values()}
        limit = asyncio.Semaphore(_HEADS_IN_FLIGHT)

        async def there(sha256: str) -> bool:
            async with limit:
                return await self._head(self.key_for(KEY_ALGORITHM, sha256)) is not None

        found = dict(zip(names, await asyncio.gather(*(there(n) for n in names))))
        return {a: b for a, b in pairs.items() if found[a] and found[b]}

    async def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return await self._call("head_object", key, Bucket=self.bucket, Key=key)
        except _Absent:
            return None

    # -- writing ---------------------------------------------------------------------------------------

    def new_write(self, expected: Mapping[str, str], expected_size: int | None,
                  max_bytes: int | None = None) -> Spool:
        """A verified-write session (spooled locally, uploaded on commit); see LocalFileStore.new_write."""
        for algorithm, digest in expected.items():
            self.key_for(algorithm, digest)  # validates
        return Spool(self.spool_dir / temp_name(), expected, expected_size, max_bytes, self._install)

    async def _install(self, src: Path, digests: dict[str, str], size: int) -> StoredFile:
        sha256 = digests[KEY_ALGORITHM]
        key = self.key_for(KEY_ALGORITHM, sha256)
        existing = await self._head(key)
        known = _metadata(existing) if existing is not None and existing.get("ContentLength") == size else {}
        if known.get(KEY_ALGORITHM) != sha256 or any(known.get(a) != d for a, d in digests.items()):
            # New, or recorded without one of today's digests: (re)write it with every digest known for it.
            merged = {**known, **digests} if known.get(KEY_ALGORITHM) == sha256 else digests
            await self._upload(src, key, size, {_META + a.replace("_", "-"): d for a, d in merged.items()})
            existing = await self._head(key)
            if existing is None or existing.get("ContentLength") != size:
                raise StorageError(f"s3://{self.bucket}/{key}: the upload did not land (size "
                                   f"{None if existing is None else existing.get('ContentLength')}, expected {size})")
        assert existing is not None  # found with every digest, or just uploaded
        for algorithm, digest in digests.items():
            if algorithm != KEY_ALGORITHM:
                alias = self.key_for(algorithm, digest)
                await self._call("put_object", alias, Bucket=self.bucket, Key=alias, Body=b"",
                                 Metadata={_META + KEY_ALGORITHM: sha256})
        return _stored(sha256, existing, _metadata(existing))

    async def _upload(self, src: Path, key: str, size: int, metadata: dict[str, str]) -> None:
        common = {"Bucket": self.bucket, "Key": key}
        if size < self.config.multipart_threshold:
            async with self._parts:  # bounds the bytes held in memory
                body = await asyncio.to_thread(_read_part, src, 0, size)
                await self._call("put_object", key, **common, Body=body, ContentLength=size, ContentMD5=_md5(body),
                                 ContentType="application/octet-stream", Metadata=metadata)
            return
        started = await self._call("create_multipart_upload", key, **common, ContentType="application/octet-stream",
                                   Metadata=metadata)
        upload_id = started["UploadId"]
        # S3 allows at most 10,000 parts: bigger parts for files that would need more.
        part_size = max(self.config.multipart_chunk_size, -(-size // _MAX_PARTS))

        async def part(number: int) -> dict[str, Any]:
            async with self._parts:  # bounds the bytes held in memory
                offset = (number - 1) * part_size
                body = await asyncio.to_thread(_read_part, src, offset, min(part_size, size - offset))
                done = await self._call("upload_part", key, **common, UploadId=upload_id, PartNumber=number,
                                        Body=body, ContentLength=len(body), ContentMD5=_md5(body))
                return {"ETag": done["ETag"], "PartNumber": number}

        try:
            parts = await asyncio.gather(*(part(n) for n in range(1, -(-size // part_size) + 1)))
            await self._call("complete_multipart_upload", key, **common, UploadId=upload_id,
                             MultipartUpload={"Parts": parts})
        except BaseException:
            with contextlib.suppress(Exception):  # the failure that matters is the one being raised
                await asyncio.shield(self._call("abort_multipart_upload", key, **common, UploadId=upload_id))
            raise

    # -- reading ---------------------------------------------------------------------------------------

    async def read(self, stored: StoredFile, start: int = 0, end: int | None = None) -> AsyncGenerator[bytes, None]:
        """The bytes ``[start, end)`` of a stored file, streamed from the bucket; raises StorageError when
        they cannot be read (including a file deleted meanwhile, or an object shorter than recorded)."""
        end = stored.size if end is None else end
        if end <= start:
            return
        key = self.key_for(KEY_ALGORITHM, stored.sha256)
        ranged = {} if (start, end) == (0, stored.size) else {"Range": f"bytes={start}-{end - 1}"}
        try:
            answer = await self._call("get_object", key, Bucket=self.bucket, Key=key, **ranged)
        except _Absent:
            raise StorageError(f"s3://{self.bucket}/{key} is gone") from None
        body = answer["Body"]
        position = start
        try:
            async for chunk in body.iter_chunks(_CHUNK):
                if position + len(chunk) > end:
                    raise StorageError(f"s3://{self.bucket}/{key}: more bytes than asked for")
                position += len(chunk)
                yield chunk
        except StorageError:
            raise
        except Exception as exc:  # network failures while the body streams
            raise StorageError(f"s3://{self.bucket}/{key}: reading failed at byte {position}: "
                               f"{type(exc).__name__}: {exc}") from exc
        finally:
            body.close()
        if position != end:
            raise StorageError(f"s3://{self.bucket}/{key} ended at byte {position}, expected {end}")

    # -- deleting --------------------------------------------------------------------------------------

    async def delete(self, sha256: str) -> bool:
        """Remove a stored file and its objects under other algorithms; False when it was not stored."""
        key = self.key_for(KEY_ALGORITHM, sha256)
        found = await self._head(key)
        if found is None:
            return False
        for algorithm, digest in _metadata(found).items():
            if algorithm != KEY_ALGORITHM and algorithm in COMPUTABLE:
                alias = self.key_for(algorithm, digest)
                await self._call("delete_object", alias, Bucket=self.bucket, Key=alias)
        await self._call("delete_object", key, Bucket=self.bucket, Key=key)
        return True

    # -- calls -------------------------------------------------------------------------------------------

    async def _call(self, operation: str, key: str, **params: Any) -> dict[str, Any]:
        """One S3 call; a missing object raises _Absent, a failure that may pass StorageUnavailable (network,
        timeout, 5xx), any other StorageError."""
        if self._client is None:
            raise StorageError(f"the S3 store {self.description} is not open")
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"s3://{self.bucket}/{key}"
        try:
            result: dict[str, Any] = await getattr(self._client, operation)(**params)
            return result
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in _ABSENT_CODES and operation in ("head_object", "get_object"):
                raise _Absent() from None
            message = f"{where}: {operation} failed: {code} {error.get('Message') or ''}".rstrip()
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            # A 4xx (no such bucket, access denied) is the configuration's; a 5xx (slow down, internal) passes.
            raise (StorageUnavailable if int(status) >= 500 else StorageError)(message) from None
        except (BotoCoreError, OSError, TimeoutError) as exc:
            raise StorageUnavailable(f"{where}: {operation} failed: {type(exc).__name__}: {exc}") from None


class _Absent(Exception):
    """The object is not in the bucket."""


def _metadata(head: Mapping[str, Any] | None) -> dict[str, str]:
    """The digests recorded on an object ({algorithm: hex}); anything malformed is left out."""
    recorded: dict[str, str] = {}
    for name, value in ((head or {}).get("Metadata") or {}).items():
        name = name.lower()
        if name.startswith(_META) and isinstance(value, str):
            algorithm = name[len(_META):].replace("-", "_")
            value = value.lower()
            if algorithm in COMPUTABLE and len(value) == hex_length(algorithm) and not value.strip("0123456789abcdef"):
                recorded[algorithm] = value
    return recorded


def _stored(sha256: str, head: Mapping[str, Any], digests: Mapping[str, str]) -> StoredFile:
    modified = head.get("LastModified")
    return StoredFile(sha256=sha256, size=int(head.get("ContentLength", 0)), digests=dict(digests),
                      modified=modified.timestamp() if modified is not None else 0.0, local_path=None)


def _read_part(path: Path, offset: int, size: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.pread(fd, size, offset)
    finally:
        os.close(fd)
    if len(data) != size:
        raise OSError(f"{path.name}: {len(data)} bytes at {offset}, expected {size}")
    return data


def _md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
