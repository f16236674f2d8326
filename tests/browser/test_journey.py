"""A new member's journey through the portal in headless Chromium, every page checked with axe-core and
photographed at 1280 and 390 px (tests/artifacts/journey/):

1. sign up through a friend's referral link (`/r/<code>`) and confirm the email;
2. a purchase posted through the API;
3. the dashboard shows the points, their value and the progress to the next tier;
4. redeem a reward with confirmation; the coupon appears; cancel it;
5. switch to Dutch: pages and ledger reasons are Dutch; the campaigns' pages (challenges, badges, leaderboard,
   refer a friend) in Dutch;
6. download my data;
7. close the membership.
"""

import json
import re
import urllib.error
import urllib.request
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from campaigns.services.badges import badge_create
from campaigns.services.challenges import challenge_create
from loyalty.models import Store
from loyalty.services.api_keys import api_key_create
from loyalty.services.program import program_get
from loyalty.services.tiers import tier_create
from members.models import Member, MemberStatus, User
from members.services import member_create
from rewards.models import Redemption, RedemptionStatus, RewardKind
from rewards.services import reward_create
from tests.browser.conftest import PageChecker, requires_chromium

pytestmark = [pytest.mark.browser, requires_chromium]

EMAIL, PASSWORD = "journey@example.com", "Tulips-in-Leiden-2025"
CONFIRM_LINK = re.compile(r"https?://[^/\s]+(/accounts/confirm-email/[^/\s]+/)")


@pytest.fixture
def programme(transactional_db):
    program = program_get()
    program.name, program.point_value, program.pending_days = "Journey Club", Decimal("0.01"), 0
    program.terms = "Be nice.\n\nPoints are worth a cent each."
    program.save()
    tier_create(code="bronze", name="Bronze", rank=1, threshold=0, benefits="Points on every purchase.")
    silver = tier_create(code="silver", name="Silver", rank=2, threshold=500, benefits="Free shipping on every order.")
    badge_create(code="silver-club", name="Silver club", description="For our Silver members.", tier=silver)
    challenge_create(code="three-visits", name="Three visits", goal="purchases", target=3, prize_points=100,
                     starts_at=timezone.now() - timedelta(days=1), ends_at=timezone.now() + timedelta(days=30))
    reward_create(code="coffee", name="Free coffee", kind=RewardKind.FREE_PRODUCT, cost_points=150,
                  value=Decimal("2.80"), description="Any coffee, any size.")
    reward_create(code="tote", name="Tote bag", kind=RewardKind.FREE_PRODUCT, cost_points=1000, value=Decimal("9"))
    store = Store.objects.create(slug="web", name="Web shop")
    _key, raw = api_key_create(store=store, scope="pos")
    referrer = member_create(email="friend@example.com", first_name="Fay")
    return {"api_key": raw, "referrer": referrer}


def _post_json(url: str, body: dict, api_key: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Api-Key {api_key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the test's own server
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_new_member_journey(browser_context, live_server, programme):
    site = live_server.url
    checker = PageChecker("journey")
    page = browser_context.new_page()

    # 1. Sign up through the referrer's link (the code is filled in) and confirm the email.
    referrer = programme["referrer"]
    page.goto(f"{site}/r/{referrer.referral_code}")
    assert page.url.endswith("/accounts/signup/")
    checker.check(page, "sign-up")
    assert page.locator("input[name=referral_code]").input_value().upper() == referrer.referral_code
    page.fill("input[name=first_name]", "Jade")
    page.fill("input[name=last_name]", "de Jong")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.check("input[name=accept_terms]")
    page.check("input[name=marketing_consent]")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    checker.check(page, "verification-sent")
    confirmation = next(m for m in mail.outbox if EMAIL in m.to and "Confirm" in m.subject)
    assert confirmation.from_email.startswith("Journey Club <")
    page.goto(site + CONFIRM_LINK.search(confirmation.body).group(1))
    checker.check(page, "confirm-email")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    member = Member.objects.get(email=EMAIL)
    assert (member.first_name, member.last_name, member.tier.code) == ("Jade", "de Jong", "bronze")
    assert member.marketing_consent and member.terms_accepted_at is not None and member.user is not None
    assert member.referred_by_id == referrer.pk
    assert any("Welcome to Journey Club" in m.subject for m in mail.outbox if EMAIL in m.to)

    # 2. A purchase through the API.
    status, body = _post_json(f"{site}/api/v1/purchases/", {
        "member": member.loyalty_id, "order_id": "JOURNEY-1", "total": "426.00", "currency": "EUR"},
        programme["api_key"])
    assert status == 201 and body["points"]["total"] == 426, body

    # 3. The dashboard: points, their value, the tier progress.
    page.goto(f"{site}/")
    checker.check(page, "dashboard")
    assert page.inner_text("#points-available") == "426"
    assert page.inner_text("#points-value") == "Worth €4.26"
    assert "74 more points to reach Silver" in page.inner_text("#tier-card")
    assert page.get_attribute("#tier-progress", "value") == "426"
    # by keyboard: the first Tab reaches "Skip to content", and the phone menu opens with Enter
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    page.set_viewport_size({"width": 390, "height": 844})
    assert not page.is_visible("#portal-nav")
    page.focus(".menu-toggle")
    page.keyboard.press("Enter")
    assert page.is_visible("#portal-nav") and page.get_attribute(".menu-toggle", "aria-expanded") == "true"
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{site}/history/")
    checker.check(page, "history")
    page.goto(f"{site}/card/")
    checker.check(page, "card")

    # 4. Redeem with confirmation; the coupon appears; cancel it.
    page.goto(f"{site}/rewards/")
    checker.check(page, "rewards")
    assert "574 points to go" in page.inner_text("#reward-tote")
    page.click("#reward-coffee a.button")
    checker.check(page, "reward-confirm")
    assert Redemption.objects.count() == 0
    page.click("#confirm-redeem")
    page.wait_for_load_state()
    checker.check(page, "coupon")
    coupon = Redemption.objects.get(member=member)
    assert page.inner_text("#coupon-code") == coupon.code
    page.goto(f"{site}/rewards/coupons/")
    checker.check(page, "my-coupons")
    assert coupon.code in page.inner_text(f"#coupon-{coupon.pk}")
    page.click(f"#coupon-{coupon.pk} >> text=Cancel coupon")
    checker.check(page, "cancel-coupon")
    page.click("#confirm-cancel")
    page.wait_for_load_state()
    assert "100 points are back" not in page.inner_text("main")  # the coffee cost 150
    assert "150 points are back in your account" in page.inner_text("main")
    coupon.refresh_from_db()
    assert coupon.status == RedemptionStatus.CANCELLED
    assert member.ledger_accounts.get(kind="available").balance == 426

    # 5. Dutch: the footer's switch changes the pages, the ledger reasons and the saved language.
    page.select_option("#language-select", "nl")
    page.click(".language-form button")
    page.wait_for_load_state()
    member.refresh_from_db()
    assert member.language == "nl"
    page.goto(f"{site}/")
    assert page.inner_text("#points-value") == "€\u00a04,26 waard"
    assert "uw niveau" in page.inner_text("main").lower()
    page.goto(f"{site}/history/")
    checker.check(page, "history-dutch")
    history = page.inner_text("main")
    assert "Aankoop JOURNEY-1" in history and "Purchase JOURNEY-1" not in history
    assert f"Inwisseling {coupon.code} geannuleerd" in history

    # The campaigns' pages, in Dutch: a challenge under way, a badge to earn, the leaderboard, the invitation link.
    page.goto(f"{site}/challenges/")
    checker.check(page, "challenges")
    assert "Nog 2 aankopen" in page.inner_text("#challenge-three-visits")
    page.goto(f"{site}/badges/")
    checker.check(page, "badges")
    assert "Bereik Silver om hem te verdienen." in page.inner_text("main")
    page.goto(f"{site}/leaderboard/")
    checker.check(page, "leaderboard")
    assert "U staat niet op de ranglijst." in page.inner_text(".my-place")
    page.goto(f"{site}/refer/")
    checker.check(page, "refer-a-friend")
    assert page.input_value("#referral-url").endswith(f"/r/{member.referral_code}")

    # 6. Download my data.
    page.goto(f"{site}/profile/")
    checker.check(page, "profile")
    with page.expect_download() as download_info:
        page.click("text=Mijn gegevens downloaden")
    data = json.loads(download_info.value.path().read_text(encoding="utf-8"))
    assert data["profile"]["email"] == EMAIL and data["profile"]["marketing_consent"] is True
    assert "Aankoop JOURNEY-1" in [txn["reason"] for txn in data["transactions"]]
    assert data["redemptions"][0]["status"] == "cancelled"

    # 7. Close the membership.
    page.click("text=Mijn lidmaatschap opzeggen")
    checker.check(page, "close-membership")
    page.fill("input[name=password]", PASSWORD)
    page.check("input[name=understood]")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    checker.check(page, "closed")
    assert "Uw lidmaatschap is opgezegd" in page.inner_text("main")
    member.refresh_from_db()
    assert member.status == MemberStatus.CLOSED and member.user is None and EMAIL not in member.email
    assert not User.objects.filter(email=EMAIL).exists()
    page.goto(f"{site}/")
    assert "/accounts/login/" in page.url  # signed out
    checker.check(page, "sign-in")
    page.fill("input[name=login]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert "/accounts/login/" in page.url  # the login is gone

    assert not checker.problems, "\n".join(checker.problems)
