"""The demo's promotions (`python manage.py demo`), created through campaigns.services before the history is
replayed, so replayed purchases earn their bonuses. Found by the demo command (autodiscover)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from campaigns.models import Promotion
from campaigns.services.promotions import promotion_create
from loyalty.management.commands import demo as demo_command


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


demo_command.step_add(demo_promotions, before=demo_command.demo_history)
