"""The campaigns' portal pages (Challenges, Badges, Leaderboard, Refer a friend) in headless Chromium, each
checked by PageChecker: axe-core at 1280 and 390 px, no sideways scrolling, screenshots in
tests/artifacts/campaigns/. Also what a person saw go wrong before these pages took the portal's layout:
cards of one row at different heights, an invisible current period tab, names and dates broken over lines on a
phone; and each page used with the keyboard alone.

Needs Debian's Chromium at /usr/bin/chromium; skipped with a reason otherwise.
"""

from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.utils import timezone

from campaigns.models import LeaderboardPrize
from campaigns.services.badges import badge_create, badge_grant
from campaigns.services.challenges import challenge_create, challenge_progress_member_refresh
from campaigns.services.leaderboards import leaderboard_member_refresh, period_get
from loyalty.models import Store, Tier
from loyalty.services.ledger import Audit, points_credit
from loyalty.services.purchases import purchase_record
from members.models import User
from members.services import member_claim, member_create
from tests.browser.conftest import NARROW, WIDE, PageChecker, requires_chromium
from tests.campaigns.support import program_set
from tests.factories import MemberFactory

pytestmark = [pytest.mark.browser, requires_chromium]
EMAIL, PASSWORD = "player@example.com", "a-long-browser-password"


@pytest.fixture
def gamified_member(transactional_db):
    program_set(referral_referrer_bonus=200, referral_referee_bonus=100, referral_cap=5)
    user = User.objects.create_user(email=EMAIL, password=PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    member = member_claim(user=user)
    member.__class__.objects.filter(pk=member.pk).update(nickname="SpeedyShopper", leaderboard_opt_in=True)
    store = Store.objects.create(slug="shop", name="Shop")
    gold = Tier.objects.create(code="gold", name="Gold", rank=1, threshold=5000)
    start = timezone.now() - timedelta(days=20)
    this_week = period_get("week").starts_at  # the board's default tab: the purchases count there, also on Mondays
    for index, total in enumerate(["124.50", "161.20"]):
        when = max(this_week + timedelta(minutes=1 + index), timezone.now() - timedelta(days=3 - index))
        purchase_record(store=store, member=member, order_id=f"B{index}", total=total, currency="EUR", occurred_at=when,
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
    LeaderboardPrize.objects.bulk_create([LeaderboardPrize(rank=1, points=500), LeaderboardPrize(rank=2, points=250)])
    for n, (first, last) in enumerate([("Bram", "Bakker"), ("Chloé", "Dubois"), ("Friend", "Vanderbroekhuizen")]):
        member_create(email=f"friend{n}@example.com", first_name=first, last_name=last, referred_by=member)
    return member


def _sign_in(page, site):
    page.goto(f"{site}/accounts/login/")
    page.fill("input[name=login]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def _tab_to(page, text: str, presses: int = 40) -> None:
    """Press Tab until the focused element's text is `text` (a keyboard user's way there)."""
    for _press in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == text:
            return
    raise AssertionError(f"{text!r} is not reachable with the Tab key")


def _lines(page, selector: str) -> list[int]:
    """How many lines of text each element matching `selector` takes (its height over its line height)."""
    return page.eval_on_selector_all(selector, """els => els.map(el => {
        const style = getComputedStyle(el);
        const box = ["paddingTop", "paddingBottom", "borderTopWidth", "borderBottomWidth"]
            .reduce((sum, name) => sum + parseFloat(style[name]), 0);
        return Math.round((el.getBoundingClientRect().height - box) / parseFloat(style.lineHeight));
    })""")


def test_the_campaign_pages_in_the_portal_style(browser_context, live_server, gamified_member):
    site = live_server.url
    checker = PageChecker("campaigns")
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site)
    page = browser_context.new_page()
    _sign_in(page, site)

    # Challenges: the open ones first with progress, what is left, the deadline and the prize.
    page.goto(f"{site}/challenges/")
    checker.check(page, "challenges")
    body = page.inner_text("main")
    for text in ("Five visits this month", "3 more purchases", "150 bonus points", "9 days left", "Completed on",
                 "Progress: €285.70 of €400.00", "€114.30 more to spend"):
        assert text in body, text
    # The cards of the first row line up (the first one sat higher than the others).
    tops = page.eval_on_selector_all(".challenge-grid > li", "els => els.map(el => el.getBoundingClientRect().top)")
    assert len(tops) == 3 and max(tops) - min(tops) < 1, tops

    # Badges: earned ones with when and why, then the locked ones with how to earn them.
    page.goto(f"{site}/badges/")
    checker.check(page, "badges")
    earned, locked = page.inner_text("#earned-heading + .badge-wall"), page.inner_text("#locked-heading + .badge-wall")
    assert "Helping hand" in earned and "Earned on" in earned and "Thank you for helping at the fair" in earned
    assert "Reach Gold to earn it." in locked and "Complete the challenge Five visits this month" in locked
    assert page.get_attribute("progress", "value") == "1"

    # Leaderboard: the current period tab can be read (it was white on white), my place, the prizes.
    page.goto(f"{site}/leaderboard/")
    checker.check(page, "leaderboard")
    current = page.locator(".period-tabs a[aria-current=page]")
    assert current.inner_text() == "This week"
    colours = current.evaluate("el => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]")
    assert colours[0] != colours[1] and colours[1] not in ("rgba(0, 0, 0, 0)", "transparent"), colours
    assert "You are number 2 with 286 points." in page.inner_text(".my-place")
    assert "CoffeeQueen" in page.inner_text(".board-list") and "500 bonus points" in page.inner_text("main")
    _tab_to(page, "All time")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("?period=all")
    checker.check(page, "leaderboard-all-time")

    # Refer a friend: the link with a copy button that works by keyboard, and the friends as a list.
    page.goto(f"{site}/refer/")
    checker.check(page, "refer-a-friend")
    assert page.input_value("#referral-url").endswith(f"/r/{gamified_member.referral_code}")
    _tab_to(page, "Copy link")
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('copy-status').textContent === 'Link copied'")
    assert page.evaluate("navigator.clipboard.readText()").endswith(f"/r/{gamified_member.referral_code}")
    friends = page.inner_text(".referral-list")
    assert "Chloé D." in friends and "Friend V." in friends and "Waiting for the first purchase" in friends
    assert page.inner_text("#referrals-count") == "3"

    # On a phone: names and dates each on one line, the tabs and the cards within the screen.
    page.set_viewport_size({"width": NARROW, "height": 844})
    assert _lines(page, ".referral-list .what") == [1, 1, 1]
    assert _lines(page, ".referral-list .when") == [1, 1, 1]
    page.goto(f"{site}/leaderboard/")
    tabs = page.eval_on_selector(".period-tabs ul", "el => el.getBoundingClientRect().right")
    assert tabs <= NARROW
    assert _lines(page, ".period-tabs a") == [1, 1, 1]
    page.set_viewport_size({"width": WIDE, "height": 900})

    assert checker.count == 5
    assert not checker.problems, "\n".join(checker.problems)
