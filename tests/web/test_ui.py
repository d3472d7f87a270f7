"""The browser UI over HTTP (the headless browser drives it in tests/browser): every page, what it shows to whom,
the login and its cookies, the forms, and that the releases × tiers shown are the decisions ``explain`` gives."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from mirror.adapters.db.advisories import AdvisoryStore
from mirror.adapters.db.audit import AuditLog, AuditRecord
from mirror.core.advisories import parse_osv
from mirror.web.lifecycle import ENGINE
from mirror.web.state import SERVICES

from ..support.fake_upstream import FakeUpstream
from ..support.mirror_server import MirrorServer
from ..support.policies import PolicyDir, block, review, vetted, wait_until
from ..support.webface import UiPage, browser_session, csrf_of, login, make_token, web_config

OLD = datetime.now(UTC) - timedelta(days=30)
YESTERDAY = datetime.now(UTC) - timedelta(days=1)
PAGES = ["/", "/all/", "/reviewed/", "/vetted/", "/ui/projects/demo-pkg", "/ui/projects/demo-pkg/1.0",
         "/ui/search", "/ui/search?q=demo", "/ui/demand", "/ui/holes", "/ui/audit", "/ui/login",
         "/ui/projects/no-such-project"]


@pytest.fixture
async def demo(upstream: FakeUpstream, dists: Path, policies: PolicyDir, site: MirrorServer,
               http: aiohttp.ClientSession) -> FakeUpstream:
    """demo-pkg: 1.0 vetted, 1.1 reviewed, 2.0 in the cooldown, 0.9 blocked."""
    v10 = upstream.add_wheel("demo-pkg", "1.0", dists, upload_time=OLD)
    upstream.add_wheel("demo-pkg", "0.9", dists, upload_time=OLD)
    upstream.add_wheel("demo-pkg", "1.1", dists, upload_time=OLD, yanked="oops")
    upstream.add_wheel("demo-pkg", "2.0", dists, upload_time=YESTERDAY)
    upstream.set_owners("demo-pkg", ["alice"])
    policies.write_project("demo-pkg", review(note="secret reviewer note"), block(versions="==0.9", reason="CVE"),
                           vetted("1.0", {v10.filename: v10.sha256}))
    await policies.applied(http, site.base, "demo-pkg")
    return upstream


async def page(http: aiohttp.ClientSession, url: str, status: int = 200) -> str:
    async with http.get(url, allow_redirects=False) as resp:
        text = await resp.text()
        assert resp.status == status, (url, resp.status, text[:500])
        return text


async def test_every_page_renders_accessible_html(site: MirrorServer, demo: FakeUpstream,
                                                  http: aiohttp.ClientSession, tmp_path: Path) -> None:
    for path in PAGES:
        async with http.get(site.base + path, allow_redirects=False) as resp:
            text = await resp.text()
            assert resp.status == (404 if "no-such" in path else 200), (path, text[:300])
            assert resp.content_type == "text/html"
            assert "script-src" not in resp.headers["Content-Security-Policy"]  # default-src 'none': no script
            assert resp.headers["X-Frame-Options"] == "DENY"
        assert UiPage(text).problems() == [], path
        assert str(tmp_path) not in text, f"{path} shows a server path"
        assert "secret reviewer note" not in text, f"{path} shows a reviewer's note to anonymous visitors"
    async with http.get(f"{site.base}/ui/static/mirror.css") as resp:
        assert resp.status == 200 and resp.content_type == "text/css"


async def test_home_says_what_the_mirror_is_and_how_to_use_each_tier(site: MirrorServer, demo: FakeUpstream,
                                                                     http: aiohttp.ClientSession) -> None:
    text = await page(http, f"{site.base}/")
    for tier in ("all", "reviewed", "vetted"):
        assert f"pip install --index-url {site.base}/{tier}/simple/ PACKAGE" in text
        assert f'url = "{site.base}/{tier}/simple/"' in text
    assert "<strong>1</strong> project reviewed" in text
    assert "<strong>1</strong> release vetted in <strong>1</strong> project" in text
    assert "<strong>1</strong> release blocked" in text
    version = site.app[SERVICES].policies.current.version
    assert f"version <code>{version}</code>" in text
    assert "answering" in text  # the page fetches so far were answered
    await demo.down()
    site.app[SERVICES].pages.projects.forget("other")
    async with http.get(site.index("all") + "other/") as resp:
        assert resp.status == 502
    assert "failing" in await page(http, f"{site.base}/")
    await demo.up()
    # The bare tier URLs are pages, not 404s; an unknown tier is.
    assert "Tier <code>reviewed</code>" in await page(http, f"{site.base}/reviewed/")
    async with http.get(f"{site.base}/vetted", allow_redirects=False) as resp:
        assert resp.status == 301 and resp.headers["Location"] == "/vetted/"
    await page(http, f"{site.base}/nope/", 404)


async def test_the_project_page_shows_the_decisions_explain_gives(site: MirrorServer, demo: FakeUpstream,
                                                                  http: aiohttp.ClientSession) -> None:
    text = await page(http, f"{site.base}/ui/projects/demo-pkg")
    shown = UiPage(text).verdicts
    assert list(shown) == ["2.0", "1.1", "1.0", "0.9"]  # newest first
    for version, cells in shown.items():
        async with http.get(f"{site.base}/explain/demo-pkg/{version}") as resp:
            explained = {t["tier"]: "in" if t["admitted"] else "out" for t in (await resp.json())["tiers"]}
        assert cells == explained, version
    assert shown["2.0"] == {"all": "in", "reviewed": "out", "vetted": "out"}
    assert "inside the 7-day cooldown" in text and "version blocked (==0.9): CVE" in text
    assert "yanked" in text and "alice" in text  # a yanked release; the maintainers upstream names
    assert "projects/demo-pkg.toml" in text  # where the rule is written, relative to the policy directory
    # A release's page: files with hashes and sizes, the pin, and each tier's verdict.
    release = await page(http, f"{site.base}/ui/projects/demo-pkg/1.0")
    v10 = next(f for f in demo._projects["demo-pkg"].files.values() if f.version == "1.0")
    assert v10.sha256 in release and "(matches)" in release and f"{v10.size:,} bytes" in release
    await page(http, f"{site.base}/ui/projects/demo-pkg/7.7", 404)
    async with http.get(f"{site.base}/ui/projects/Demo_Pkg", allow_redirects=False) as resp:
        assert resp.status == 301 and resp.headers["Location"] == "/ui/projects/demo-pkg"


def waiver(version: str, rule: str, until: datetime, reason: str, by: str = "carol") -> str:
    return (f'[[waiver]]\nversion = "{version}"\nrule = "{rule}"\nuntil = {until:%Y-%m-%dT%H:%M:%SZ}\n'
            f'reason = "{reason}"\nby = "{by}"\n')


async def test_the_project_page_shows_the_evidence_decisions(site: MirrorServer, upstream: FakeUpstream,
                                                             dists: Path, policies: PolicyDir,
                                                             http: aiohttp.ClientSession) -> None:
    """Advisories holding a release (and the shadow mode's warning), licences, waivers with their expiry: the
    same TierViews as the pages, so the same verdicts as ``explain``."""
    for version, licence in (("1.0", "MIT"), ("1.5", "GPL-3.0-only"), ("1.6", "GPL-3.0-only"), ("2.0", "MIT")):
        upstream.add_wheel("evid-pkg", version, dists, upload_time=OLD, license_expression=licence)
    upstream.set_vulnerabilities("evid-pkg", [{"id": "PYSEC-2026-9", "summary": "parser overflow",
                                               "fixed_in": ["2.1"]}])
    soon, past = datetime.now(UTC) + timedelta(days=10), datetime.now(UTC) - timedelta(days=3)
    policies.write_tiers('[reviewed]\nlicenses = ["MIT"]\n')
    policies.write_project("evid-pkg", review(), waiver("1.5", "license", soon, "legal approved (ticket 88)"),
                           waiver("1.6", "license", past, "trial period"))
    await policies.applied(http, site.base, "evid-pkg")

    expected = {"2.0": {"all": "in", "reviewed": "out", "vetted": "out"},
                "1.6": {"all": "in", "reviewed": "out", "vetted": "out"},
                "1.5": {"all": "in", "reviewed": "in", "vetted": "out"},
                "1.0": {"all": "in", "reviewed": "in", "vetted": "out"}}
    seen: list[dict[str, dict[str, str]]] = []

    async def decided() -> bool:  # licences are read from the releases' metadata in the background
        seen.append(UiPage(await page(http, f"{site.base}/ui/projects/evid-pkg")).verdicts)
        return seen[-1] == expected

    await wait_until(decided, lambda: f"the licences read: {seen[-1]}")
    text = await page(http, f"{site.base}/ui/projects/evid-pkg")
    shown = UiPage(text).verdicts
    for version, cells in shown.items():
        async with http.get(f"{site.base}/explain/evid-pkg/{version}") as resp:
            explained = {t["tier"]: "in" if t["admitted"] else "out" for t in (await resp.json())["tiers"]}
        assert cells == explained, version
    flat = " ".join(text.split())
    # The advisory holding 2.0 from `reviewed`, with the fixed version; `all` serves it with a warning.
    assert "known vulnerability: PYSEC-2026-9" in flat and "fixed in 2.1" in flat
    assert 'warning</span> known vulnerability: PYSEC-2026-9 [vulnerable = &#34;warn&#34;' in flat
    # The licence holding 1.6; 1.5's waiver lifting it, with its expiry; 1.6's expired waiver.
    assert "licence GPL-3.0-only (from License-Expression) is not allowed in &#39;reviewed&#39;" in flat
    lifted = (f"waived</span> licence GPL-3.0-only (from License-Expression) is not allowed in &#39;reviewed&#39; "
              f"(allowed: MIT): license waived by carol until {soon:%Y-%m-%d %H:%M} UTC (legal approved (ticket 88); "
              f"projects/evid-pkg.toml:")
    assert lifted in flat
    assert "license for" in flat and "legal approved (ticket 88); until" in flat
    assert "expired</span>" in flat and "the rule holds the release again" in flat
    assert UiPage(text).problems() == []
    # The release page shows the same cells.
    release = " ".join((await page(http, f"{site.base}/ui/projects/evid-pkg/1.5")).split())
    assert lifted in release


async def test_releases_are_paginated(site: MirrorServer, upstream: FakeUpstream, dists: Path,
                                      http: aiohttp.ClientSession) -> None:
    for minor in range(30):
        upstream.add_wheel("many", f"1.{minor}", dists, upload_time=OLD)
    first = UiPage(await page(http, f"{site.base}/ui/projects/many")).verdicts
    second = UiPage(await page(http, f"{site.base}/ui/projects/many?page=2")).verdicts
    assert len(first) == 25 and list(first)[0] == "1.29" and list(second) == [f"1.{m}" for m in range(4, -1, -1)]


async def test_search(site: MirrorServer, demo: FakeUpstream, policies: PolicyDir,
                      http: aiohttp.ClientSession) -> None:
    policies.write_project("types-demo", block(reason="squat"))
    await policies.applied(http, site.base, "types-demo")
    text = await page(http, f"{site.base}/ui/search?q=demo")
    assert text.index("/ui/projects/demo-pkg") < text.index("/ui/projects/types-demo")  # prefix matches first
    assert "blocked" in text and "vetted" in text
    assert "2 of the 2 projects" in text
    text = await page(http, f"{site.base}/ui/search?q=requests")
    assert "0 of the 2 projects" in text and 'href="/ui/projects/requests"' in text  # open any upstream project


async def test_demand_lists_what_clients_missed_with_a_promote_button_for_reviewers(
        site: MirrorServer, upstream: FakeUpstream, dists: Path, http: aiohttp.ClientSession) -> None:
    upstream.add_wheel("wanted", "1.0", dists, upload_time=OLD)
    for _ in range(3):
        async with http.get(site.index("reviewed") + "wanted/") as resp:
            assert resp.status == 404
    demand = site.app[SERVICES].demand

    async def counted() -> bool:
        await demand.flush()
        return "wanted" in await page(http, f"{site.base}/ui/demand")

    await wait_until(counted, "the demand for 'wanted' to be recorded", deadline=10)
    text = await page(http, f"{site.base}/ui/demand?tier=reviewed")
    assert "not reviewed: no [review] for this project" in text and "mirror promote wanted" in text
    assert "/api/v1/projects/wanted/promote" not in text  # no buttons for anonymous visitors
    token = await make_token(site.app, "rita")
    async with browser_session() as browser:
        await login(browser, site.base, token)
        text = await page(browser, f"{site.base}/ui/demand?tier=reviewed")
        assert 'action="/api/v1/projects/wanted/promote"' in text
        async with browser.post(f"{site.base}/api/v1/projects/wanted/promote", allow_redirects=False, data={
                "csrf_token": csrf_of(text), "note": "asked for 3 times", "next": "/ui/demand?tier=reviewed"}) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/ui/demand?tier=reviewed"
        text = await page(browser, f"{site.base}/ui/demand?tier=reviewed")
        assert "promoted wanted into &#39;reviewed&#39;" in text  # the outcome, shown once
        assert "promoted wanted" not in await page(browser, f"{site.base}/ui/demand?tier=reviewed")
    async with http.get(site.index("reviewed") + "wanted/") as resp:
        assert resp.status == 200


async def test_a_refused_form_says_why_and_changes_nothing(site: MirrorServer, upstream: FakeUpstream, dists: Path,
                                                           http: aiohttp.ClientSession) -> None:
    upstream.add_wheel("reqeusts", "1.0", dists, upload_time=OLD)
    async with browser_session() as browser:
        await login(browser, site.base, await make_token(site.app))
        text = await page(browser, f"{site.base}/ui/projects/reqeusts")
        async with browser.post(f"{site.base}/api/v1/projects/reqeusts/promote", allow_redirects=False, data={
                "csrf_token": csrf_of(text), "note": "", "next": "https://evil.example/"}) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/ui/projects/reqeusts"  # never off-site
        text = await page(browser, f"{site.base}/ui/projects/reqeusts")
        assert "Refused: nothing changed" in text and "refusing to promote" in text
    assert not (site.config.policies.path / "projects" / "reqeusts.toml").exists()


async def test_audit_log_filters_and_pages(site: MirrorServer, http: aiohttp.ClientSession) -> None:
    log = AuditLog(site.app[ENGINE])
    now = time.time()
    await log.append_all([AuditRecord(now + i, "alice" if i % 2 else "bob", "promote", f"p{i}", None, "[review]",
                                      f"note {i}") for i in range(120)])
    text = await page(http, f"{site.base}/ui/audit")
    assert text.count('<td data-label="Action">') == 50 and "p119" in text and "p69" not in text
    assert "note 119" not in text  # notes only after a login
    older = text[text.index('rel="next" href="') + len('rel="next" href="'):].split('"')[0].replace("&amp;", "&")
    text = await page(http, site.base + older)
    assert "p69" in text and "p119" not in text
    text = await page(http, f"{site.base}/ui/audit?actor=bob&project=p42")
    assert text.count('<td data-label="Action">') == 1
    text = await page(http, f"{site.base}/ui/audit?actor=alice&project=p42")
    assert "No audit records match" in text
    assert 'aria-invalid="true"' in await page(http, f"{site.base}/ui/audit?project=..bad")
    async with browser_session() as browser:
        await login(browser, site.base, await make_token(site.app))
        assert "note 119" in await page(browser, f"{site.base}/ui/audit")


async def test_login_cookies_and_logout(site: MirrorServer, demo: FakeUpstream, http: aiohttp.ClientSession) -> None:
    token = await make_token(site.app, "rita")
    async with browser_session() as browser:
        async with browser.get(f"{site.base}/ui/login") as resp:
            login_csrf = csrf_of(await resp.text())
            assert "SameSite=Strict" in resp.headers["Set-Cookie"] and "HttpOnly" in resp.headers["Set-Cookie"]
        async with browser.post(f"{site.base}/ui/login", data={"token": token, "next": "/"}) as resp:
            assert resp.status == 403  # no CSRF token: refused
        async with browser.post(f"{site.base}/ui/login",
                                data={"csrf_token": login_csrf, "token": "mirror_nope"}) as resp:
            assert resp.status == 401 and "not valid" in await resp.text()
        async with browser.post(f"{site.base}/ui/login", allow_redirects=False, data={
                "csrf_token": login_csrf, "token": token, "next": "/ui/projects/demo-pkg"}) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/ui/projects/demo-pkg"
            cookie = next(v for v in resp.headers.getall("Set-Cookie") if v.startswith("mirror_session="))
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        text = await page(browser, f"{site.base}/ui/projects/demo-pkg")
        assert "logged in as rita (reviewer)" in text and "secret reviewer note" in text
        for path in ("/ui/projects/demo-pkg", "/ui/projects/demo-pkg/1.0", "/ui/projects/demo-pkg/2.0",
                     "/ui/demand", "/ui/audit", "/"):
            assert UiPage(await page(browser, site.base + path)).problems() == [], path
        assert 'action="/api/v1/projects/demo-pkg/demote"' in text
        assert 'action="/api/v1/projects/demo-pkg/unblock"' not in text  # an admin's button
        async with browser.post(f"{site.base}/ui/logout", data={"csrf_token": "forged"}) as resp:
            assert resp.status == 403
        async with browser.post(f"{site.base}/ui/logout", data={"csrf_token": csrf_of(text)}) as resp:
            assert resp.status == 200
        text = await page(browser, f"{site.base}/ui/projects/demo-pkg")
        assert "secret reviewer note" not in text and "Log in" in text


async def test_a_revoked_token_ends_its_sessions(site: MirrorServer, http: aiohttp.ClientSession) -> None:
    services = site.app[SERVICES]
    record, token = await services.tokens.create("rita")
    async with browser_session() as browser:
        await login(browser, site.base, token)
        assert "Log out" in await page(browser, f"{site.base}/ui/audit")
        await services.tokens.revoke(record.key_id)
        assert "Log out" not in await page(browser, f"{site.base}/ui/audit")


async def test_access_login_puts_every_page_behind_a_login(tmp_path: Path, upstream: FakeUpstream,
                                                           http: aiohttp.ClientSession) -> None:
    server = await MirrorServer(web_config(tmp_path, upstream.url, access="login")).start()
    try:
        for path in ["/", "/all/", "/ui/search", "/ui/demand", "/ui/audit", "/ui/projects/x"]:
            async with http.get(server.base + path, allow_redirects=False) as resp:
                assert resp.status == 303 and resp.headers["Location"].startswith("/ui/login?next="), path
        await page(http, f"{server.base}/ui/login")
        async with browser_session() as browser:
            await login(browser, server.base, await make_token(server.app))
            await page(browser, f"{server.base}/ui/search")
    finally:
        await server.stop()


async def test_a_tier_page_lists_what_its_project_list_lists(site: MirrorServer, policies: PolicyDir,
                                                             http: aiohttp.ClientSession) -> None:
    """Names from the policies, less the projects a malware report covers entirely (as the tier's simple list)."""
    for name in ("good-lib", "evil-lib"):
        policies.write_project(name, review())
    await policies.applied(http, site.base)
    assert 'href="/ui/projects/evil-lib"' in await page(http, f"{site.base}/reviewed/")
    await AdvisoryStore(site.app[ENGINE]).import_osv([parse_osv({
        "id": "MAL-2026-5", "modified": "2026-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "evil-lib"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]})])
    advisories = site.app[SERVICES].advisories
    assert advisories is not None and await advisories.check_changes() == {"evil-lib"}
    text = await page(http, f"{site.base}/reviewed/")
    assert 'href="/ui/projects/good-lib"' in text and 'href="/ui/projects/evil-lib"' not in text
    async with http.get(f"{site.index('reviewed')}", headers={"Accept": "application/vnd.pypi.simple.v1+json"}) as resp:
        assert [p["name"] for p in (await resp.json())["projects"]] == ["good-lib"]
