"""Browser tests: a real headless Chromium (Debian's package) driven by Playwright against a live server.

On a laptop without chromium they skip with a hint; in CI (CI=true) a missing browser is a failure.
"""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make next to it are fine.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"chromium not found at {CHROMIUM}; CI must install Debian's chromium package")
        pytest.skip(
            "Browser tests need Chromium: `sudo apt-get install chromium` (or set PLAYWRIGHT_CHROMIUM_EXECUTABLE)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def signed_in_page(page, connector_admin):
    """A page signed in as a Connector admin through the real login form."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(connector_admin.username)
    page.get_by_label("Password").fill("pw-carol-123")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/overview/")
    return page
