"""The portal's Challenges, Badges and Leaderboard pages: what a member sees, only their own, in English and
Dutch, and templates a Content-Security-Policy allows."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from campaigns.services.badges import badge_create, badge_grant
from campaigns.services.leaderboards import leaderboard_member_refresh, period_get
from loyalty.models import Tier
from loyalty.services.ledger import Audit, points_credit
from tests.campaigns.conftest import buy, challenge, signed_in
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
PAGES = ["campaigns:challenges", "campaigns:badges", "campaigns:leaderboard"]
TEMPLATES = Path(settings.BASE_DIR) / "templates" / "campaigns"


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.mark.parametrize("name", PAGES)
def test_pages_need_a_signed_in_member(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_the_navigation_links_to_the_three_pages():
    page = signed_in("nav@example.com").get(reverse("portal:dashboard")).content.decode()
    for name in PAGES:
        assert f'href="{reverse(name)}"' in page


def test_challenges_page_shows_progress_what_is_left_deadline_and_prize(store, committed):
    alice = signed_in("alice@example.com")
    bob = signed_in("bob@example.com")
    badge = badge_create(code="star", name="Shining star")
    ends = timezone.now() + timedelta(days=5)
    challenge(code="five", name="Five visits", target=5, prize_points=40, prize_badge=badge, ends_at=ends)
    challenge(code="spend", name="Big spender", goal="amount_spent", target=100, prize_points=10)
    challenge(code="one", name="First visit", target=1)
    with committed():
        buy(store, alice.member, "20.50")
        buy(store, alice.member, "5.00")
        buy(store, bob.member, "99.00")
    response = alice.get(reverse("campaigns:challenges"))
    html, words = response.content.decode(), text(response)
    assert "Five visits" in words and "Progress: 2 of 5" in words and "3 more purchases" in words
    assert '<progress id="progress-' in html and 'max="5" value="2.00"' in html
    assert "40 bonus points" in words and "the Shining star badge" in words
    assert f"Deadline {date_format(timezone.localtime(ends), 'DATETIME_FORMAT')}" in words
    assert "Deadline None: this is a milestone" in words
    assert "Progress: €25.50 of €100.00" in words and "€74.50 more to spend" in words  # money as on the dashboard
    assert "5 days left" in words and "25%" in words
    assert "Completed on" in words  # First visit
    assert words.index("Big spender") < words.index("First visit")  # open challenges before completed ones
    assert "99.00" not in words  # Bob's spending is not on Alice's page
    assert "Progress: €99.00 of €100.00" in text(bob.get(reverse("campaigns:challenges")))
    alice.cookies[settings.LANGUAGE_COOKIE_NAME] = "nl"
    dutch = text(alice.get(reverse("campaigns:challenges")))
    assert "€ 25,50 van € 100,00" in dutch and "Nog 5 dagen" in dutch


def test_badge_wall_shows_earned_and_locked_badges_with_how_to_earn():
    alice = signed_in("alice@example.com")
    bob = signed_in("bob@example.com")
    gold = Tier.objects.create(code="gold", name="Gold", rank=1, threshold=1000)
    mine = badge_create(code="helper", name="Helper")
    badge_create(code="gold-club", name="Gold club", tier=gold)
    challenge(code="hunt", name="Treasure hunt", prize_badge=badge_create(code="hunter", name="Hunter"))
    badge_grant(badge=mine, member=alice.member, reason="Helped at the fair")
    words = text(alice.get(reverse("campaigns:badges")))
    assert "You earned 1 of 3 badges." in words
    assert "Earned on" in words and "Helped at the fair" in words
    assert "Reach Gold to earn it." in words and "Complete the challenge Treasure hunt to earn it." in words
    bobs = text(bob.get(reverse("campaigns:badges")))
    assert "You earned 0 of 3 badges." in bobs and "Helped at the fair" not in bobs


def a_moment_ago():
    """Ten minutes ago, but never before this week began (the page's default tab is the week)."""
    return max(period_get("week").starts_at, timezone.now() - timedelta(minutes=10))


def test_leaderboard_page_shows_periods_my_position_and_a_link_to_the_settings():
    at = a_moment_ago()
    alice = signed_in("alice@example.com", nickname="AliceA", leaderboard_opt_in=True)
    shy = signed_in("shy@example.com")
    for member, points in ((alice.member, 70), (MemberFactory(), 90)):
        member.__class__.objects.filter(pk=member.pk).update(leaderboard_opt_in=True,
                                                              nickname=member.nickname or "Rival")
        points_credit(member=member, points=points, audit=Audit(reason="x", occurred_at=at))
        leaderboard_member_refresh(member_id=member.pk, at=at)
    response = alice.get(reverse("campaigns:leaderboard") + "?period=month")
    html, words = response.content.decode(), text(response)
    assert "You are number 2 with 70 points." in words
    assert words.index("Rival") < words.index("AliceA")
    assert '<a href="?period=month" aria-current="page">This month' in html
    assert f'href="{reverse("portal:profile")}"' in html
    shy_words = text(shy.get(reverse("campaigns:leaderboard")))
    assert "You are not on the leaderboard." in shy_words and "AliceA" in shy_words
    assert shy.get(reverse("campaigns:leaderboard") + "?period=bogus").status_code == 200  # falls back to the week
    assert "Monthly prizes" not in words  # none configured


def test_leaderboard_page_shows_my_row_below_the_top_places_and_the_prizes(monkeypatch):
    from campaigns.models import LeaderboardPrize
    from campaigns.views import leaderboards

    monkeypatch.setattr(leaderboards, "BOARD_SIZE", 2)
    at = a_moment_ago()
    me = signed_in("me@example.com", nickname="Trailing", leaderboard_opt_in=True)
    for member, points in ((MemberFactory(), 90), (MemberFactory(), 80), (MemberFactory(), 60), (me.member, 10)):
        member.__class__.objects.filter(pk=member.pk).update(leaderboard_opt_in=True,
                                                              nickname=member.nickname or f"N{points}")
        points_credit(member=member, points=points, audit=Audit(reason="x", occurred_at=at))
        leaderboard_member_refresh(member_id=member.pk, at=at)
    LeaderboardPrize.objects.create(rank=1, points=500)
    words = text(me.get(reverse("campaigns:leaderboard")))
    assert "N90" in words and "N80" in words and "N60" not in words  # the top two
    assert "Place 4 Trailing (you) 10 points" in words  # then my own row
    assert "Monthly prizes" in words and "Place 1 500 bonus points" in words


def test_pages_in_dutch():
    client = signed_in("nl@example.com")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "nl"
    challenge(code="c", name="C", target=2)
    assert "Uitdagingen" in text(client.get(reverse("campaigns:challenges")))
    assert "Nog 2 aankopen" in text(client.get(reverse("campaigns:challenges")))
    assert "Ranglijst" in text(client.get(reverse("campaigns:leaderboard")))
    assert "U staat niet op de ranglijst." in text(client.get(reverse("campaigns:leaderboard")))


def test_templates_have_no_inline_code_or_styles():
    for template in TEMPLATES.glob("*.html"):
        source = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)|\sstyle=|<style|\son[a-z]+=", source), template.name
