"""Every page works under the Content-Security-Policy the site sends (scripts and styles from our own files
only): the portal, the account pages, the API docs and the admin, with no violation reported by Chromium.

Needs Debian's Chromium at /usr/bin/chromium (CI installs it); skipped with a reason otherwise.
"""

import shutil

import pytest
from allauth.account.models import EmailAddress

from loyalty.services.ledger import Audit, points_credit
from members.models import User
from members.services import member_claim
from rewards.models import Reward

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "a-long-browser-password-7"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium not installed at /usr/bin/chromium"),
]
MEMBER_PAGES = ["/", "/history/", "/profile/", "/refer/", "/rewards/", "/rewards/coupons/", "/api/docs/",
                "/accounts/email/", "/accounts/password/change/"]
STAFF_PAGES = ["/admin/", "/admin/members/member/", "/admin/loyalty/program/", "/admin/loyalty/tier/add/",
               "/admin/campaigns/promotion/add/", "/admin/rewards/reward/add/", "/admin/kpi/"]


def _watched_page(browser):
    page = browser.new_page()
    violations = []
    page.on("console", lambda message: violations.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text else None)
    return page, violations


def _sign_in(page, live_server, email):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit], form button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_portal_and_account_pages_run_under_the_policy(chromium, live_server, transactional_db):
    user = User.objects.create_user(email="csp@example.com", password=PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    member = member_claim(user=user)
    points_credit(member=member, points=500, audit=Audit(reason="Welcome", idempotency_key="csp"))
    Reward.objects.create(code="coffee", name="Free coffee", kind="free_product", cost_points=300, value="3.00")
    page, violations = _watched_page(chromium)
    _sign_in(page, live_server, "csp@example.com")
    for path in MEMBER_PAGES:
        response = page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        assert response.status == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"]
        if path == "/api/docs/":  # Swagger UI draws itself from static files
            page.wait_for_selector(".swagger-ui .info", timeout=15000)
    assert violations == []


def test_admin_pages_run_under_the_policy(chromium, live_server, transactional_db):
    User.objects.create_superuser(email="boss@example.com", password=PASSWORD)
    page, violations = _watched_page(chromium)
    _sign_in(page, live_server, "boss@example.com")
    for path in STAFF_PAGES:
        response = page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        assert response.status == 200, path
    assert violations == []
