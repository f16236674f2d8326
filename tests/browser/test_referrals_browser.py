"""An invitation link in a real browser opens the sign-up form with the code filled in, at 1280 and 390 px.
Screenshots go to tests/artifacts/. The Refer a friend page itself is checked (axe-core, both widths, the copy
button by keyboard) in test_campaigns_browser.py."""

import shutil
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress

from members.models import User
from members.services import member_claim
from tests.browser.conftest import CHROMIUM
from tests.campaigns.support import program_set

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium not installed at /usr/bin/chromium"),
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture
def browser_page(chromium):
    return chromium.new_page()


@pytest.fixture
def referrer(transactional_db):
    program_set(referral_referrer_bonus=200, referral_referee_bonus=100, referral_cap=5)
    user = User.objects.create_user(email="browser@example.com", password="a-long-browser-password")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    member = member_claim(user=user)
    return member


def _no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", [1280, 390])
def test_an_invitation_link_fills_in_the_sign_up_form(browser_page, live_server, referrer, width):
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/r/{referrer.referral_code}")
    page.wait_for_load_state()
    assert page.url.endswith("/accounts/signup/")
    assert page.input_value("input[name=referral_code]") == referrer.referral_code
    assert _no_sideways_scroll(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"signup-with-code-{width}.png"), full_page=True)
