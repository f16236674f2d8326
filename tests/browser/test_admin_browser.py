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


@pytest.mark.parametrize("width", [1280, 390])
def test_grant_a_badge_to_every_member_matching_the_filter_and_see_the_kpi_tables(chromium, live_server, shop,
                                                                                  width):
    """The members list's Grant a badge in a browser: filter, tick "select all", choose the action, fill in the
    form, and the badge goes to every matching member; then the KPI dashboard's campaign tables. Screenshots
    in tests/artifacts/admin-campaigns/."""
    from pathlib import Path

    from campaigns.models import BadgeAward
    from campaigns.services.badges import badge_create
    from loyalty.models import StaffAction
    from members.models import Member

    artifacts = Path(__file__).resolve().parent.parent / "artifacts" / "admin-campaigns"
    artifacts.mkdir(parents=True, exist_ok=True)
    badge_create(code="fair", name="Fair helper")
    suspended = MemberFactory()
    Member.objects.filter(pk=suspended.pk).update(status="suspended")
    page, violations = _page_under_csp(chromium, width)
    _sign_in(page, live_server)
    page.goto(f"{live_server.url}/admin/members/member/?status__exact=active")
    page.check("#action-toggle")
    if page.locator(".question a, a.question").count():  # "Select all N members" (more than one page only)
        page.click(".question a, a.question")
    page.select_option("select[name=action]", "grant_badge")
    page.click("button[name=index]")
    page.wait_for_load_state()
    assert "The badge goes to each of 3 members." in page.inner_text("#content")
    page.select_option("select[name=badge]", label="Fair helper")
    page.fill("input[name=reason]", "Summer fair")
    page.screenshot(path=str(artifacts / f"grant-badge-{width}.png"), full_page=True)
    page.click("input[name=apply]")
    page.wait_for_load_state()
    assert "Fair helper granted to 3 members." in page.inner_text(".messagelist")
    assert set(BadgeAward.objects.values_list("member__status", flat=True)) == {"active"}
    assert BadgeAward.objects.count() == 3 and StaffAction.objects.get().count == 3
    page.goto(f"{live_server.url}/admin/kpi/")
    assert page.locator("#kpi-table-challenge_completion").count() == 1
    assert page.locator("#kpi-table-referral_conversion").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=str(artifacts / f"kpi-{width}.png"), full_page=True)
    assert violations == []


@pytest.mark.parametrize("width", [1280, 390])
def test_staff_close_a_membership_on_the_member_page_and_see_it_anonymised(chromium, live_server, shop, width):
    """The admin's member page: status Closed, save, and the member is anonymised and read-only (only the
    status shows as a field); setting it back to Active is a form error. Screenshots in
    tests/artifacts/admin-members/."""
    from pathlib import Path

    from members.models import Member

    artifacts = Path(__file__).resolve().parent.parent / "artifacts" / "admin-members"
    artifacts.mkdir(parents=True, exist_ok=True)
    member = Member.objects.order_by("pk").first()
    page, violations = _page_under_csp(chromium, width)
    _sign_in(page, live_server)
    page.goto(f"{live_server.url}/admin/members/member/{member.pk}/change/")
    page.select_option("select[name=status]", "closed")
    page.click("input[name=_continue]")
    page.wait_for_load_state()
    closed = Member.objects.get(pk=member.pk)
    assert closed.closed_at is not None and closed.email != member.email and closed.user_id is None
    assert member.email not in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # wide tables scroll in their box
    page.screenshot(path=str(artifacts / f"closed-member-{width}.png"), full_page=True)
    page.select_option("select[name=status]", "active")
    page.click("input[name=_continue]")
    page.wait_for_load_state()
    assert page.locator(".errorlist").count() >= 1
    assert Member.objects.get(pk=member.pk).status == "closed"
    page.screenshot(path=str(artifacts / f"reopen-refused-{width}.png"), full_page=True)
    assert violations == []
