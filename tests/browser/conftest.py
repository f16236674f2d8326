"""Headless Chromium for the browser tests, with axe-core (tests/browser/vendor/axe-core, from npm) to check
each page for accessibility violations, and screenshots at 1280 and 390 px into tests/artifacts/."""

import json
import shutil
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
WIDE, NARROW = 1280, 390
# axe-core rules are tagged with the standard they check; these are WCAG 2.0 and 2.1, levels A and AA.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

requires_chromium = pytest.mark.skipif(
    not shutil.which(CHROMIUM), reason="Chromium not installed at /usr/bin/chromium"
)


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
        # The test's own ORM calls made while Playwright's loop ran use a connection of their own context:
        # close it here, or PostgreSQL refuses to drop the test database at the end of the session.
        connections.close_all()


@pytest.fixture
def browser_context(chromium):
    # bypass_csp: axe-core is injected as a script of the test, not of the site.
    context = chromium.new_context(viewport={"width": WIDE, "height": 900}, accept_downloads=True, bypass_csp=True,
                                   locale="en-GB")
    context.set_default_timeout(10_000)
    yield context
    context.close()


def axe_violations(page) -> list[dict]:
    """Serious and critical WCAG 2.1 A/AA violations axe-core finds on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "options => axe.run(document, options).then(r => r.violations.map(v => ({id: v.id, impact: v.impact, "
        "help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))",
        {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]},
    )
    return [violation for violation in result if violation["impact"] in ("serious", "critical")]


class PageChecker:
    """Looks at every page of a journey the way the issue asks: axe-core, no sideways scrolling at 390 px,
    and a screenshot at both widths."""

    def __init__(self, folder: str):
        self.folder = ARTIFACTS / folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.problems: list[str] = []

    def check(self, page, name: str) -> None:
        self.count += 1
        stem = f"{self.count:02d}-{name}"
        page.wait_for_load_state("load")
        for violation in axe_violations(page):
            self.problems.append(f"{name}: axe {violation['impact']} {violation['id']} ({violation['help']}) at "
                                 f"{json.dumps(violation['nodes'])}")
        page.screenshot(path=str(self.folder / f"{stem}-{WIDE}.png"), full_page=True)
        page.set_viewport_size({"width": NARROW, "height": 844})
        try:
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > NARROW:
                self.problems.append(f"{name}: scrolls sideways at {NARROW} px ({width} px wide)")
            for violation in axe_violations(page):  # the phone layout has its own menu and lists
                self.problems.append(f"{name} at {NARROW} px: axe {violation['impact']} {violation['id']}")
            page.screenshot(path=str(self.folder / f"{stem}-{NARROW}.png"), full_page=True)
        finally:
            page.set_viewport_size({"width": WIDE, "height": 900})
