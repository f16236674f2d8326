"""The purchase path checks the tier in its own transaction: one commit, no second check after it."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loyalty.models import LedgerTransaction, Purchase, Store, Tier
from loyalty.services.program import program_get
from loyalty.services.purchases import purchase_record
from members.models import Member

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(db):
    return Store.objects.create(slug="shop", name="Shop")


def record(member, store, order_id, total="100.00"):
    return purchase_record(store=store, member=member, order_id=order_id, total=Decimal(total),
                           currency=program_get().currency)


def test_a_purchase_upgrades_and_stores_the_metric_before_its_commit(member, store, django_capture_on_commit_callbacks):
    Tier.objects.create(code="silver", name="Silver", rank=1, threshold=1)
    Tier.objects.create(code="gold", name="Gold", rank=2, threshold=10**9)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:  # nothing runs after the commit
        purchase, created = record(member, store, "o1")
    member = Member.objects.select_related("tier").get(pk=member.pk)
    earned = purchase.points_base + purchase.points_bonus
    assert created and earned > 0
    assert member.tier.code == "silver"
    assert (member.tier_metric_value, member.tier_metric_at is not None) == (Decimal(earned), True)
    with CaptureQueriesContext(connection) as queries:  # the after-commit receivers have nothing left to do
        for callback in callbacks:
            callback()
    history = LedgerTransaction._meta.db_table
    assert not [q["sql"] for q in queries.captured_queries if history in q["sql"] or "FOR UPDATE" in q["sql"]]


def test_a_pending_purchase_does_not_compute_the_metric(member, store, django_capture_on_commit_callbacks):
    program = program_get()
    program.pending_days = 14
    program.save()
    Tier.objects.create(code="silver", name="Silver", rank=1, threshold=1)
    with django_capture_on_commit_callbacks(execute=True), CaptureQueriesContext(connection) as queries:
        record(member, store, "o1")
    assert not [q["sql"] for q in queries.captured_queries if "SUM(points)" in q["sql"]]
    assert Member.objects.get(pk=member.pk).tier_id is None  # pending points do not count yet
    assert Purchase.objects.get(order_id="o1").lot.released_at is None


def test_a_member_at_the_top_tier_is_not_checked(member, store, django_capture_on_commit_callbacks):
    gold = Tier.objects.create(code="gold", name="Gold", rank=2, threshold=5)
    Member.objects.filter(pk=member.pk).update(tier=gold)
    with django_capture_on_commit_callbacks(execute=True), CaptureQueriesContext(connection) as queries:
        record(member, store, "o1")
    assert not [q["sql"] for q in queries.captured_queries if "SUM(points)" in q["sql"]]
