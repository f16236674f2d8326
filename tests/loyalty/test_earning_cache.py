"""The active earning rules and promotions are cached; every change is seen by the next purchase."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import PromotionKind
from campaigns.services.promotions import promotion_create, promotion_delete, promotion_update
from loyalty.models import Program
from loyalty.services.earning import (
    earning_calculate,
    earning_rule_create,
    earning_rule_delete,
    earning_rule_update,
)
from loyalty.services.program import config_memo

pytestmark = pytest.mark.django_db
NOW = timezone.now()
LINES = [{"sku": "MUG", "quantity": 1, "amount": "10.00", "category": "kitchen"}]


def calc(member, capture, at=NOW):
    """Calculate with the on-commit callbacks run, as a committed request would (so the cache fills)."""
    with config_memo(), capture(execute=True):
        return earning_calculate(member=member, total=Decimal("10.00"), lines=LINES, occurred_at=at)


def test_rules_are_served_from_the_cache_once_filled(
    member, django_capture_on_commit_callbacks, django_assert_num_queries
):
    Program.objects.get_or_create(pk=1)  # (making the row raises the configuration version)
    earning_rule_create(sku="MUG", multiplier=Decimal("3"))
    calc(member, django_capture_on_commit_callbacks)  # fills the rule and promotion caches
    with django_assert_num_queries(1):  # the configuration version
        assert calc(member, django_capture_on_commit_callbacks).base == 30


def test_rule_changes_are_seen_at_once(member, django_capture_on_commit_callbacks):
    assert calc(member, django_capture_on_commit_callbacks).base == 10
    rule = earning_rule_create(sku="MUG", multiplier=Decimal("3"))
    assert calc(member, django_capture_on_commit_callbacks).base == 30
    earning_rule_update(rule=rule, multiplier=Decimal("2"))
    assert calc(member, django_capture_on_commit_callbacks).base == 20
    earning_rule_update(rule=rule, active=False)
    assert calc(member, django_capture_on_commit_callbacks).base == 10
    category = earning_rule_create(category="kitchen", excluded=True)
    assert calc(member, django_capture_on_commit_callbacks).base == 0
    earning_rule_delete(rule=category)
    assert calc(member, django_capture_on_commit_callbacks).base == 10


def test_many_rules_fall_back_to_the_query(member, django_capture_on_commit_callbacks, monkeypatch):
    from loyalty.services import earning

    monkeypatch.setattr(earning, "RULES_CACHE_LIMIT", 2)
    for sku in ("A", "B", "C"):
        earning_rule_create(sku=sku, excluded=True)
    earning_rule_create(sku="MUG", multiplier=Decimal("4"))
    assert calc(member, django_capture_on_commit_callbacks).base == 40
    assert calc(member, django_capture_on_commit_callbacks).base == 40  # the "many" marker, then the query


def test_promotion_changes_are_seen_at_once(member, django_capture_on_commit_callbacks):
    assert calc(member, django_capture_on_commit_callbacks).bonus == 0
    promotion = promotion_create(name="P", kind=PromotionKind.FLAT, points=5)
    assert calc(member, django_capture_on_commit_callbacks).bonus == 5
    promotion_update(promotion=promotion, points=7)
    assert calc(member, django_capture_on_commit_callbacks).bonus == 7
    promotion_update(promotion=promotion, starts_at=NOW + timedelta(days=1))
    assert calc(member, django_capture_on_commit_callbacks).bonus == 0
    assert calc(member, django_capture_on_commit_callbacks, at=NOW + timedelta(days=2)).bonus == 7
    promotion_delete(promotion=promotion)
    assert calc(member, django_capture_on_commit_callbacks, at=NOW + timedelta(days=2)).bonus == 0
