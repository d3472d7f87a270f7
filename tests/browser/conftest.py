"""A real headless browser: Debian's chromium driven by Playwright for Python (whose own browser download is not
reachable from here). Tests skip when it is missing, saying how to provide it, and fail instead under CI=true."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ..web.conftest import policies, site  # noqa: F401 - the same mirror fixtures as the UI's HTTP tests

CHROMIUM = Path(os.environ.get("MIRROR_CHROMIUM", "/usr/bin/chromium"))
#: As root, with no network beyond loopback: no sandbox, no GPU, and none of Chromium's background traffic.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOW_TO_PROVIDE = ("the browser tests need Debian's chromium (apt-get install -y chromium; .ci/run installs it) and "
                  "Playwright for Python (pip install '.[test]')")


def unavailable(reason: str) -> None:
    message = f"{HOW_TO_PROVIDE}: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def chromium() -> Path:
    """Debian's chromium, or skip (fail under CI=true) saying how to provide it."""
    if not CHROMIUM.is_file():
        unavailable(f"{CHROMIUM} does not exist")
    return CHROMIUM


@pytest.fixture
async def browser(tmp_path: Path, chromium: Path) -> AsyncIterator[Any]:
    """A fresh Chromium profile (its own --user-data-dir) under Playwright: a BrowserContext."""
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        unavailable(f"cannot import playwright ({exc})")
    async with async_playwright() as playwright:
        try:
            context = await playwright.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=str(chromium), args=FLAGS, headless=True,
                viewport={"width": 1280, "height": 900}, timeout=60_000)
        except Exception as exc:  # noqa: BLE001 - any launch failure means the browser is not usable here
            unavailable(f"chromium does not start: {exc}")
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            await context.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the tests save a screenshot of each page: $MIRROR_SCREENSHOTS (docs/screenshots holds the set the
    README shows), else a directory of the test's own."""
    directory = Path(os.environ.get("MIRROR_SCREENSHOTS") or tmp_path / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory
