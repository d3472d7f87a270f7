"""The admin API: every route against every kind of bad credential, and the changes it makes (the reviewer
commands' own code, the token's name in the audit log), against the running mirror and the fake upstream."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mirror.web.openapi import description

from ..support import floorworld
from ..support.databases import with_database
from ..support.fake_upstream import FakeUpstream
from ..support.mirror_server import MirrorServer
from ..support.policies import PolicyDir
from ..support.webface import bearer, browser_session, login, make_token, web_config

OLD = datetime.now(UTC) - timedelta(days=30)
#: Every described operation but the public description itself: (method, path template, role).
OPERATIONS = [(method.upper(), path, op.get("x-mirror-role", "reviewer"))
              for path, ops in description()["paths"].items() for method, op in ops.items()
              if path != "/api/v1/openapi.json"]
BODY = {"reason": "testing", "note": "testing", "name": "someone"}


def concrete(path: str) -> str:
    return (path.replace("{project}", "demo-pkg").replace("{version}", "1.0")
            .replace("{key_id}", "0123456789abcdef"))


async def call(http: aiohttp.ClientSession, base: str, method: str, path: str, *, headers: dict[str, str] | None = None,
               body: Any = BODY) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body) if method in ("POST", "DELETE") else None
    heads = {"Content-Type": "application/json", **(headers or {})} if data is not None else (headers or {})
    async with http.request(method, base + concrete(path), data=data, headers=heads, allow_redirects=False) as resp:
        text = await resp.text()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        return resp.status, dict(resp.headers), parsed


@pytest.fixture
async def demo(upstream: FakeUpstream, dists: Path) -> FakeUpstream:
    upstream.add_wheel("demo-pkg", "1.0", dists, upload_time=OLD)
    return upstream


def test_the_operations_cover_every_change_of_the_issue() -> None:
    paths = {(m, p) for m, p, _ in OPERATIONS}
    for action in ("promote", "demote", "block", "unblock"):
        assert ("POST", f"/api/v1/projects/{{project}}/{action}") in paths
    for action in ("vet", "unvet", "block", "unblock"):
        assert ("POST", f"/api/v1/projects/{{project}}/releases/{{version}}/{action}") in paths
    assert {("GET", "/api/v1/projects/{project}"), ("GET", "/api/v1/demand"), ("GET", "/api/v1/audit")} <= paths


@pytest.mark.parametrize("credential", ["none", "garbage", "wrong-secret", "expired", "revoked"])
async def test_every_route_refuses_without_valid_credentials(site: MirrorServer, demo: FakeUpstream,
                                                             http: aiohttp.ClientSession, credential: str) -> None:
    headers: dict[str, str] = {}
    if credential == "garbage":
        headers = bearer("not-a-token")
    elif credential == "wrong-secret":
        real = await make_token(site.app)
        headers = bearer(real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB"))
    elif credential == "expired":
        headers = bearer(await make_token(site.app, expired=True))
    elif credential == "revoked":
        headers = bearer(await make_token(site.app, revoked=True))
    for method, path, _ in OPERATIONS:
        status, heads, body = await call(http, site.base, method, path, headers=headers)
        assert status == 401, (method, path, credential, body)
        assert isinstance(body, dict) and "authentication required" in body["error"], (method, path, body)
        assert heads.get("WWW-Authenticate", "").startswith("Bearer"), (method, path)
    assert not (site.config.policies.path / "projects" / "demo-pkg.toml").exists()  # nothing changed


async def test_a_reviewer_token_is_refused_on_admin_routes(site: MirrorServer, demo: FakeUpstream,
                                                           http: aiohttp.ClientSession) -> None:
    token = await make_token(site.app, "rita", "reviewer")
    admin_only = [(m, p) for m, p, role in OPERATIONS if role == "admin"]
    assert {p for _, p in admin_only} >= {"/api/v1/projects/{project}/unblock", "/api/v1/tokens"}
    for method, path in admin_only:
        status, _, body = await call(http, site.base, method, path, headers=bearer(token))
        assert status == 403, (method, path, body)
        assert "admin token is needed" in body["error"]


async def test_a_session_without_its_csrf_token_changes_nothing(site: MirrorServer, demo: FakeUpstream) -> None:
    token = await make_token(site.app, "ada", "admin")
    async with browser_session() as browser:
        csrf = await login(browser, site.base, token)
        for method, path, _ in OPERATIONS:
            if method == "GET":
                continue
            status, _, body = await call(browser, site.base, method, path)
            assert status == 403 and "CSRF" in body["error"], (method, path, body)
            status, _, body = await call(browser, site.base, method, path, headers={"X-CSRF-Token": "forged"})
            assert status == 403, (method, path, body)
            # A form without the field, or with another session's token, is refused the same way.
            async with browser.request(method, site.base + concrete(path), allow_redirects=False,
                                       data={"reason": "x", "note": "x", "next": "/", "name": "x"}) as resp:
                assert resp.status == 403, (method, path, await resp.text())
        # Reads need no CSRF token; with the right one a change goes through.
        status, _, body = await call(browser, site.base, "GET", "/api/v1/me")
        assert status == 200 and body == {"name": "ada", "role": "admin", "session": True}
        status, _, body = await call(browser, site.base, "POST", "/api/v1/projects/{project}/promote",
                                     headers={"X-CSRF-Token": csrf}, body={"note": "from the browser"})
        assert status == 200, body
    assert (site.config.policies.path / "projects" / "demo-pkg.toml").is_file()


async def test_promote_through_the_api_runs_the_review_command(site: MirrorServer, demo: FakeUpstream,
                                                               http: aiohttp.ClientSession,
                                                               policies: PolicyDir) -> None:
    token = await make_token(site.app, "rita")
    async with http.get(site.index("reviewed") + "demo-pkg/") as resp:
        assert resp.status == 404
    status, _, body = await call(http, site.base, "POST", "/api/v1/projects/{project}/promote", headers=bearer(token),
                                 body={"note": "core dependency"})
    assert status == 200, body
    assert body["by"] == "rita" and body["project"] == "demo-pkg" and body["audit_ids"]
    assert body["lines"][0] == "promoted demo-pkg into 'reviewed' (projects/demo-pkg.toml)"  # no server paths
    text = policies.project_path("demo-pkg").read_text()
    assert 'by = "rita"' in text and "core dependency" in text
    # The server reloaded at once: the very next request sees it.
    async with http.get(site.index("reviewed") + "demo-pkg/") as resp:
        assert resp.status == 200
    status, _, audit = await call(http, site.base, "GET", "/api/v1/audit", headers=bearer(token))
    assert status == 200
    assert [(r["actor"], r["action"], r["target"], r["note"]) for r in audit["records"]] == [
        ("rita", "promote", "demo-pkg", "core dependency")]
    # Promoting again changes nothing and says so (the command is idempotent): no new audit record.
    status, _, body = await call(http, site.base, "POST", "/api/v1/projects/{project}/promote", headers=bearer(token))
    assert status == 200 and not body["audit_ids"], body
    assert "already reviewed" in body["lines"][0] and "nothing changed" in body["lines"][0]
    # A name upstream does not have is refused by the command itself: 422, nothing written.
    status, _, body = await call(http, site.base, "POST", "/api/v1/projects/no-such-project/promote",
                                 headers=bearer(token), body={"note": "x"})
    assert status == 422 and "has no project no-such-project" in body["error"], body


async def test_the_typo_squat_gate_applies(site: MirrorServer, upstream: FakeUpstream, dists: Path,
                                           http: aiohttp.ClientSession) -> None:
    upstream.add_wheel("reqeusts", "1.0", dists, upload_time=OLD)
    token = await make_token(site.app)
    url = f"{site.base}/api/v1/projects/reqeusts/promote"
    async with http.post(url, json={"note": "typo?"}, headers=bearer(token)) as resp:
        body = await resp.json()
        assert resp.status == 422 and "refusing to promote 'reqeusts'" in body["error"], body
    assert not (site.config.policies.path / "projects" / "reqeusts.toml").exists()
    async with http.post(url, json={"note": "our fork, really", "allow_similar": True}, headers=bearer(token)) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        assert any("allowed although it looks like" in line for line in body["lines"])


async def test_reasons_are_required_and_bodies_checked(site: MirrorServer, demo: FakeUpstream,
                                                       http: aiohttp.ClientSession) -> None:
    token = await make_token(site.app)
    for path in ("/api/v1/projects/{project}/demote", "/api/v1/projects/{project}/block",
                 "/api/v1/projects/{project}/releases/{version}/unvet"):
        status, _, body = await call(http, site.base, "POST", path, headers=bearer(token), body={})
        assert status == 422 and "'reason' is required" in body["error"], (path, body)
    status, _, body = await call(http, site.base, "POST", "/api/v1/projects/{project}/promote",
                                 headers=bearer(token), body={"note": ["not", "text"]})
    assert status == 422 and "'note' must be a string" in body["error"]
    async with http.post(f"{site.base}/api/v1/projects/demo-pkg/promote", data=b"{not json",
                         headers={**bearer(token), "Content-Type": "application/json"}) as resp:
        assert resp.status == 400
    async with http.post(f"{site.base}/api/v1/projects/demo-pkg/promote", data=b"x",
                         headers={**bearer(token), "Content-Type": "text/plain"}) as resp:
        assert resp.status == 415
    async with http.post(f"{site.base}/api/v1/projects/..bad../promote", headers=bearer(token)) as resp:
        assert resp.status == 404
    status, _, body = await call(http, site.base, "POST", "/api/v1/projects/{project}/releases/{version}/vet",
                                 headers=bearer(token), body={"note": "x"})
    assert status == 422 and "not reviewed" in body["error"]  # vetting needs a promotion first


async def test_a_change_that_opens_a_hole_is_refused_unless_forced(site: MirrorServer, upstream: FakeUpstream,
                                                                  dists: Path, http: aiohttp.ClientSession) -> None:
    """The API refuses ``demote`` as the CLI does (422, the dependents named, nothing changed); ``"force": true``
    makes the change, and the answer says what the tiers no longer serve."""
    floorworld.publish(upstream, dists)
    token = await make_token(site.app)
    base = f"{site.base}/api/v1/projects"
    for name in ("helper", "toolkit", "gadget"):
        async with http.post(f"{base}/{name}/promote", json={"note": "ok"}, headers=bearer(token)) as resp:
            assert resp.status == 200, await resp.text()
    async with http.post(f"{base}/helper/demote", json={"reason": "not needed?"}, headers=bearer(token)) as resp:
        body = await resp.json()
        assert resp.status == 422, body
        assert body["error"].startswith("refusing to demote helper: gadget, toolkit need(s) it"), body
    assert (site.config.policies.path / "projects" / "helper.toml").read_text().count("[review]") == 1
    async with http.post(f"{base}/helper/demote", json={"reason": "not needed?", "force": True},
                         headers=bearer(token)) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        assert any(line.startswith("warning: forced: the tiers no longer serve what their projects need: ")
                   and "gadget 1.0 needs helper>=2" in line for line in body["lines"]), body
    assert "[review]" not in (site.config.policies.path / "projects" / "helper.toml").read_text()


async def test_vet_block_and_unblock_a_release(site: MirrorServer, demo: FakeUpstream, dists: Path,
                                               http: aiohttp.ClientSession) -> None:
    demo.add_wheel("demo-pkg", "2.0", dists, upload_time=OLD)
    reviewer, admin = await make_token(site.app, "rita"), await make_token(site.app, "ada", "admin")
    base = f"{site.base}/api/v1/projects/demo-pkg"
    for url, payload in ((f"{base}/promote", {"note": "ok"}), (f"{base}/releases/1.0/vet", {"note": "diff read"})):
        async with http.post(url, json=payload, headers=bearer(reviewer)) as resp:
            assert resp.status == 200, await resp.text()
    async with http.get(f"{site.base}/vetted/pypi/demo-pkg/json") as resp:
        assert resp.status == 200
        assert list((await resp.json())["releases"]) == ["1.0"]
    async with http.post(f"{base}/releases/2.0/block", json={"reason": "CVE-2026-0001"},
                         headers=bearer(reviewer)) as resp:
        assert resp.status == 200, await resp.text()
    async with http.get(site.index("all") + "demo-pkg/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
                        ) as resp:
        assert [f["filename"] for f in (await resp.json())["files"]] == ["demo_pkg-1.0-py3-none-any.whl"]
    async with http.post(f"{base}/releases/2.0/unblock", json={"reason": "fixed"}, headers=bearer(reviewer)) as resp:
        assert resp.status == 403
    async with http.post(f"{base}/releases/2.0/unblock", json={"reason": "fixed"}, headers=bearer(admin)) as resp:
        assert resp.status == 200, await resp.text()
    status, _, audit = await call(http, site.base, "GET", "/api/v1/audit?project=demo-pkg", headers=bearer(admin))
    assert [(r["actor"], r["action"]) for r in audit["records"]] == [
        ("ada", "unblock"), ("rita", "block"), ("rita", "record-uploaders"), ("rita", "vet"), ("rita", "promote")]
    status, _, audit = await call(http, site.base, "GET", "/api/v1/audit?actor=ada&limit=1", headers=bearer(admin))
    assert [r["action"] for r in audit["records"]] == ["unblock"] and audit["next_before"] is not None


async def test_tokens_through_the_api(site: MirrorServer, http: aiohttp.ClientSession) -> None:
    admin = await make_token(site.app, "ada", "admin")
    async with http.post(f"{site.base}/api/v1/tokens", json={"name": "bot", "expires_days": 1},
                         headers=bearer(admin)) as resp:
        assert resp.status == 201
        made = await resp.json()
    assert made["role"] == "reviewer" and made["valid"] and made["token"].startswith("mirror_")
    status, _, me = await call(http, site.base, "GET", "/api/v1/me", headers=bearer(made["token"]))
    assert status == 200 and me["name"] == "bot"
    status, _, listing = await call(http, site.base, "GET", "/api/v1/tokens", headers=bearer(admin))
    assert {t["name"] for t in listing["tokens"]} == {"ada", "bot"}
    assert made["token"] not in json.dumps(listing)
    async with http.delete(f"{site.base}/api/v1/tokens/{made['key_id']}", headers=bearer(admin)) as resp:
        assert resp.status == 200 and (await resp.json())["revoked"] == [made["key_id"]]
    status, _, _ = await call(http, site.base, "GET", "/api/v1/me", headers=bearer(made["token"]))
    assert status == 401
    async with http.delete(f"{site.base}/api/v1/tokens/{made['key_id']}", headers=bearer(admin)) as resp:
        assert resp.status == 409
    async with http.post(f"{site.base}/api/v1/tokens", json={"name": "bad name"}, headers=bearer(admin)) as resp:
        assert resp.status == 422


async def test_admin_routes_and_logins_are_rate_limited(tmp_path: Path, upstream: FakeUpstream,
                                                        http: aiohttp.ClientSession) -> None:
    server = await MirrorServer(web_config(tmp_path, upstream.url, api_per_minute=5, login_per_minute=3)).start()
    try:
        statuses = []
        for _ in range(7):
            async with http.get(f"{server.base}/api/v1/me", headers=bearer("mirror_guess")) as resp:
                statuses.append(resp.status)
                retry = resp.headers.get("Retry-After")
        assert statuses == [401] * 5 + [429] * 2 and retry is not None and int(retry) >= 1
        logins = []
        for _ in range(4):
            async with http.post(f"{server.base}/ui/login", data={"token": "x"}) as resp:
                logins.append(resp.status)
        assert logins[-1] == 429 and 429 not in logins[:3]
        # The Simple API is never rate-limited nor authenticated.
        async with http.get(server.index("all"), headers=bearer("mirror_guess")) as resp:
            assert resp.status == 200
    finally:
        await server.stop()


async def test_the_simple_api_and_files_never_answer_401_or_403(tmp_path: Path, demo: FakeUpstream,
                                                                http: aiohttp.ClientSession) -> None:
    """Even with bad credentials attached and the UI behind a login (uv aborts a resolution on 401/403)."""
    server = await MirrorServer(web_config(tmp_path, demo.url, access="login")).start()
    try:
        headers = {**bearer("mirror_0123456789abcdef_" + "x" * 43), "Cookie": "mirror_session=forged.value"}
        for tier in ("all", "reviewed", "vetted"):
            for path in (f"/{tier}/simple/", f"/{tier}/simple/demo-pkg/", f"/{tier}/simple/no-such-project/",
                         f"/{tier}/files/demo-pkg/demo_pkg-1.0-py3-none-any.whl",
                         f"/{tier}/files/demo-pkg/demo_pkg-1.0-py3-none-any.whl.metadata",
                         f"/{tier}/pypi/demo-pkg/json", f"/{tier}/pypi/demo-pkg/1.0/json", "/explain/demo-pkg"):
                async with http.get(server.base + path, headers=headers, allow_redirects=False) as resp:
                    assert resp.status in (200, 404), (path, resp.status)
        # The UI itself sends a browser to the login form.
        async with http.get(f"{server.base}/ui/audit", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"].startswith("/ui/login?next=")
    finally:
        await server.stop()


async def test_malformed_bodies_are_400s_never_500s(site: MirrorServer, http: aiohttp.ClientSession) -> None:
    token = await make_token(site.app, "ada", "admin")
    auth = bearer(token)
    cases = [
        ("/ui/login", {"Content-Type": "multipart/form-data; boundary=zz"}, b"--zz\r\nbroken"),
        ("/ui/login", {"Content-Type": "multipart/form-data"}, b"no boundary"),
        ("/ui/logout", {"Content-Type": "multipart/form-data; boundary=zz"}, b"--zz\r\nbroken"),
        ("/api/v1/projects/x/promote", {**auth, "Content-Type": "multipart/form-data; boundary=zz"}, b"--zz\r\nx"),
        ("/api/v1/projects/x/promote", {**auth, "Content-Type": "application/json"}, b"\xff\xfe{"),
        ("/api/v1/tokens", {**auth, "Content-Type": "application/json"}, b'{"name": "a", "expires_days": 1e400}'),
    ]
    for path, headers, body in cases:
        async with http.post(site.base + path, headers=headers, data=body, allow_redirects=False) as resp:
            assert 400 <= resp.status < 500, (path, resp.status, await resp.text())


async def test_changes_sessions_and_reads_on_each_database(tmp_path: Path, demo: FakeUpstream, database_url: str,
                                                           http: aiohttp.ClientSession) -> None:
    """The admin API, a browser session and the UI's reads on SQLite and on PostgreSQL."""
    server = await MirrorServer(with_database(web_config(tmp_path, demo.url), database_url)).start()
    try:
        token = await make_token(server.app, "rita")
        async with browser_session() as browser:
            csrf = await login(browser, server.base, token)
            async with browser.post(f"{server.base}/api/v1/projects/demo-pkg/promote", json={"note": "ok"},
                                    headers={"X-CSRF-Token": csrf}) as resp:
                assert resp.status == 200, await resp.text()
            async with browser.get(f"{server.base}/ui/audit?actor=rita") as resp:
                assert resp.status == 200 and "demo-pkg" in await resp.text()
        status, _, demand = await call(http, server.base, "GET", "/api/v1/demand", headers=bearer(token))
        assert status == 200 and demand["total"] == 0
        async with http.get(server.index("reviewed") + "demo-pkg/") as resp:
            assert resp.status == 200
    finally:
        await server.stop()
