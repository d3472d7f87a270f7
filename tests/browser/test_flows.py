"""The UI in a real headless Chromium: a reviewer logs in with a token made by ``mirror token create``, promotes a
project from the demand page, pip installs it from ``reviewed``, and finds the audit row; every page is
screenshotted on a desktop and on a phone, used with the keyboard alone, and checked for labels and headings."""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from mirror.web.state import SERVICES

from ..support import installers
from ..support.fake_upstream import FakeUpstream
from ..support.installers import installed
from ..support.mirror_server import MirrorServer
from ..support.policies import PolicyDir, block, review, vetted, wait_until

OLD = datetime.now(UTC) - timedelta(days=30)
YESTERDAY = datetime.now(UTC) - timedelta(days=1)
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def write_config(site: MirrorServer, path: Path) -> Path:
    """A config file naming the running mirror's upstream, storage (and so database) and policies."""
    config = site.config
    path.write_text(f'[upstream]\nurl = "{config.upstream.url}"\n[storage]\npath = "{config.storage.path}"\n'
                    f'[policies]\npath = "{config.policies.path}"\n', encoding="utf-8")
    return path


async def create_token(config: Path, name: str) -> str:
    """``mirror token create``, the real command: the token is the last line it prints."""
    result = await installers.run(sys.executable, "-m", "mirror", "token", "create", "--config", config,
                                  "--name", name, timeout=60)
    assert result.returncode == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("mirror_"), result.output
    return token


async def shoot(page: Any, directory: Path, name: str) -> None:
    """A full-page desktop screenshot and a phone one; on the phone nothing may overflow sideways."""
    await page.set_viewport_size(DESKTOP)
    await page.screenshot(path=str(directory / f"{name}.png"), full_page=True)
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=str(directory / f"{name}-phone.png"), full_page=False)
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name}: {overflow}px wider than a phone's screen"
    await page.set_viewport_size(DESKTOP)


async def accessible(page: Any) -> None:
    """One h1; every visible form control has a label; every page starts with a skip link to the content."""
    assert await page.locator("h1").count() == 1
    unlabelled = await page.evaluate(
        "[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
        ".filter(e => !e.labels || e.labels.length === 0).map(e => e.outerHTML)")
    assert unlabelled == []
    assert await page.get_attribute("html", "lang") == "en"


async def test_reviewer_logs_in_promotes_from_demand_installs_and_finds_the_audit_row(
        browser: Any, screenshots: Path, site: MirrorServer, upstream: FakeUpstream, dists: Path,
        policies: PolicyDir, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    upstream.add_wheel("wanted-lib", "1.0", dists, upload_time=OLD, summary="wanted by the builds")
    upstream.set_owners("wanted-lib", ["maintainer-one"])
    token = await create_token(write_config(site, tmp_path / "config.toml"), "rita")

    # A client asks `reviewed` for it, and does not get it: the demand queue counts it.
    failed = await installers.install("pip", site.index("reviewed"), tmp_path / "before", "--no-deps", "wanted-lib",
                                      check=False)
    assert failed.returncode != 0 and installed(tmp_path / "before") == {}
    demand = site.app[SERVICES].demand

    async def queued() -> bool:
        await demand.flush()
        rows, _ = await site.app[SERVICES].ui.demand_page("reviewed", 0, 10)
        return any(r.entry.project == "wanted-lib" for r in rows)

    await wait_until(queued, "pip's miss to reach the demand queue", deadline=15)

    page = await browser.new_page()
    # The keyboard alone: every page starts with a skip link to its content...
    await page.goto(f"{site.base}/")
    await page.keyboard.press("Tab")
    assert (await page.evaluate("document.activeElement.textContent")).strip() == "Skip to content"
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"
    # ...and the login form has the focus on its token field: type, Enter.
    await page.goto(f"{site.base}/ui/login?next=/ui/demand")
    await accessible(page)
    await shoot(page, screenshots, "login")
    assert await page.evaluate("document.activeElement.id") == "token"
    await page.keyboard.type(token)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    assert page.url.endswith("/ui/demand")
    await page.get_by_text("logged in as rita (reviewer)").wait_for()

    # The demand page: the miss, the tier's decision, and a promote button.
    row = page.locator("tr", has_text="wanted-lib")
    await row.get_by_text("not reviewed: no [review] for this project").wait_for()
    await accessible(page)
    await shoot(page, screenshots, "demand")
    await row.get_by_label("Note").fill("asked for by the builds")
    async with page.expect_navigation():
        await row.get_by_role("button", name="Promote wanted-lib").click()
    await page.get_by_text("promoted wanted-lib into 'reviewed'").wait_for()
    await shoot(page, screenshots, "demand-promoted")

    # pip installs it from `reviewed` now.
    target = tmp_path / "after"
    await installers.install("pip", site.index("reviewed"), target, "--no-deps", "wanted-lib")
    assert installed(target) == {"wanted_lib": "1.0"}

    # The audit row names the token, and (logged in) the note.
    await page.goto(f"{site.base}/ui/audit")
    audit_row = page.locator("tbody tr").first
    assert re.sub(r"\s+", " ", await audit_row.inner_text()).count("rita") >= 1
    assert "promote" in await audit_row.inner_text() and "wanted-lib" in await audit_row.inner_text()
    assert "asked for by the builds" in await audit_row.inner_text()
    await accessible(page)
    await shoot(page, screenshots, "audit")
    # Filter by actor with the form.
    await page.get_by_label("Actor").select_option("rita")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Filter").click()
    assert "actor=rita" in page.url and await page.locator("tbody tr").count() == 1

    # The project page now shows it in `reviewed`, with the reviewer's buttons.
    await page.goto(f"{site.base}/ui/projects/wanted-lib")
    tiers = page.locator("section", has=page.get_by_role("heading", name="In the tiers"))
    assert "reviewed by rita" in await tiers.inner_text()
    await page.get_by_role("button", name="Demote from reviewed").wait_for()
    await page.close()


async def test_screenshots_of_every_page(browser: Any, screenshots: Path, site: MirrorServer, upstream: FakeUpstream,
                                         dists: Path, policies: PolicyDir, http: aiohttp.ClientSession) -> None:
    """Each page on a desktop and a phone, as an anonymous visitor and as a logged-in admin (the set checked in
    under docs/screenshots/ comes from here)."""
    releases = {}
    for version in ("1.0", "1.1", "1.2", "2.0"):  # 1.2 needs idna-demo, which no curated tier serves: a hole
        releases[version] = upstream.add_wheel("requests-demo", version, dists,
                                               upload_time=YESTERDAY if version == "2.0" else OLD,
                                               requires_dist=["urllib3-demo", "idna-demo>=1"] if version == "1.2"
                                               else [])
    upstream.add_sdist("requests-demo", "1.2", dists, upload_time=OLD)
    upstream.set_owners("requests-demo", ["alice", "bob"])
    # 2.0 has a known vulnerability: held from the curated tiers (its cooldown waived or not), served with a
    # warning in `all`.
    upstream.set_vulnerabilities("requests-demo", [{"id": "PYSEC-2026-42", "summary": "proxy credentials leak",
                                                    "fixed_in": ["2.0.1"]}])
    for name in ("urllib3-demo", "idna-demo", "certifi-demo"):
        upstream.add_wheel(name, "1.0", dists, upload_time=OLD)
    v = releases["1.1"]
    policies.write_project("requests-demo", review(note="HTTP client of the builds"),
                           block(versions="==1.0", reason="CVE-2026-0001: header injection"),
                           vetted("1.1", {v.filename: v.sha256}),
                           '[[waiver]]\nversion = "2.0"\nrule = "cooldown"\nuntil = 2099-01-01T00:00:00Z\n'
                           'reason = "the fix the builds need"\nby = "alice"\n')
    policies.write_project("urllib3-demo", review())
    policies.write_project("evil-demo", block(reason="typo-squat of a popular project"))
    await policies.applied(http, site.base, "requests-demo")
    async with http.get(site.index("reviewed") + "certifi-demo/") as resp:
        assert resp.status == 404
    await asyncio.sleep(0)
    holes = site.app[SERVICES].holes
    assert holes is not None
    await holes.refresh()  # counted now rather than after [dependencies] holes_delay
    page = await browser.new_page()
    for name, path in [("home", "/"), ("tier-reviewed", "/reviewed/"), ("project", "/ui/projects/requests-demo"),
                       ("release", "/ui/projects/requests-demo/1.1"), ("search", "/ui/search?q=demo"),
                       ("holes", "/ui/holes")]:
        await page.goto(site.base + path)
        await accessible(page)
        await shoot(page, screenshots, name)
    shown = " ".join((await page.locator("main").inner_text()).split())
    assert ("requests-demo 1.2 needs idna-demo>=1: idna-demo is not in 'reviewed': not reviewed: no [review] for this "
            "project mirror promote idna-demo --by NAME --note TEXT") in shown, shown
    # Logged in as an admin: the buttons.
    record, token = await site.app[SERVICES].tokens.create("ada", "admin")
    await page.goto(f"{site.base}/ui/login?next=/ui/projects/requests-demo/1.1")
    await page.get_by_label("API token").fill(token)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Log in").click()
    await accessible(page)
    await shoot(page, screenshots, "release-reviewer")
    await page.goto(f"{site.base}/ui/projects/requests-demo")
    await page.get_by_role("button", name="Demote from reviewed").wait_for()
    assert await page.get_by_role("button", name="Lift the block").count() == 0  # the project is not blocked
    await shoot(page, screenshots, "project-reviewer")
    shown = " ".join((await page.locator("main").inner_text()).split())  # the evidence decisions, as explain gives
    assert "PYSEC-2026-42" in shown and "cooldown for 2 by alice" in shown, shown  # versions canonical
    assert (screenshots / "project.png").stat().st_size > 10_000
    await page.close()
