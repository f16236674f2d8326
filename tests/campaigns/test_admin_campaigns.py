"""The campaigns admin: every page opens for staff, challenges show their counts, the form validates through
the service and recounts after the save, the board and the prize settings work."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Challenge, ChallengeProgress, LeaderboardPrize
from campaigns.services.badges import badge_create, badge_grant
from campaigns.services.leaderboards import leaderboard_member_refresh
from loyalty.services.ledger import Audit, points_credit
from members.models import User
from tests.campaigns.conftest import buy, challenge
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("boss@example.com", "pw"))
    return client


def test_every_campaigns_page_opens(staff, member):
    badge = badge_create(code="b", name="B")
    badge_grant(badge=badge, member=member, reason="x")
    goal = challenge(prize_badge=badge)
    for name, args in [
        ("admin:campaigns_challenge_changelist", []), ("admin:campaigns_challenge_add", []),
        ("admin:campaigns_challenge_change", [goal.pk]), ("admin:campaigns_challengeprogress_changelist", []),
        ("admin:campaigns_badge_changelist", []), ("admin:campaigns_badge_add", []),
        ("admin:campaigns_badge_change", [badge.pk]), ("admin:campaigns_badgeaward_changelist", []),
        ("admin:campaigns_badgeaward_add", []), ("admin:campaigns_leaderboardscore_changelist", []),
        ("admin:campaigns_leaderboardprize_changelist", []), ("admin:campaigns_leaderboardaward_changelist", []),
        ("admin:rewards_reward_add", []),
    ]:
        assert staff.get(reverse(name, args=args)).status_code == 200, name


def test_challenge_list_shows_started_completed_and_the_rate(staff, store, committed):
    goal = challenge(name="Three visits", target=2)
    done, busy, idle = MemberFactory(), MemberFactory(), MemberFactory()
    with committed():
        buy(store, done)
        buy(store, done)
        buy(store, busy)
    assert idle.pk
    page = staff.get(reverse("admin:campaigns_challenge_changelist")).content.decode()
    assert "Three visits" in page and "50 %" in page
    url = reverse("admin:campaigns_challengeprogress_changelist") + f"?challenge__id__exact={goal.pk}"
    assert f'href="{url}"' in page.replace("&amp;", "&")


def test_the_challenge_form_validates_and_recounts_after_the_save(staff, store, member,
                                                                  django_capture_on_commit_callbacks):
    for _ in range(2):
        buy(store, member, at=timezone.now() - timedelta(days=3))
    url = reverse("admin:campaigns_challenge_add")
    form = {"code": "twice", "name": "Twice", "goal": "purchases", "target": "2", "prize_points": "0",
            "starts_at_0": (timezone.localtime() - timedelta(days=7)).strftime("%Y-%m-%d"), "starts_at_1": "00:00:00",
            "active": "on"}
    refused = staff.post(url, form)
    assert refused.status_code == 200 and "Give a prize" in refused.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        created = staff.post(url, {**form, "prize_points": "30"})
    assert created.status_code == 302, created.content.decode()[:2000]
    goal = Challenge.objects.get(code="twice")
    assert ChallengeProgress.objects.get(challenge=goal, member=member).completed_at is not None  # counted


def test_the_leaderboard_page_and_prize_settings(staff):
    member = MemberFactory()
    member.__class__.objects.filter(pk=member.pk).update(nickname="Champ", leaderboard_opt_in=True)
    points_credit(member=member, points=42, audit=Audit(reason="x", occurred_at=timezone.now()))
    leaderboard_member_refresh(member_id=member.pk)
    LeaderboardPrize.objects.create(rank=1, points=500)
    page = staff.get(reverse("admin:campaigns_leaderboardscore_changelist") + "?period=all").content.decode()
    assert "Champ" in page and "42" in page and "Place 1: 500 points" in page
    assert staff.get(reverse("admin:campaigns_leaderboardscore_changelist") + "?period=bogus").status_code == 200
