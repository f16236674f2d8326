"""The Challenges, Badges and Leaderboard pages in a real browser, at desktop and phone widths: they render,
nothing scrolls sideways at 390 px, and a keyboard user reaches the period tabs. Screenshots go to
tests/artifacts/ (ignored by git) for a person to look at.

Needs Debian's Chromium at /usr/bin/chromium; skipped with a reason otherwise.
"""

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.utils import timezone

from campaigns.services.badges import badge_create, badge_grant
from campaigns.services.challenges import challenge_create, challenge_progress_member_refresh
from campaigns.services.leaderboards import leaderboard_member_refresh
from loyalty.models import Store, Tier
from loyalty.services.ledger import Audit, points_credit
from loyalty.services.purchases import purchase_record
from members.models import User
from members.services import member_claim
from tests.factories import MemberFactory

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium not installed at /usr/bin/chromium"),
]


@pytest.fixture
def browser(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def gamified_member(transactional_db):
    user = User.objects.create_user(email="player@example.com", password="a-long-browser-password")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    member = member_claim(user=user)
    member.__class__.objects.filter(pk=member.pk).update(nickname="SpeedyShopper", leaderboard_opt_in=True)
    store = Store.objects.create(slug="shop", name="Shop")
    gold = Tier.objects.create(code="gold", name="Gold", rank=1, threshold=5000)
    start = timezone.now() - timedelta(days=20)
    for index, total in enumerate(["124.50", "161.20"]):
        purchase_record(store=store, member=member, order_id=f"B{index}", total=total, currency="EUR",
                        occurred_at=timezone.now() - timedelta(days=3 - index),
                        lines=[{"sku": "S", "category": ["tea", "coffee"][index], "quantity": 1, "amount": total}])
    helper = badge_create(code="helper", name="Helping hand", description="Helped out at the summer fair.")
    badge_create(code="gold-club", name="Gold club", description="For our Gold members.", tier=gold)
    explorer = badge_create(code="explorer", name="Explorer", description="Tried every category.")
    badge_grant(badge=helper, member=member, reason="Thank you for helping at the fair")
    challenge_create(code="five", name="Five visits this month", description="Shop five times before the end.",
                     goal="purchases", target=5, starts_at=start, ends_at=timezone.now() + timedelta(days=9),
                     prize_points=150, prize_badge=explorer)
    challenge_create(code="spend", name="Spend 400 euros", goal="amount_spent", target=400, starts_at=start,
                     prize_points=300)
    challenge_create(code="first", name="First purchase", goal="purchases", target=1, starts_at=start,
                     prize_points=25)
    challenge_progress_member_refresh(member_id=member.pk)
    for nickname, points in [("CoffeeQueen", 480), ("TeaTime", 120), ("BargainHunter", 95)]:
        rival = MemberFactory()
        rival.__class__.objects.filter(pk=rival.pk).update(nickname=nickname, leaderboard_opt_in=True)
        points_credit(member=rival, points=points, audit=Audit(reason="x", occurred_at=timezone.now()))
        leaderboard_member_refresh(member_id=rival.pk)
    leaderboard_member_refresh(member_id=member.pk)
    return member


def _sign_in(page, live_server):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", "player@example.com")
    page.fill("input[name=password]", "a-long-browser-password")
    page.click("button[type=submit]")
    page.wait_for_load_state()


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)])
def test_the_three_pages_render_and_fit_the_screen(browser, live_server, gamified_member, width, height):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": width, "height": height})
    _sign_in(page, live_server)
    expectations = {
        "challenges": ["Five visits this month", "3 more purchases", "150 bonus points", "Completed on"],
        "badges": ["Helping hand", "Earned on", "Reach Gold to earn it.", "Complete the challenge"],
        "leaderboard": ["CoffeeQueen", "You are number 2", "Nickname and leaderboard settings"],
    }
    for name, texts in expectations.items():
        page.goto(f"{live_server.url}/{name}/")
        body = page.inner_text("body")
        for text in texts:
            assert text in body, (name, text)
        page.screenshot(path=str(ARTIFACTS / f"campaigns-{name}-{width}.png"), full_page=True)
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, f"{name} scrolls sideways at {width} px ({scroll_width})"
    page.goto(f"{live_server.url}/leaderboard/")
    for _ in range(30):  # tab to the "All time" period link and follow it with the keyboard
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "All time":
            break
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("?period=all")
    page.close()
