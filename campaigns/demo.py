"""The demo's gamification (a step of `python manage.py demo`, registered in CampaignsConfig.ready): badges,
challenges (one the portal's demo member has won, one they are working on, a milestone, one for the top tiers,
one that ended and is closed by the job), rewards locked behind a badge and a challenge, a leaderboard of
opted-in members with monthly prizes paid for last month. Everything goes through the real services."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import transaction

from campaigns.models import Badge, Challenge, ChallengeGoal, LeaderboardPrize
from campaigns.services.badges import badge_create, badge_grant
from campaigns.services.challenges import challenge_create, challenge_progress_backfill, challenges_close, goal_values
from campaigns.services.leaderboards import leaderboard_prizes_award, leaderboards_refresh
from loyalty.models import Tier
from members.models import Member, MemberStatus
from members.services import member_profile_update
from rewards.models import RewardKind
from rewards.services import reward_create

if TYPE_CHECKING:
    from loyalty.management.commands.demo import Demo

BADGES = [
    {"code": "first-steps", "name": "First steps", "description": "Made three purchases."},
    {"code": "holiday-hero", "name": "Holiday hero", "description": "Won the holiday challenge."},
    {"code": "streak", "name": "On a roll", "description": "Shopped two weeks in a row."},
    {"code": "gold-club", "name": "Gold club", "description": "Reached Gold.", "tier": "gold"},
    {"code": "ambassador", "name": "Ambassador", "description": "Helped us out in the shop."},
]
PRIZES = [(1, 500), (2, 250), (3, 100)]
NICKNAME_SHARE = 0.4


def _badge(code: str) -> Badge:
    return Badge.objects.get(code=code)


def demo_campaigns(demo: Demo) -> None:
    # One transaction, as the demo's history does per month: a commit per completion costs more than the work.
    with transaction.atomic():
        _demo_campaigns(demo)


def _demo_campaigns(demo: Demo) -> None:
    now = demo.now
    members = list(Member.objects.filter(email__iendswith="@demo.example.com").order_by("pk"))
    if not members or Challenge.objects.exists():
        return
    star = members[0]  # the portal's demo member
    for fields in BADGES:
        tier = Tier.objects.filter(code=fields.pop("tier", "")).first()
        badge_create(**fields, tier=tier)
    gift = reward_create(code="holiday-gift-box", name="Holiday gift box", kind=RewardKind.FREE_PRODUCT,
                         cost_points=50, value=Decimal("15.00"), description="Only for holiday challenge winners.")
    reward_create(code="gold-tasting", name="Gold club tasting evening", kind=RewardKind.EXPERIENCE,
                  cost_points=400, required_badge=_badge("gold-club"),
                  description="An evening of tastings, for holders of the Gold club badge.")

    # Won by the demo member: their points over the last 90 days, rounded down to a target they have reached.
    holiday = Challenge(goal=ChallengeGoal.POINTS_EARNED, starts_at=now - timedelta(days=90), target=1)
    earned = goal_values(holiday, member_ids=[star.pk], until=now).get(star.pk, Decimal(0))
    challenge_create(
        code="holiday-100", name="Holiday challenge", goal=ChallengeGoal.POINTS_EARNED,
        description="Earn points these holidays and unlock a special gift.",
        target=max(int(earned) // 50 * 50, 50), starts_at=now - timedelta(days=90),
        ends_at=now + timedelta(days=21), prize_points=100, prize_badge=_badge("holiday-hero"), prize_reward=gift,
    )
    # In progress for the demo member: two purchases more than they made in the window.
    window = Challenge(goal=ChallengeGoal.PURCHASES, starts_at=now - timedelta(days=60), target=1)
    made = int(goal_values(window, member_ids=[star.pk], until=now).get(star.pk, Decimal(0)))
    challenge_create(
        code="spring-shopper", name="Spring shopper", goal=ChallengeGoal.PURCHASES,
        description="Shop with us during the season.", target=max(made + 2, 3),
        starts_at=now - timedelta(days=60), ends_at=now + timedelta(days=30), prize_points=150,
    )
    challenge_create(
        code="first-three", name="Three purchases", goal=ChallengeGoal.PURCHASES,
        description="A milestone: your first three purchases.", target=3, starts_at=demo.start,
        prize_points=25, prize_badge=_badge("first-steps"),
    )
    challenge_create(
        code="two-weeks", name="Two weeks in a row", goal=ChallengeGoal.WEEKLY_STREAK,
        description="Buy something in two consecutive weeks.", target=2, starts_at=demo.start,
        prize_points=200, prize_badge=_badge("streak"),
    )
    challenge_create(
        code="gold-explorer", name="Explorer", goal=ChallengeGoal.DISTINCT_CATEGORIES,
        description="Try three of our categories this quarter.", target=3,
        starts_at=now - timedelta(days=45), ends_at=now + timedelta(days=45), prize_points=300,
        tiers=list(Tier.objects.filter(code__in=["gold", "platinum"])),
    )
    challenge_create(
        code="autumn-spend", name="Autumn spender", goal=ChallengeGoal.AMOUNT_SPENT,
        description="Spend 150 euros this autumn.", target=150,
        starts_at=now - timedelta(days=150), ends_at=now - timedelta(days=60), prize_points=75,
    )
    for challenge in Challenge.objects.filter(closed_at__isnull=True).order_by("pk"):
        challenge_progress_backfill(challenge=challenge, now=now)  # also queued on commit; counting twice is harmless
    closed = challenges_close(as_of=now)
    demo.counts["challenges closed"] += closed["challenges"]
    demo.counts["challenges"] += Challenge.objects.count()

    for member in members[len(members) // 4 : len(members) // 4 + 3]:
        badge_grant(badge=_badge("ambassador"), member=member, reason="Helped at the summer fair",
                    staff_user=demo.admin)

    # The leaderboard: a share of the members (and the demo member) opted in with a nickname.
    for number, member in enumerate(members, start=1):
        chosen = member.pk == star.pk or demo.rng.random() < NICKNAME_SHARE
        if chosen and member.status == MemberStatus.ACTIVE:
            member_profile_update(member=member, nickname=f"{member.first_name or 'Member'}{number}",
                                  leaderboard_opt_in=True)
            demo.counts["leaderboard members"] += 1
    for rank, points in PRIZES:
        LeaderboardPrize.objects.get_or_create(rank=rank, defaults={"points": points})
    leaderboards_refresh(as_of=now)
    paid = leaderboard_prizes_award(as_of=now)
    demo.counts["leaderboard prizes"] += paid["paid"]


def demo_steps_register() -> None:
    """Add the campaigns' step to the demo command (loyalty never imports campaigns)."""
    from loyalty.management.commands import demo

    if demo_campaigns not in demo.STEPS:
        demo.STEPS.append(demo_campaigns)

