"""``mirror serve`` from a config file with ``[storage] url = "s3://..."``: the real server process, files in a
bucket of a real S3-compatible server, kept across a restart, never a secret on the banner."""

from __future__ import annotations

import hashlib

import aiohttp
import pytest

from ..faults.conftest import MirrorProcess
from ..support.fake_upstream import JSON_TYPE, FakeFile, FakeUpstream
from ..support.s3_server import KEY_ID, REGION, SECRET


@pytest.fixture
async def upstream():
    fake = FakeUpstream()
    await fake.start()
    yield fake
    await fake.stop()


async def test_serve_with_files_in_a_bucket(tmp_path, upstream, s3_server):
    bucket = s3_server.new_bucket()
    blob = bytes(range(256)) * 4000
    f = upstream.add_file("bucket-app", FakeFile("bucket_app-1.0.tar.gz", blob))
    config = tmp_path / "config.toml"
    config.write_text(f"""
[server]
host = "127.0.0.1"
port = 0

[upstream]
url = "{upstream.url}"

[storage]
path = "local"
url = "s3://{bucket}/mirror-files"
endpoint_url = "{s3_server.endpoint}"
region = "{REGION}"
access_key_id = "{KEY_ID}"
secret_access_key = "{SECRET}"
addressing_style = "path"

[policies]
path = "policies"
""")
    log = tmp_path / "mirror.log"
    server = await MirrorProcess(config, log).start()
    assert server.proc is not None
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(server.index() + "bucket-app/", headers={"Accept": JSON_TYPE}) as resp:
                assert resp.status == 200
            url = f"{server.base}/all/files/bucket-app/{f.filename}"
            async with http.get(url) as resp:
                assert resp.status == 200 and hashlib.sha256(await resp.read()).hexdigest() == f.sha256
            key = f"mirror-files/files/sha256/{f.sha256[:2]}/{f.sha256[2:4]}/{f.sha256}"
            assert key in s3_server.keys(bucket)
            assert not (tmp_path / "local" / "files").exists()  # the directory holds temp files and the database
            await server.stop()
            await upstream.down()
            server = await MirrorProcess(config, log).start()  # a new port
            url = f"{server.base}/all/files/bucket-app/{f.filename}"
            async with http.get(url, headers={"Range": "bytes=10-19"}) as resp:
                assert resp.status == 206 and await resp.read() == blob[10:20]
            async with http.head(url) as resp:
                assert resp.status == 200 and int(resp.headers["Content-Length"]) == len(blob)
                assert resp.headers["ETag"] == f'"{f.sha256}"'
    finally:
        await server.stop()
    assert SECRET not in log.read_text()


async def test_serve_refuses_to_start_on_a_missing_bucket(tmp_path, upstream, s3_server):
    config = tmp_path / "config.toml"
    config.write_text(f"""
[upstream]
url = "{upstream.url}"

[storage]
url = "s3://no-such-bucket-here"
endpoint_url = "{s3_server.endpoint}"
access_key_id = "{KEY_ID}"
secret_access_key = "{SECRET}"
""")
    with pytest.raises(AssertionError, match="no-such-bucket-here"):
        await MirrorProcess(config, tmp_path / "mirror.log").start(timeout=60)
