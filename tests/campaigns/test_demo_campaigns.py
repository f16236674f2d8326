"""`manage.py demo` shows the gamification through the real services (a short history, 20 members)."""

import io

import pytest
from django.core.management import call_command

from campaigns.models import BadgeAward, Challenge, ChallengeProgress, LeaderboardAward, LeaderboardScore
from campaigns.services.leaderboards import leaderboard_rank_get, leaderboard_tally_problems, period_get
from loyalty.services.verify import ledger_verify
from members.models import Member
from rewards.models import Reward

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_demo_runs_challenges_badges_and_a_leaderboard():
    call_command("demo", "--no-serve", "--force", "--members", "20", stdout=io.StringIO())
    star = Member.objects.get(email="member@demo.example.com")
    won = ChallengeProgress.objects.get(member=star, challenge__code="holiday-100")
    assert won.completed_at is not None and won.prize_transaction is not None
    working = ChallengeProgress.objects.filter(member=star, challenge__code="spring-shopper").first()
    assert working is None or working.completed_at is None
    assert Challenge.objects.get(code="autumn-spend").closed_at is not None
    assert Reward.objects.get(code="holiday-gift-box").unlocking_challenges.exists()
    assert Reward.objects.get(code="gold-club-mug").required_badge.code == "gold-club"
    assert set(BadgeAward.objects.values_list("source", flat=True)) >= {"challenge", "staff"}
    assert ChallengeProgress.objects.filter(challenge__code="three-reviews").exists()  # the reviews counted
    assert star.nickname and star.leaderboard_opt_in
    assert LeaderboardScore.objects.filter(member=star).exists()
    assert leaderboard_rank_get(member=star, period=period_get("all")) is not None
    assert leaderboard_tally_problems() == []
    assert LeaderboardAward.objects.count() <= 3
    assert ledger_verify() == []
