"""Refer a friend in a real browser: the copy button appears, nothing scrolls sideways at 390 px, and an
invitation link opens the sign-up form with the code filled in. Screenshots go to tests/artifacts/."""

import shutil
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress

from members.models import User
from members.services import member_claim, member_create
from tests.browser.test_portal_browser import CHROMIUM, _sign_in, browser_page  # noqa: F401 - the fixture
from tests.campaigns.support import program_set

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium not installed at /usr/bin/chromium"),
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture
def referrer(transactional_db):
    program_set(referral_referrer_bonus=200, referral_referee_bonus=100, referral_cap=5)
    user = User.objects.create_user(email="browser@example.com", password="a-long-browser-password")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    member = member_claim(user=user)
    for n, (first, last) in enumerate([("Bram", "Bakker"), ("Chloé", "Dubois"), ("Kofi", "Okafor")]):
        member_create(email=f"friend{n}@example.com", first_name=first, last_name=last, referred_by=member)
    return member


def _no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", [1280, 390])
def test_refer_a_friend_page(browser_page, live_server, referrer, width):  # noqa: F811
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    _sign_in(page, live_server)
    page.click("text=Refer a friend")
    page.wait_for_load_state()
    assert page.input_value("#referral-url").endswith(f"/r/{referrer.referral_code}")
    assert page.is_visible("button.js-copy")  # the script ran (CSP-safe: external file)
    assert "Bram B." in page.inner_text("table")
    assert _no_sideways_scroll(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"refer-a-friend-{width}.png"), full_page=True)


@pytest.mark.parametrize("width", [1280, 390])
def test_an_invitation_link_fills_in_the_sign_up_form(browser_page, live_server, referrer, width):  # noqa: F811
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/r/{referrer.referral_code}")
    page.wait_for_load_state()
    assert page.url.endswith("/accounts/signup/")
    assert page.input_value("input[name=referral_code]") == referrer.referral_code
    assert _no_sideways_scroll(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"signup-with-code-{width}.png"), full_page=True)
