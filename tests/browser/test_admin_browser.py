"""The back office in a real browser, under the Content-Security-Policy the site will send (script-src 'self',
style-src 'self'): staff sign in through allauth, the KPI dashboard draws its chart from a static file, and
the dashboard fits a phone (390 px) without sideways scrolling.

Needs Debian's Chromium at /usr/bin/chromium (CI installs it); skipped with a reason otherwise.
"""

import shutil
from decimal import Decimal

import pytest

from loyalty.models import Store
from loyalty.services.purchases import purchase_record
from members.models import User
from tests.factories import MemberFactory

CHROMIUM = "/usr/bin/chromium"
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'"
PASSWORD = "a-long-staff-password-42"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium not installed at /usr/bin/chromium"),
]


@pytest.fixture
def shop(transactional_db):
    User.objects.create_superuser(email="boss@example.com", password=PASSWORD)
    store = Store.objects.create(slug="till", name="Till")
    for number in range(3):
        purchase_record(store=store, member=MemberFactory(), order_id=f"T-{number}", total=Decimal("25.00"),
                        currency="EUR")


def _page_under_csp(browser, width):
    """A page whose every response from the live server carries the CSP; violations are collected."""
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)

    def with_csp(route):
        response = route.fetch(max_redirects=0)  # the browser follows redirects itself
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": CSP})

    page.route("**/*", with_csp)
    return page, violations


def _sign_in(page, live_server):
    page.goto(f"{live_server.url}/admin/kpi/")  # sends a visitor to allauth's sign-in, and back after it
    page.fill("input[name=login]", "boss@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("width", [1280, 390])
def test_kpi_dashboard_draws_its_chart_under_the_csp(chromium, live_server, shop, width):
    page, violations = _page_under_csp(chromium, width)
    _sign_in(page, live_server)
    assert page.url.endswith("/admin/kpi/")
    assert page.evaluate("!!window.Chart && !!window.Chart.getChart(document.getElementById('kpi-chart'))")
    assert page.locator("#kpi-members-total .kpi-card-value").inner_text() == "3"
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=f"/tmp/kpi-browser-{width}.png", full_page=True)
    assert violations == []


def test_member_list_and_import_page_have_no_inline_code(chromium, live_server, shop):
    page, violations = _page_under_csp(chromium, 1280)
    _sign_in(page, live_server)
    for path in ("/admin/", "/admin/members/member/", "/admin/members/member/import/",
                 "/admin/loyalty/ledgertransaction/", "/admin/rewards/redemption/charity-totals/"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        page.mouse.click(5, 5)
        assert page.url == f"{live_server.url}{path}"  # signed in: not sent to the sign-in page
    assert violations == []
