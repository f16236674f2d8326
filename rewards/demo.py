"""The demo's reward catalogue (`python manage.py demo` imports this module): rewards created through the
rewards service before the history is replayed, and the members' redemptions made from it (reward_redeem,
dated on the replayed day), so the KPI dashboard's top rewards and the member's coupons have data."""

from datetime import datetime
from decimal import Decimal

from loyalty.management.commands import demo as base
from rewards.models import Reward, RewardKind
from rewards.services import LedgerError, reward_create, reward_redeem

CATALOGUE = [
    {"code": "free-coffee", "name": "Free coffee", "kind": RewardKind.FREE_PRODUCT, "cost_points": 250,
     "value": Decimal("2.50"), "sku": "COF-001"},
    {"code": "five-off", "name": "€5 discount", "kind": RewardKind.FIXED_DISCOUNT, "cost_points": 500,
     "value": Decimal("5.00")},
    {"code": "food-bank", "name": "€5 to the food bank", "kind": RewardKind.CHARITY_DONATION, "cost_points": 500,
     "value": Decimal("5.00"), "charity_name": "Food bank"},
    {"code": "ten-off", "name": "€10 discount", "kind": RewardKind.FIXED_DISCOUNT, "cost_points": 1000,
     "value": Decimal("10.00")},
    {"code": "twentyfive-off", "name": "€25 discount", "kind": RewardKind.FIXED_DISCOUNT, "cost_points": 2500,
     "value": Decimal("25.00")},
]


def demo_rewards(demo: base.Demo) -> None:
    rewards = []
    for fields in CATALOGUE:
        reward = Reward.objects.filter(code=fields["code"]).first() or reward_create(**fields)
        rewards.append(reward)
    demo.extra["rewards"] = sorted(rewards, key=lambda reward: reward.cost_points)


def _redeem(demo: base.Demo, planned: base.PlannedMember, available: int, when: datetime) -> bool:
    """Redeem one of the two dearest rewards the member can afford, dated `when`."""
    affordable = [reward for reward in demo.extra.get("rewards", []) if reward.cost_points <= available]
    if not affordable or planned.member is None:
        return False
    reward = demo.rng.choice(affordable[-3:])
    try:
        reward_redeem(member=planned.member, reward=reward, now=when)
    except LedgerError:
        return False
    return True


if demo_rewards not in base.STEPS:
    base.STEPS.insert(base.STEPS.index(base.demo_history), demo_rewards)
    base.REDEEMERS.append(_redeem)
