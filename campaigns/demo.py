"""The campaigns' part of `python manage.py demo` (found by its autodiscover_modules("demo")): promotions,
created before the history is replayed so replayed purchases earn their bonuses; action rules, product
reviews, shares and surveys during the replayed history; and referral chains (one blocked), all through the
real services. The sign-up bonus is the program's (members.services.member_create). After the history, the
gamification: badges, challenges (one the portal's demo member has won, one they are working on, a milestone,
a weekly streak, one for the top tiers, one that ended and is closed by the job), rewards locked behind a
badge and a challenge, a leaderboard of opted-in members and last month's prizes paid.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from campaigns.models import ActionRule, Badge, Challenge, ChallengeGoal, LeaderboardPrize, Promotion
from campaigns.services.actions import action_event_record, action_rule_create, action_rule_update
from campaigns.services.badges import badge_create, members_badge_grant
from campaigns.services.challenges import challenge_create, challenge_progress_backfill, challenges_close, goal_values
from campaigns.services.leaderboards import leaderboard_prizes_award, leaderboards_refresh
from campaigns.services.promotions import promotion_create
from loyalty.management.commands import demo as demo_command
from loyalty.models import Purchase, Tier
from members.models import Member, MemberStatus
from members.services import member_profile_update
from rewards.demo import reward_picture
from rewards.models import RewardKind
from rewards.services import reward_create

ACTION_RULES = [
    {"type": "review", "name": "Product review", "points": 50, "once_per_reference": True, "per_week": 3},
    {"type": "social_share", "name": "Social media share", "points": 10, "once_per_reference": False, "per_day": 1,
     "per_month": 5},
    {"type": "survey", "name": "Customer survey", "points": 25, "once_per_reference": True},
    {"type": "newsletter_signup", "name": "Newsletter sign-up", "points": 20, "once_per_reference": False,
     "lifetime": 1},
]
REFERRED_SHARE = 0.12  # of the members after the first ten
BLOCKED_NUMBER = 7  # from this member on, one signs up with an alias of its referrer's email: blocked for review


def _rng(*parts: Any) -> random.Random:
    """A random stream per member and purpose: the other demo data stays as it was without campaigns."""
    return random.Random("-".join(str(part) for part in parts))


def demo_promotions(demo: demo_command.Demo) -> None:
    if Promotion.objects.exists():
        return
    now = demo.now
    promotions = [
        {"name": "Welcome: 50 bonus points on your first purchase", "kind": "first_purchase", "points": 50},
        {"name": "Double points on coffee", "kind": "multiplier", "multiplier": Decimal("2.00"),
         "categories": ["coffee"], "starts_at": now - timedelta(days=60), "ends_at": now + timedelta(days=30)},
        {"name": "100 extra points on orders from €100", "kind": "threshold", "points": 100,
         "min_total": Decimal("100.00")},
        {"name": "Spring weekend: triple points", "kind": "multiplier", "multiplier": Decimal("3.00"),
         "exclusive": True, "starts_at": now - timedelta(days=250), "ends_at": now - timedelta(days=247)},
        {"name": "Gold and Platinum: 25 bonus points a visit", "kind": "flat", "points": 25,
         "tiers": ["gold", "platinum"]},
    ]
    for fields in promotions:
        promotion_create(**fields)


def demo_action_rules(demo: demo_command.Demo) -> None:
    for values in ACTION_RULES:
        rule = ActionRule.objects.filter(type=values["type"]).first()
        values = {**values, "active": True}
        if rule is None:
            action_rule_create(**values)
        else:
            action_rule_update(rule=rule, **{k: v for k, v in values.items() if k != "type"})


def _referral(demo: demo_command.Demo, planned: demo_command.PlannedMember) -> dict[str, Any]:
    """Who referred this member, if anyone: a member who joined earlier (so chains form)."""
    joined = [p for p in demo.planned if p.member is not None and p.number < planned.number]
    if planned.number >= BLOCKED_NUMBER and len(joined) >= 2 and not demo.counts["alias referrals"]:
        demo.counts["alias referrals"] += 1
        referrer = joined[1]
        local, _at, domain = referrer.email.partition("@")
        planned.email = f"{local}+friend@{domain}"
        return {"referred_by": referrer.member}
    rng = _rng("referral", planned.number)
    if planned.number <= 10 or rng.random() >= REFERRED_SHARE or not joined:
        return {}
    # The portal demo login brings friends too (its Refer a friend page has some), and friends bring friends.
    referred = [p for p in joined if p.member and p.member.referred_by_id and "+" not in p.email]
    draw = rng.random()
    if referred and (draw < 0.3 or not demo.counts["referral chains"]):
        demo.counts["referral chains"] += 1
        return {"referred_by": rng.choice(referred).member}
    if draw < 0.6:
        return {"referred_by": joined[0].member}
    return {"referred_by": rng.choice(joined[-40:]).member}


def _actions(demo: demo_command.Demo, planned: demo_command.PlannedMember, when: datetime, purchase: Purchase) -> None:
    """After a web order, some members review what they bought; a few share it or answer a survey."""
    rng = _rng("actions", purchase.order_id)
    later = when + timedelta(hours=rng.randint(2, 30))
    if later >= timezone.now() or planned.member is None:
        return
    kinds = []
    if purchase.lines and rng.random() < 0.3:
        kinds.append(("review", purchase.lines[0].get("sku", "")))
    if rng.random() < 0.06:
        kinds.append(("social_share", f"https://shop.example.com/p/{purchase.order_id}"))
    if rng.random() < 0.04:
        kinds.append(("survey", f"survey-{timezone.localtime(later):%Y-q}{(later.month - 1) // 3 + 1}"))
    if rng.random() < 0.02:
        kinds.append(("newsletter_signup", ""))
    for type_, reference in kinds:
        action_event_record(member=planned.member, type=type_, reference=reference, occurred_at=later)
        demo.counts["actions"] += 1


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


def _picture(code: str, title: str, colours: tuple[str, str], picture: str) -> ContentFile:
    return ContentFile(reward_picture(title=title, colours=colours, picture=picture), name=f"{code}.png")


def demo_gamification(demo: demo_command.Demo) -> None:
    # One transaction, as the demo's history does per month: a commit per completion costs more than the work.
    with transaction.atomic():
        _demo_gamification(demo)


def _demo_gamification(demo: demo_command.Demo) -> None:
    now = demo.now
    members = list(Member.objects.filter(email__iendswith="@demo.example.com").order_by("pk"))
    if not members or Challenge.objects.exists():
        return
    star = members[0]  # the portal's demo member
    for fields in BADGES:
        tier = Tier.objects.filter(code=fields.pop("tier", "")).first()
        badge_create(**fields, tier=tier)
    gift = reward_create(code="holiday-gift-box", name="Holiday gift box", kind=RewardKind.FREE_PRODUCT,
                         cost_points=50, value=Decimal("15.00"), description="Only for holiday challenge winners.",
                         image=_picture("holiday-gift-box", "Holiday gift box", ("#9b2226", "#ee9b00"), "bag"))
    reward_create(code="gold-club-mug", name="Gold club mug", kind=RewardKind.FREE_PRODUCT, cost_points=400,
                  value=Decimal("9.50"), required_badge=_badge("gold-club"),
                  description="A stoneware mug, for holders of the Gold club badge.",
                  image=_picture("gold-club-mug", "Gold club mug", ("#7a5c00", "#f2c94c"), "cup"))

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
        code="three-reviews", name="Reviewer", goal=ChallengeGoal.ACTIONS, action_type="review",
        description="Review three products you bought.", target=3, starts_at=demo.start, prize_points=60,
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

    # The members list's "Grant a badge" bulk action, through its service: in the audit log.
    helpers = [member.pk for member in members[len(members) // 4 : len(members) // 4 + 3]]
    members_badge_grant(members=Member.objects.filter(pk__in=helpers), badge=_badge("ambassador"),
                        reason="Helped at the summer fair", staff_user=demo.admin,
                        selection={"selected": len(helpers)})

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


def _register() -> None:
    demo_command.step_add(demo_promotions, before=demo_command.demo_history)
    demo_command.step_add(demo_action_rules, before=demo_command.demo_history)
    demo_command.step_add(demo_gamification)
    if _referral not in demo_command.JOIN_HOOKS:
        demo_command.JOIN_HOOKS.append(_referral)
    if _actions not in demo_command.VISIT_HOOKS:
        demo_command.VISIT_HOOKS.append(_actions)


_register()
