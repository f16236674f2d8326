import pytest

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def chromium(monkeypatch):
    """Debian's headless Chromium through Playwright (never a browser Playwright downloads itself)."""
    # Playwright's sync API runs an event loop in this thread; the ORM calls in these tests are plain sync
    # calls. Allowed for these tests only (never in the process environment of other tests).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()
