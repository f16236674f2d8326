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


def _purchase_rows(member) -> dict:
    """What recording purchases left for `member`, without ids and clock times."""
    member = Member.objects.select_related("tier").get(pk=member.pk)
    purchases = Purchase.objects.filter(member=member).select_related("transaction", "lot").order_by("occurred_at")
    return {
        "purchases": [
            (p.order_id, p.total, p.eligible_amount, p.points_base, p.points_bonus, p.breakdown, p.lines,
             p.available_at, p.request_hash != "",
             p.transaction and (p.transaction.kind, p.transaction.points, p.transaction.balance_after,
                                p.transaction.reason, p.transaction.metadata["base"]),
             p.lot and (p.lot.points, p.lot.remaining, p.lot.available_at, p.lot.released_at, p.lot.expires_at))
            for p in purchases
        ],
        "member": (member.tier and member.tier.code, member.lifetime_earned, member.tier_metric_value),
        "tiers": list(member.tier_history.order_by("changed_at", "id").values_list("kind", "to_tier__code")),
    }


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement purchase is PostgreSQL's")
@pytest.mark.parametrize("metric", ["points", "spend"])
def test_the_one_statement_purchase_records_what_the_orm_path_records(monkeypatch, metric):
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import MemberFactory

    program = program_get()
    program.tier_metric, program.tier_window, program.tier_window_months = metric, "rolling", 12
    program.save()
    Tier.objects.create(code="silver", name="Silver", rank=1, threshold=100, multiplier=Decimal("1.5"))
    Tier.objects.create(code="gold", name="Gold", rank=2, threshold=10**6)
    now = timezone.now().replace(microsecond=0)
    results = []
    for vendor in ("postgresql", "orm"):
        member, store = MemberFactory(), Store.objects.create(slug=vendor, name=vendor)
        with monkeypatch.context() as patch:
            if vendor == "orm":
                patch.setattr(connection, "vendor", "other")  # the generic path (SQLite's)
            for day, total in enumerate(["100.00", "80.00", "40.00", "45.50"]):  # the first outside the window
                purchase_record(store=store, member=member, order_id=f"o-{day}", total=Decimal(total),
                                currency=program_get().currency,
                                occurred_at=now - timedelta(days=9 - day + (400 if day == 0 else 0)),
                                lines=[{"sku": "A", "quantity": 1, "amount": total}], now=now)
            # a replay answers with the recorded purchase
            assert not purchase_record(store=store, member=member, order_id="o-0", total=Decimal("100.00"),
                                       currency=program_get().currency, occurred_at=now - timedelta(days=409),
                                       lines=[{"sku": "A", "quantity": 1, "amount": "100.00"}], now=now)[1]
        results.append(_purchase_rows(member))
    assert results[0] == results[1]
    assert results[0]["member"][0] == "silver" and results[0]["tiers"] == [("upgrade", "silver")]
    assert [p[4] for p in results[0]["purchases"]] == [0, 0, 0, 23]  # the silver bonus once upgraded
    assert results[0]["member"][2] == (Decimal("165.50") if metric == "spend" else Decimal("189"))
