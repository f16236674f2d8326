"""The member portal in a real browser: sign in through allauth, see points, redeem a reward.

Needs Debian's Chromium at /usr/bin/chromium (CI installs it); skipped with a reason otherwise.
"""

import os
import shutil

import pytest
from allauth.account.models import EmailAddress

from loyalty.services.ledger import Audit, points_credit
from members.models import User
from members.services import member_claim
from rewards.models import Reward

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium not installed at /usr/bin/chromium"),
]


@pytest.fixture
def browser_page(chromium):
    return chromium.new_page()


@pytest.fixture
def signed_up_member(transactional_db):
    user = User.objects.create_user(email="browser@example.com", password="a-long-browser-password")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    member = member_claim(user=user)
    points_credit(member=member, points=750, audit=Audit(reason="Welcome points", idempotency_key="browser-welcome"))
    return member


def _sign_in(page, live_server):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", "browser@example.com")
    page.fill("input[name=password]", "a-long-browser-password")
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_member_signs_in_and_sees_balance(browser_page, live_server, signed_up_member):
    _sign_in(browser_page, live_server)
    body = browser_page.inner_text("body")
    assert "750" in body
    assert signed_up_member.loyalty_id in body.replace(" ", "")  # shown in groups of four digits
    browser_page.screenshot(path=str(os.environ.get("PORTAL_SCREENSHOT", "/tmp/portal-dashboard.png")), full_page=True)
    assert "Welcome points" in body


def test_member_redeems_a_reward_in_the_catalogue(browser_page, live_server, signed_up_member):
    Reward.objects.create(code="coffee", name="Free coffee", kind="free_product", cost_points=300, value="3.00")
    _sign_in(browser_page, live_server)
    browser_page.goto(f"{live_server.url}/rewards/")
    browser_page.click("text=Free coffee >> xpath=ancestor::*[self::article or self::li or self::div][1] >> button")
    browser_page.wait_for_load_state()
    assert signed_up_member.ledger_accounts.get(kind="available").balance == 450
    browser_page.goto(f"{live_server.url}/rewards/coupons/")
    assert "Free coffee" in browser_page.inner_text("body")
