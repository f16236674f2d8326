"""The campaigns' part of `python manage.py demo` (found by its autodiscover_modules("demo")): promotions,
created before the history is replayed so replayed purchases earn their bonuses; action rules, product
reviews, shares and surveys during the replayed history; and referral chains (one blocked), all through the
real services. The sign-up bonus is the program's (members.services.member_create)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from campaigns.models import ActionRule, Promotion
from campaigns.services.actions import action_event_record, action_rule_create, action_rule_update
from campaigns.services.promotions import promotion_create
from loyalty.management.commands import demo as demo_command
from loyalty.models import Purchase

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


def _register() -> None:
    demo_command.step_add(demo_promotions, before=demo_command.demo_history)
    demo_command.step_add(demo_action_rules, before=demo_command.demo_history)
    if _referral not in demo_command.JOIN_HOOKS:
        demo_command.JOIN_HOOKS.append(_referral)
    if _actions not in demo_command.VISIT_HOOKS:
        demo_command.VISIT_HOOKS.append(_actions)


_register()
