"""A real Chromium driven by Playwright, for tests that need JavaScript in a real browser.

Uses the system's Chromium (Debian: ``apt-get install chromium``), never a browser downloaded
by ``playwright install``. Tests here are skipped, with the reason, when Playwright or Chromium
is missing (a laptop); CI installs both and sets ``KLING_REQUIRE_BROWSER=1``, which turns
such a skip into a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("KLING_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: Screenshots land here (the repository's test-output/, ignored by git).
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "admin"


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright)"
    if not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set KLING_CHROMIUM)"
    return None


@pytest.fixture
def browser(tmp_path: Path) -> Iterator:
    """A Chromium context with a fresh profile; yields the Playwright BrowserContext.

    Playwright's sync API runs an event loop in the test's thread: make database rows in
    fixtures set up before this one, and check the site through the browser meanwhile.
    """
    reason = _missing()
    if reason and os.environ.get("KLING_REQUIRE_BROWSER"):
        pytest.fail(f"KLING_REQUIRE_BROWSER is set but {reason}")  # CI must not skip it
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900}, locale="en-US")
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            context.close()
