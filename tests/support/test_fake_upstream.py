"""Tests proving the test helpers are faithful: real clients (pypi_simple, aiohttp, pip, uv) agree.

Run with ``-o asyncio_mode=auto`` until the project config sets it.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import json
import os
import sys
import tarfile
import time
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from multidict import CIMultiDict
from pypi_simple import IndexPage, ProjectPage, ProjectStatus

from .dists import build_sdist, build_wheel, read_wheel_metadata, sha256_of
from .fake_upstream import JSON_TYPE, PROVENANCE_TYPE, FakeFile, FakeUpstream

# What pip sends; the fake must pick JSON for it.
PIP_ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
T0 = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
async def up(tmp_path: Path) -> AsyncIterator[FakeUpstream]:
    """A running index with project "Demo.Pkg": 1.0 wheel+sdist, 1.1 yanked wheel, 2.0 py>=4."""
    fake = FakeUpstream()
    fake.add_wheel("Demo.Pkg", "1.0", tmp_path, requires_python=">=3.8,<4", upload_time=T0)
    fake.add_sdist("Demo.Pkg", "1.0", tmp_path, upload_time=T0)
    fake.add_wheel("Demo.Pkg", "1.1", tmp_path, yanked="broken <build>", with_metadata=False)
    fake.add_wheel("Demo.Pkg", "2.0", tmp_path, requires_python=">=4", provenance='{"v": 1}')
    async with fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        yield s


async def get(
    s: aiohttp.ClientSession, url: str, **headers: str
) -> tuple[int, CIMultiDict[str], bytes]:
    """GET without following redirects; returns (status, headers, body)."""
    async with s.get(url, headers=headers, allow_redirects=False) as r:
        return r.status, CIMultiDict(r.headers), await r.read()


def file_url(up: FakeUpstream, f: FakeFile) -> str:
    return f"{up.base}/files/{f.sha256}/{f.filename}"


def files_of(up: FakeUpstream) -> dict[str, FakeFile]:
    return {f.filename: f for p in up._projects.values() for f in p.files.values()}


# ---------------------------------------------------------------- dists.py


def test_wheel_is_deterministic_and_well_formed(tmp_path: Path) -> None:
    kw = dict(requires_dist=["attrs>=1"], requires_python=">=3.9", summary="s")
    a = build_wheel(tmp_path / "a", "My.Pkg", "1.0", **kw)
    b = build_wheel(tmp_path / "b", "My.Pkg", "1.0", **kw)
    assert a.name == "my_pkg-1.0-py3-none-any.whl"
    assert sha256_of(a) == sha256_of(b) == sha256_of(a.read_bytes())
    with zipfile.ZipFile(a) as zf:
        names = zf.namelist()
        assert "my_pkg/__init__.py" in names
        assert zf.read("my_pkg/__init__.py") == b'__version__ = "1.0"\n'
        rows = list(csv.reader(io.StringIO(zf.read("my_pkg-1.0.dist-info/RECORD").decode())))
        assert sorted(r[0] for r in rows) == sorted(names)
        for path, digest, size in rows:
            if path.endswith("RECORD"):
                assert (digest, size) == ("", "")
                continue
            data = zf.read(path)
            b64 = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert (digest, int(size)) == (f"sha256={b64}", len(data))
        wheel = zf.read("my_pkg-1.0.dist-info/WHEEL").decode()
        assert "Root-Is-Purelib: true" in wheel and "Tag: py3-none-any" in wheel
    meta = read_wheel_metadata(a).decode()
    for line in ("Metadata-Version: 2.1", "Name: My.Pkg", "Version: 1.0",
                 "Requires-Dist: attrs>=1", "Requires-Python: >=3.9"):  # fmt: skip
        assert line in meta.splitlines()


def test_sdist_is_deterministic(tmp_path: Path) -> None:
    a = build_sdist(tmp_path / "a", "My.Pkg", "1.0", requires_python=">=3.9")
    b = build_sdist(tmp_path / "b", "My.Pkg", "1.0", requires_python=">=3.9")
    assert a.name == "my_pkg-1.0.tar.gz" and a.read_bytes() == b.read_bytes()
    with tarfile.open(a) as tar:
        member = tar.extractfile("my_pkg-1.0/PKG-INFO")
        assert member is not None and b"Requires-Python: >=3.9" in member.read()
        assert "my_pkg-1.0/pyproject.toml" in tar.getnames()


# ---------------------------------------------------------------- pages


async def test_json_project_page(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    status, headers, body = await get(http, up.url + "demo-pkg/", Accept=PIP_ACCEPT)
    assert status == 200 and headers["Content-Type"] == JSON_TYPE
    data = json.loads(body)
    assert data["meta"]["_last-serial"] == int(headers["X-PyPI-Last-Serial"]) == 4
    page = ProjectPage.from_json_data(data, up.url + "demo-pkg/")
    assert page.versions == ["1.0", "1.1", "2.0"] and page.repository_version == "1.1"
    pkgs = {p.filename: p for p in page.packages}
    files = files_of(up)
    assert set(pkgs) == set(files)
    for name, p in pkgs.items():
        assert p.digests == {"sha256": files[name].sha256} and p.size == files[name].size
        assert p.url == file_url(up, files[name])
    whl = pkgs["demo_pkg-1.0-py3-none-any.whl"]
    assert whl.upload_time == T0 and whl.requires_python == ">=3.8,<4" and not whl.is_yanked
    meta = files[whl.filename].metadata
    assert meta is not None and whl.metadata_digests == {"sha256": sha256_of(meta)}
    yanked = pkgs["demo_pkg-1.1-py3-none-any.whl"]
    assert yanked.is_yanked and yanked.yanked_reason == "broken <build>"
    assert yanked.has_metadata is False
    assert pkgs["demo_pkg-2.0-py3-none-any.whl"].provenance_url == (
        f"{up.base}/integrity/demo-pkg/2.0/demo_pkg-2.0-py3-none-any.whl/provenance"
    )


async def test_html_project_page(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    status, headers, body = await get(http, up.url + "demo-pkg/", Accept="text/html")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"<!--SERIAL 4-->" in body and b'data-requires-python="&gt;=3.8,&lt;4"' in body
    page = ProjectPage.from_html("demo-pkg", body, up.url + "demo-pkg/")
    assert page.repository_version == "1.1"
    pkgs = {p.filename: p for p in page.packages}
    files = files_of(up)
    assert set(pkgs) == set(files)
    for name, p in pkgs.items():
        assert p.digests == {"sha256": files[name].sha256}
    whl = pkgs["demo_pkg-1.0-py3-none-any.whl"]
    assert whl.requires_python == ">=3.8,<4" and not whl.is_yanked
    assert whl.metadata_digests == {"sha256": sha256_of(files[whl.filename].metadata or b"")}
    assert pkgs["demo_pkg-1.1-py3-none-any.whl"].yanked_reason == "broken <build>"
    assert pkgs["demo_pkg-2.0-py3-none-any.whl"].provenance_url is not None


async def test_root_pages_and_negotiation(
    up: FakeUpstream, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    up.add_wheel("other", "1", tmp_path)
    _, h, body = await get(http, up.url, Accept=JSON_TYPE)
    assert IndexPage.from_json_data(json.loads(body)).projects == ["Demo.Pkg", "other"]
    assert h["X-PyPI-Last-Serial"] == "5"
    _, h, body = await get(http, up.url, Accept="*/*")
    assert IndexPage.from_html(body).projects == ["Demo.Pkg", "other"]
    # q=0 means "not acceptable": HTML.
    _, h, _ = await get(http, up.url, Accept=f"{JSON_TYPE}; q=0, text/html")
    assert h["Content-Type"].startswith("text/html")
    up.html_only = True
    _, h, _ = await get(http, up.url + "demo-pkg/", Accept=JSON_TYPE)
    assert h["Content-Type"].startswith("text/html")


async def test_etag_and_304(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    url = up.url + "demo-pkg/"
    _, hj, _ = await get(http, url, Accept=JSON_TYPE)
    _, hh, _ = await get(http, url, Accept="text/html")
    assert hj["ETag"] != hh["ETag"]  # one validator per representation
    status, h, body = await get(http, url, Accept=JSON_TYPE, **{"If-None-Match": hj["ETag"]})
    assert status == 304 and body == b"" and h["ETag"] == hj["ETag"]
    status, *_ = await get(http, url, Accept="text/html", **{"If-None-Match": hj["ETag"]})
    assert status == 200
    up.yank("demo-pkg", "demo_pkg-1.0.tar.gz", "changed")
    status, h, _ = await get(http, url, Accept=JSON_TYPE, **{"If-None-Match": hj["ETag"]})
    assert status == 200 and h["ETag"] != hj["ETag"] and h["X-PyPI-Last-Serial"] == "5"
    up.etags = False
    status, h, _ = await get(http, url, Accept=JSON_TYPE, **{"If-None-Match": "*"})
    assert status == 200 and "ETag" not in h


async def test_redirects_404_status_and_serials(
    up: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    for path in ("Demo.Pkg/", "demo_pkg/", "demo-pkg"):
        status, h, _ = await get(http, up.url + path)
        assert status == 301 and h["Location"].endswith("/simple/demo-pkg/"), path
    assert (await get(http, up.url + "nope/"))[0] == 404
    whl = files_of(up)["demo_pkg-1.0-py3-none-any.whl"]
    up.set_status("demo-pkg", "quarantined", "malware?")
    assert up.serial == up.project_serial("demo-pkg") == 5
    page = ProjectPage.from_json_data(
        json.loads((await get(http, up.url + "demo-pkg/", Accept=JSON_TYPE))[2])
    )
    assert page.packages == [] and page.status is ProjectStatus.QUARANTINED
    assert page.status_reason == "malware?"
    assert (await get(http, file_url(up, whl)))[0] == 404
    up.set_status("demo-pkg", "archived")
    body = (await get(http, up.url + "demo-pkg/"))[2]
    assert ProjectPage.from_html("demo-pkg", body).status is ProjectStatus.ARCHIVED
    up.remove_project("Demo.Pkg")
    assert up.serial == 7 and (await get(http, up.url + "demo-pkg/"))[0] == 404


# ---------------------------------------------------------------- files


async def test_files_metadata_provenance(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    f = files_of(up)["demo_pkg-2.0-py3-none-any.whl"]
    status, h, body = await get(http, file_url(up, f))
    assert status == 200 and body == f.content and h["Content-Length"] == str(f.size)
    async with http.head(file_url(up, f)) as r:
        assert r.status == 200 and r.headers["Content-Length"] == str(f.size)
    status, _, body = await get(http, file_url(up, f) + ".metadata")
    assert status == 200 and body == f.metadata
    status, h, body = await get(
        http, f"{up.base}/integrity/demo-pkg/2.0/{f.filename}/provenance"
    )
    assert (status, h["Content-Type"], body) == (200, PROVENANCE_TYPE, b'{"v": 1}')
    no_meta = files_of(up)["demo_pkg-1.1-py3-none-any.whl"]
    assert (await get(http, file_url(up, no_meta) + ".metadata"))[0] == 404
    assert (await get(http, f"{up.base}/files/{'0' * 64}/{f.filename}"))[0] == 404


async def test_lying_page(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    liar = up.add_file("liar", FakeFile("liar-1.0.tar.gz", b"real", advertised_sha256="ab" * 32))
    body = (await get(http, up.url + "liar/", Accept=JSON_TYPE))[2]
    (pkg,) = ProjectPage.from_json_data(json.loads(body)).packages
    assert pkg.digests == {"sha256": "ab" * 32} and pkg.url == file_url(up, liar)
    assert (await get(http, pkg.url))[2] == b"real"


# ---------------------------------------------------------------- faults


async def test_fail_status_and_scope(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    f = files_of(up)["demo_pkg-1.0.tar.gz"]
    up.fail_status = 503
    assert (await get(http, up.url))[0] == 503 and (await get(http, file_url(up, f)))[0] == 503
    up.faults_apply_to = "files"
    assert (await get(http, up.url))[0] == 200 and (await get(http, file_url(up, f)))[0] == 503
    up.faults_apply_to = "pages"
    assert (await get(http, up.url))[0] == 503 and (await get(http, file_url(up, f)))[0] == 200
    up.fault_filter = lambda path: path.endswith(".tar.gz")
    assert (await get(http, up.url))[0] == 200 and (await get(http, file_url(up, f)))[0] == 503


async def test_delay(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    up.delay = 0.3
    t = time.monotonic()
    assert (await get(http, up.url))[0] == 200
    assert time.monotonic() - t >= 0.3
    with pytest.raises(asyncio.TimeoutError):
        async with http.get(up.url, timeout=aiohttp.ClientTimeout(total=0.1)):
            pass


async def test_garbage(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    up.garbage = True
    status, h, body = await get(http, up.url + "demo-pkg/", Accept=JSON_TYPE)
    assert status == 200 and h["Content-Type"] == JSON_TYPE
    with pytest.raises(ValueError):
        json.loads(body)
    status, h, body = await get(http, up.url + "demo-pkg/", Accept="text/html")
    assert status == 200 and h["Content-Type"].startswith("text/html")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert ProjectPage.from_html("demo-pkg", body).packages == []


async def test_wrong_bytes(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    f = files_of(up)["demo_pkg-1.0.tar.gz"]
    up.wrong_bytes = True
    status, h, body = await get(http, file_url(up, f))
    assert status == 200 and len(body) == f.size and sha256_of(body) != f.sha256


async def test_truncate(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    f = files_of(up)["demo_pkg-1.0-py3-none-any.whl"]
    up.truncate = True
    async with http.get(file_url(up, f)) as r:
        assert r.status == 200 and r.content_length == f.size
        got = b""
        with pytest.raises(aiohttp.ClientPayloadError):
            async for chunk in r.content.iter_any():
                got += chunk
    assert got == f.content[: f.size // 2]
    assert (await get(http, up.url))[0] == 200  # pages unaffected, server still fine


async def test_reset_mid_file(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    f = files_of(up)["demo_pkg-1.0-py3-none-any.whl"]
    up.reset_mid_file = True
    with pytest.raises(aiohttp.ClientError) as exc:
        await get(http, file_url(up, f))
    assert "reset" in str(exc.value).lower()  # an RST, not the clean FIN of `truncate`
    up.reset_mid_file = False
    assert (await get(http, file_url(up, f)))[2] == f.content


async def test_down_up_stop_start_same_port(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    port = up.port
    assert (await get(http, up.url))[0] == 200  # leaves a kept-alive connection in the pool
    await up.down()
    with pytest.raises(aiohttp.ClientConnectorError) as exc:
        await get(http, up.url)
    assert isinstance(exc.value.os_error, ConnectionRefusedError)
    await up.up()
    assert up.port == port and (await get(http, up.url))[0] == 200
    await up.stop()
    with pytest.raises(aiohttp.ClientConnectorError):
        await get(http, up.url)
    await up.start()
    assert up.port == port and (await get(http, up.url))[0] == 200


async def test_request_log(up: FakeUpstream, http: aiohttp.ClientSession) -> None:
    await get(http, up.url + "demo-pkg/")
    async with http.head(up.url + "demo-pkg/"):
        pass
    await get(http, up.url + "nope/")
    assert up.requests[-3:] == [
        ("GET", "/simple/demo-pkg/"), ("HEAD", "/simple/demo-pkg/"), ("GET", "/simple/nope/"),
    ]  # fmt: skip
    assert up.count("/simple/") == 3 and up.count("/simple/demo-pkg/", "HEAD") == 1
    up.reset_log()
    assert up.requests == [] and up.count("/") == 0


async def test_json_api_can_answer_large_and_chunked_like_the_real_index(
    up: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    up.set_owners("demo-pkg", ["alice"])
    up.json_api_padding, up.json_api_chunk = 300_000, 16 * 1024
    async with http.get(f"{up.base}/pypi/Demo.Pkg/json") as resp:
        assert resp.status == 200 and resp.content_length is None
        assert resp.headers["Transfer-Encoding"] == "chunked"
        reads = [chunk async for chunk, _ in resp.content.iter_chunks()]
    body = b"".join(reads)
    assert len(body) > 300_000 and len(reads) > 4  # arrives in several pieces
    data = json.loads(body)
    assert len(data["info"]["description"]) == 300_000
    assert data["ownership"]["roles"] == [{"role": "Owner", "user": "alice"}]
    assert sorted(data["releases"]) == ["1.0", "1.1", "2.0"]


# ---------------------------------------------------------------- real installers


def clean_env() -> dict[str, str]:
    """The environment minus pip/uv settings (this machine configures extra indexes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, UV_NO_CONFIG="1", NO_PROXY="127.0.0.1")
    return env


async def run(*argv: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, env=clean_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    return text


@pytest.fixture
async def app_index(tmp_path: Path) -> AsyncIterator[FakeUpstream]:
    """app 1.0 depends on lib; newer app versions are yanked or need Python 4."""
    fake = FakeUpstream()
    d = tmp_path / "dists"
    fake.add_wheel("fakeup-app", "1.0", d, requires_dist=["fakeup-lib>=1"])
    fake.add_wheel("fakeup-app", "1.5", d, yanked="bad")
    fake.add_wheel("fakeup-app", "2.0", d, requires_python=">=4")
    fake.add_wheel("fakeup-lib", "1.2", d, module_source="X = 42\n")
    async with fake:
        yield fake


def assert_installed(target: Path) -> None:
    assert (target / "fakeup_app" / "__init__.py").read_text() == '__version__ = "1.0"\n'
    assert (target / "fakeup_lib" / "__init__.py").read_text() == "X = 42\n"
    assert (target / "fakeup_app-1.0.dist-info" / "RECORD").exists()


@pytest.mark.parametrize("html_only", [False, True], ids=["json", "html"])
async def test_pip_installs_from_fake(
    app_index: FakeUpstream, tmp_path: Path, html_only: bool
) -> None:
    app_index.html_only = html_only
    out = await run(
        sys.executable, "-m", "pip", "install", "--isolated", "--no-cache-dir",
        # Without this pip's self-version check GETs /simple/pip/ from our index.
        "--disable-pip-version-check", "--target", str(tmp_path / "t"),
        "--index-url", app_index.url, "fakeup-app",
    )  # fmt: skip
    # No extra index or find-links from the machine's pip config leaked in.
    assert f"Looking in indexes: {app_index.url}\n" in out and "/opt/" not in out, out
    assert_installed(tmp_path / "t")
    assert app_index.count("/simple/", "GET") == 2  # app and lib pages, nothing else
    assert app_index.count("/files/") == 4  # PEP 658 metadata, then the wheel, for each


@pytest.mark.parametrize("html_only", [False, True], ids=["json", "html"])
async def test_uv_installs_from_fake(
    app_index: FakeUpstream, tmp_path: Path, html_only: bool
) -> None:
    app_index.html_only = html_only
    await run(
        str(VENV_BIN / "uv"), "pip", "install", "--no-cache", "--python", sys.executable,
        "--target", str(tmp_path / "t"), "--index-url", app_index.url, "fakeup-app",
    )  # fmt: skip
    assert_installed(tmp_path / "t")
    assert app_index.count("/simple/", "GET") == 2
    assert app_index.count("/files/") == 4
