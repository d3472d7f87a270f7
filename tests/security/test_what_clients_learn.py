"""Issue 9, point 13: what anonymous clients learn.

``/explain`` shows where a rule is written relative to the policy directory, never a server path, and never
a reviewer's note; ``[server] explain = "off"`` removes it. CORS on tier pages and files is off by default and
configurable. Files are not sent ``immutable`` for a year: their max-age is ``client_max_age``, like pages, so
a block reaches clients' caches within it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from mirror.config import load_config
from mirror.core.errors import ConfigError

from ..support.fake_upstream import JSON_TYPE
from ..support.mirror_server import MirrorServer, make_config
from ..support.policies import PolicyDir, block, review, vetted

PROJECT = "secret-lib"
NOTES = ("SECRET-REVIEW-NOTE", "SECRET-VET-NOTE")


@pytest.fixture
def project(tmp_path, upstream, dists):
    """PROJECT 1.0 (vetted), 1.1 (excluded by the review), 2.0 (blocked); notes that must stay private."""
    v1 = upstream.add_wheel(PROJECT, "1.0", dists)
    upstream.add_wheel(PROJECT, "1.1", dists)
    upstream.add_wheel(PROJECT, "2.0", dists)
    policies = PolicyDir(tmp_path / "policies")
    policies.write_tiers("[reviewed]\ncooldown_days = 0\n")
    policies.write_project(PROJECT, review(note=NOTES[0], exclude=["1.1"]),
                           vetted("1.0", {v1.filename: v1.sha256}, note=NOTES[1]),
                           block("known bad", versions="==2.0"))
    return v1


async def start(tmp_path: Path, upstream, **server: object) -> MirrorServer:
    config = make_config(tmp_path, upstream.url)
    mirror = MirrorServer(replace(config, server=replace(config.server, **server)))
    return await mirror.start()


async def test_explain_shows_no_server_paths_and_no_reviewer_notes(tmp_path, upstream, project, http):
    mirror = await start(tmp_path, upstream)
    try:
        answers = []
        for suffix in ("", "/1.0", "/1.1", "/2.0", "/9.9"):
            async with http.get(f"{mirror.base}/explain/{PROJECT}{suffix}") as resp:
                assert resp.status == 200
                answers.append(await resp.text())
        everything = "\n".join(answers)
        assert str(tmp_path) not in everything and "/policies" not in everything
        assert not [note for note in NOTES if note in everything]
        excluded = json.loads(answers[2])
        reviewed = next(t for t in excluded["tiers"] if t["tier"] == "reviewed")
        assert reviewed["where"].startswith(f"projects/{PROJECT}.toml:")
        assert reviewed["change"] == f"edit 'exclude' in projects/{PROJECT}.toml"
    finally:
        await mirror.stop()


async def test_explain_off_answers_404(tmp_path, upstream, project, http):
    mirror = await start(tmp_path, upstream, explain="off")
    try:
        for path in (f"/explain/{PROJECT}", f"/explain/{PROJECT}/1.0", "/explain/unknown"):
            async with http.get(mirror.base + path) as resp:
                assert resp.status == 404
        async with http.get(f"{mirror.index('reviewed')}not-reviewed/") as resp:
            text = await resp.text()
            assert resp.status == 404 and "mirror promote" in text and "/explain" not in text
    finally:
        await mirror.stop()


def cors_of(headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower().startswith("access-control-")}


async def tier_answers(http, mirror: MirrorServer, wheel, origin: str | None):
    """Answers of every kind under a tier: list, page, 301, 304, file, file HEAD, provenance 404."""
    headers = {"Origin": origin} if origin else {}
    found = []
    for url, extra in ((mirror.index(), {}), (mirror.index() + f"{PROJECT}/", {"Accept": JSON_TYPE}),
                       (mirror.index() + "Secret_Lib/", {}),
                       (f"{mirror.base}/all/files/{PROJECT}/{wheel.filename}", {}),
                       (f"{mirror.base}/vetted/integrity/{PROJECT}/1.0/{wheel.filename}/provenance", {})):
        async with http.get(url, headers={**headers, **extra}, allow_redirects=False) as resp:
            await resp.read()
            found.append(resp)
            if "ETag" in resp.headers:
                async with http.get(url, headers={**headers, **extra, "If-None-Match": resp.headers["ETag"]}) as again:
                    assert again.status == 304
                    found.append(again)
    async with http.head(f"{mirror.base}/all/files/{PROJECT}/{wheel.filename}", headers=headers) as resp:
        found.append(resp)
    assert {r.status for r in found} == {200, 301, 304, 404}
    return found


async def test_no_cors_by_default(tmp_path, upstream, project, http):
    mirror = await start(tmp_path, upstream)
    try:
        for resp in await tier_answers(http, mirror, project, "https://evil.example"):
            assert cors_of(resp.headers) == {}, resp.url
            assert "Origin" not in resp.headers.get("Vary", "")
    finally:
        await mirror.stop()


async def test_cors_for_listed_origins_only(tmp_path, upstream, project, http):
    allowed = "https://tools.example.org"
    mirror = await start(tmp_path, upstream, cors_origins=(allowed, "http://localhost:3000"))
    try:
        for resp in await tier_answers(http, mirror, project, allowed):
            assert resp.headers["Access-Control-Allow-Origin"] == allowed, resp.url
            assert resp.headers["Access-Control-Allow-Methods"] == "GET, HEAD"
            assert "Origin" in resp.headers["Vary"]
        for resp in await tier_answers(http, mirror, project, "https://evil.example"):
            assert cors_of(resp.headers) == {} and "Origin" in resp.headers["Vary"], resp.url
        async with http.get(f"{mirror.base}/healthz", headers={"Origin": allowed}) as resp:
            assert cors_of(resp.headers) == {}  # only tier pages and files
    finally:
        await mirror.stop()


async def test_cors_for_any_origin(tmp_path, upstream, project, http):
    mirror = await start(tmp_path, upstream, cors_origins=("*",))
    try:
        for resp in await tier_answers(http, mirror, project, None):
            assert resp.headers["Access-Control-Allow-Origin"] == "*", resp.url
            assert "Origin" not in resp.headers.get("Vary", "")
    finally:
        await mirror.stop()


async def test_files_are_not_immutable_for_a_year(tmp_path, upstream, project, http):
    mirror = await start(tmp_path, upstream, client_max_age=900)
    try:
        url = f"{mirror.base}/all/files/{PROJECT}/{project.filename}"
        seen = []
        for _ in range(2):  # a cold download, then from the cache
            async with http.get(url) as resp:
                assert resp.status == 200 and await resp.read() == project.content
                seen.append(resp.headers["Cache-Control"])
        async with http.head(url) as resp:
            seen.append(resp.headers["Cache-Control"])
        async with http.get(url + ".metadata") as resp:
            assert resp.status == 200
            seen.append(resp.headers["Cache-Control"])
        assert seen == ["public, max-age=900"] * 4
    finally:
        await mirror.stop()


@pytest.mark.parametrize(("text", "key", "fragment"), [
    ('[server]\nexplain = "private"\n', "server.explain", "unknown mode"),
    ('[server]\ncors_origins = "*"\n', "server.cors_origins", "wrong type"),
    ('[server]\n\ncors_origins = ["https://ok.example", "https://x.example/path"]\n', "server.cors_origins", "origin"),
    ('[server]\ncors_origins = ["ftp://x.example"]\n', "server.cors_origins", "origin"),
    ('[server]\ncors_origins = [1]\n', "server.cors_origins", "not a string"),
])
def test_new_server_keys_are_validated_with_file_line_and_key(tmp_path, text, key, fragment):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key and info.value.line == text.count("\n", 0, text.index(key.split(".")[1])) + 1
    assert fragment in str(info.value) and str(path) in str(info.value)
