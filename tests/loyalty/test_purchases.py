import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from loyalty.models import LedgerTransaction, PointLot, Purchase, Refund, Store, TransactionKind
from loyalty.selectors import member_points_get
from loyalty.services.ledger import Audit, points_debit
from loyalty.services.program import program_get
from loyalty.services.purchases import (
    CurrencyMismatch,
    MemberInactive,
    OrderConflict,
    PurchaseInvalid,
    PurchaseNotFound,
    RefundExceedsPurchase,
    purchase_record,
    purchase_status,
    refund_record,
    refund_remaining,
    refund_target,
)
from loyalty.services.verify import ledger_verify
from loyalty.signals import purchase_recorded, purchase_refunded
from members.models import MemberStatus
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
EARLIER = timezone.now() - timedelta(hours=1)


@pytest.fixture
def store(db):
    return Store.objects.create(slug="shop", name="Shop")


def record(store, member, order_id="A1", total="40.00", **kwargs):
    kwargs.setdefault("currency", "EUR")
    kwargs.setdefault("occurred_at", EARLIER)
    return purchase_record(store=store, member=member, order_id=order_id, total=total, **kwargs)


def test_purchase_credits_its_points_into_its_own_lot(store, member):
    purchase, created = record(store, member, total="40.00")
    assert created
    assert (purchase.points_base, purchase.points_bonus, purchase.points_total) == (40, 0, 40)
    assert purchase.lot.points == 40 and purchase.lot.transaction_id == purchase.transaction_id
    assert purchase.transaction.kind == TransactionKind.EARN
    assert purchase.transaction.reference == "A1"
    assert member_points_get(member=member)["available"] == 40
    assert purchase_status(purchase) == "available"
    assert ledger_verify() == []


def test_same_order_again_returns_the_recorded_purchase(store, member):
    first, _ = record(store, member, total="12.50", lines=[{"sku": "A", "quantity": 1, "amount": "12.5"}])
    again, created = record(
        store, member, total=Decimal("12.5"), lines=[{"sku": "A", "quantity": 1, "amount": "12.50"}]
    )
    assert (again.pk, created) == (first.pk, False)
    assert Purchase.objects.count() == 1
    assert LedgerTransaction.objects.filter(kind="earn").count() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"total": "41.00"},
        {"currency": "USD"},
        {"shipping": "1.00"},
        {"occurred_at": EARLIER - timedelta(days=1)},
        {"lines": [{"sku": "A", "quantity": 1, "amount": "40.00"}]},
    ],
)
def test_same_order_with_other_details_is_a_conflict(store, member, change):
    record(store, member)
    with pytest.raises(OrderConflict) as error:
        record(store, member, **change)
    assert (error.value.code, error.value.status_code) == ("order_conflict", 409)


def test_same_order_for_another_member_is_a_conflict(store, member):
    record(store, member)
    with pytest.raises(OrderConflict):
        record(store, MemberFactory())


def test_same_order_id_in_another_store_is_another_purchase(store, member):
    record(store, member)
    other = Store.objects.create(slug="other", name="Other")
    _purchase, created = record(other, member)
    assert created


@pytest.mark.parametrize("status", [MemberStatus.SUSPENDED, MemberStatus.CLOSED])
def test_inactive_member_cannot_earn(store, member, status):
    member.status = status
    member.save()
    with pytest.raises(MemberInactive) as error:
        record(store, member)
    assert (error.value.code, error.value.status_code) == ("member_inactive", 422)
    assert not Purchase.objects.exists()


def test_replay_after_the_member_was_suspended_returns_the_purchase(store, member):
    first, _ = record(store, member)
    member.status = MemberStatus.SUSPENDED
    member.save()
    again, created = record(store, member)
    assert (again.pk, created) == (first.pk, False)
    with pytest.raises(MemberInactive):
        record(store, member, order_id="A2")


def test_currency_must_be_the_programs(store, member):
    with pytest.raises(CurrencyMismatch) as error:
        record(store, member, currency="USD")
    assert (error.value.code, error.value.status_code) == ("currency_mismatch", 422)
    _purchase, created = record(store, member, currency="eur")
    assert created


@pytest.mark.parametrize(
    "bad",
    [
        {"total": "-1.00"},
        {"total": "1.005"},
        {"total": "abc"},
        {"shipping": "-1"},
        {"occurred_at": timezone.now() + timedelta(hours=1)},
        {"lines": [{"sku": "A", "quantity": 0, "amount": "1.00"}]},
        {"lines": [{"sku": "A", "quantity": 1.5, "amount": "1.00"}]},
        {"lines": [{"sku": "A", "quantity": 1, "amount": "-1.00"}]},
        {"lines": [{"sku": "A", "quantity": 1, "amount": "30.00"}, {"sku": "B", "quantity": 1, "amount": "10.01"}]},
        {"shipping": "30.00", "tax": "10.01"},
        {"order_id": ""},
        {"currency": "EURO"},
    ],
)
def test_invalid_purchases_are_refused_and_change_nothing(store, member, bad):
    with pytest.raises(PurchaseInvalid) as error:
        record(store, member, **bad)
    assert (error.value.code, error.value.status_code) == ("invalid", 422)
    assert not Purchase.objects.exists() and not LedgerTransaction.objects.exists()


def test_pending_days_hold_the_points_until_released(store, member):
    program = program_get()
    program.pending_days = 14
    program.save()
    purchase, _ = record(store, member)
    assert purchase.available_at == EARLIER + timedelta(days=14)
    assert purchase_status(purchase) == "pending"
    assert member_points_get(member=member)["pending"] == 40
    old, _ = record(store, member, order_id="OLD", occurred_at=EARLIER - timedelta(days=15))
    assert purchase_status(old) == "available"


def test_zero_point_purchase_posts_nothing(store, member):
    purchase, created = record(store, member, total="0.40")
    assert created and purchase.points_total == 0 and purchase.transaction is None
    assert purchase_status(purchase) == "available"


def test_purchase_recorded_signal_after_commit(store, member, django_capture_on_commit_callbacks):
    received = []
    handler = lambda sender, purchase, earning, **kw: received.append((purchase.order_id, earning.total))  # noqa: E731
    purchase_recorded.connect(handler)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            record(store, member)
            record(store, member)  # a replay is not a new purchase
    finally:
        purchase_recorded.disconnect(handler)
    assert received == [("A1", 40)]


# -- refunds ---------------------------------------------------------------------------------------


def seventy_point_purchase(store, member):
    """An order of 40.00 that earned 70 points (earn rate 1.75)."""
    program = program_get()
    program.earn_rate = Decimal("1.75")
    program.save()
    purchase, _ = record(store, member, total="40.00")
    assert purchase.points_total == 70
    return purchase


def test_refunds_reverse_in_proportion_and_never_more(store, member):
    purchase = seventy_point_purchase(store, member)
    refund, created = refund_record(store=store, purchase=purchase, refund_id="r1", amount="20.00")
    assert created and refund.points_reversed == 35
    assert member_points_get(member=member)["available"] == 35
    refund, _ = refund_record(store=store, purchase=purchase, refund_id="r2", amount="20.00")
    assert refund.points_reversed == 35
    purchase.refresh_from_db()
    assert (purchase.refunded_total, purchase.points_reversed) == (Decimal("40.00"), 70)
    assert member_points_get(member=member)["available"] == 0
    with pytest.raises(RefundExceedsPurchase) as error:
        refund_record(store=store, purchase=purchase, refund_id="r3", amount="0.01")
    assert (error.value.code, error.value.status_code) == ("refund_exceeds_purchase", 422)
    assert ledger_verify() == []


def test_cumulative_rounding_over_many_small_refunds(store, member):
    purchase, _ = record(store, member, total="10.00")  # 10 points
    reversed_so_far = 0
    for n in range(1, 4):  # 3.00 each: 3, 6, 9 of 10 -> round(3) 3, round(6) 6, round(9) 9
        refund, _ = refund_record(store=store, purchase=purchase, refund_id=f"r{n}", amount="3.00")
        reversed_so_far += refund.points_reversed
        assert reversed_so_far == refund_target(points=10, total=Decimal("10"), refunded_total=Decimal(3 * n))
    refund, _ = refund_record(store=store, purchase=purchase, refund_id="last", amount="1.00")
    assert reversed_so_far + refund.points_reversed == 10


def test_refund_target_rounds_half_up_and_returns_all_on_full_refund():
    assert refund_target(points=5, total=Decimal("2.00"), refunded_total=Decimal("1.00")) == 3  # 2.5 -> 3
    assert refund_target(points=7, total=Decimal("3.00"), refunded_total=Decimal("1.00")) == 2  # 2.33 -> 2
    assert refund_target(points=7, total=Decimal("3.00"), refunded_total=Decimal("3.00")) == 7
    assert refund_target(points=0, total=Decimal("0"), refunded_total=Decimal("0")) == 0


def test_refund_is_idempotent_by_refund_id(store, member):
    purchase = seventy_point_purchase(store, member)
    first, _ = refund_record(store=store, purchase=purchase, refund_id="r1", amount="10.00")
    again, created = refund_record(store=store, purchase=purchase, refund_id="r1", amount="10")
    assert (again.pk, created) == (first.pk, False)
    assert Refund.objects.count() == 1
    with pytest.raises(OrderConflict):
        refund_record(store=store, purchase=purchase, refund_id="r1", amount="11.00")


@pytest.mark.parametrize("amount", ["0", "-1.00", "1.001", "x"])
def test_invalid_refund_amounts(store, member, amount):
    purchase = seventy_point_purchase(store, member)
    with pytest.raises(PurchaseInvalid):
        refund_record(store=store, purchase=purchase, refund_id="r1", amount=amount)
    assert not Refund.objects.exists()


def test_refund_through_another_store_is_not_found(store, member):
    purchase = seventy_point_purchase(store, member)
    other = Store.objects.create(slug="other", name="Other")
    with pytest.raises(PurchaseNotFound) as error:
        refund_record(store=other, purchase=purchase, refund_id="r1", amount="1.00")
    assert error.value.status_code == 404


def test_refund_takes_from_the_purchase_lot_first(store, member):
    older, _ = record(store, member, order_id="OLD", total="100.00", occurred_at=EARLIER - timedelta(days=1))
    purchase, _ = record(store, member, order_id="NEW", total="10.00")
    refund_record(store=store, purchase=purchase, refund_id="r", amount="10.00")
    assert PointLot.objects.get(pk=purchase.lot.pk).remaining == 0
    assert PointLot.objects.get(pk=older.lot.pk).remaining == 100


def test_refund_of_pending_points_takes_them_from_pending(store, member):
    program = program_get()
    program.pending_days = 30
    program.save()
    purchase, _ = record(store, member, total="40.00")
    refund_record(store=store, purchase=purchase, refund_id="r", amount="10.00")
    member.refresh_from_db()
    assert member_points_get(member=member) == {"available": 0, "pending": 30, "lifetime_earned": 30}
    assert ledger_verify() == []


def test_refund_after_spending_creates_debt(store, member):
    purchase = seventy_point_purchase(store, member)
    points_debit(member=member, points=70, audit=Audit(reason="reward", idempotency_key="spend"))
    refund_record(store=store, purchase=purchase, refund_id="r", amount="40.00")
    assert member_points_get(member=member)["available"] == -70
    assert ledger_verify() == []
    record(store, member, order_id="NEXT", total="100.00")  # 175 points: pays the debt first
    assert member_points_get(member=member)["available"] == 105
    assert ledger_verify() == []


def test_refund_signal_inside_the_transaction_says_when_full(store, member):
    purchase = seventy_point_purchase(store, member)
    seen = []

    def handler(sender, purchase, refund, full, **kwargs):
        seen.append((refund.refund_id, full, connection.in_atomic_block))

    purchase_refunded.connect(handler)
    try:
        refund_record(store=store, purchase=purchase, refund_id="r1", amount="30.00")
        refund_record(store=store, purchase=purchase, refund_id="r1", amount="30.00")  # replay: no signal
        refund_record(store=store, purchase=purchase, refund_id="r2", amount="10.00")
    finally:
        purchase_refunded.disconnect(handler)
    assert seen == [("r1", False, True), ("r2", True, True)]


def test_refund_remaining_reverses_what_is_left_once(store, member):
    purchase = seventy_point_purchase(store, member)
    refund_record(store=store, purchase=purchase, refund_id="r1", amount="10.00")
    refund, created = refund_remaining(store=store, purchase=purchase, refund_id="wc-cancelled")
    assert created and refund.amount == Decimal("30.00")
    assert refund_remaining(store=store, purchase=purchase, refund_id="wc-cancelled")[1] is False
    assert refund_remaining(store=store, purchase=purchase, refund_id="wc-refunded") is None
    purchase.refresh_from_db()
    assert purchase.points_reversed == 70


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_identical_posts_create_one_purchase():
    store = Store.objects.create(slug="race", name="Race")
    member = MemberFactory()
    results, errors = [], []
    barrier = threading.Barrier(20)

    def post():
        try:
            barrier.wait()
            results.append(record(store, member, order_id="RACE", total="25.00")[1])
        except Exception as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [False] * 19 + [True]
    assert Purchase.objects.filter(order_id="RACE").count() == 1
    assert member_points_get(member=member)["available"] == 25
    assert ledger_verify() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_never_reverse_more_than_awarded():
    store = Store.objects.create(slug="race", name="Race")
    member = MemberFactory()
    purchase, _ = record(store, member, order_id="R", total="10.00")
    errors = []
    barrier = threading.Barrier(10)

    def refund(n):
        try:
            barrier.wait()
            refund_record(store=store, purchase=Purchase.objects.get(pk=purchase.pk), refund_id=f"r{n}", amount="3.00")
        except RefundExceedsPurchase as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=refund, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    purchase.refresh_from_db()
    assert (purchase.refunded_total, len(errors)) == (Decimal("9.00"), 7)
    assert purchase.points_reversed == 9
    assert member_points_get(member=member)["available"] == 1
    assert ledger_verify() == []


def test_purchase_record_by_loyalty_id_reads_the_member_itself(member):
    from loyalty.services.purchases import MemberNotFound

    store = Store.objects.create(slug="by-id", name="By id")
    purchase, created = purchase_record(
        store=store, loyalty_id=member.loyalty_id, order_id="L1", total="10.00", currency="EUR"
    )
    assert created and purchase.member.pk == member.pk and purchase.points_total == 10
    again, created = purchase_record(store=store, member=member, order_id="L1", total="10.00", currency="EUR")
    assert not created and again.pk == purchase.pk  # the same fingerprint either way
    with pytest.raises(MemberNotFound):
        purchase_record(store=store, loyalty_id="4" * 16, order_id="L2", total="10.00", currency="EUR")
    with pytest.raises(MemberNotFound):
        purchase_record(store=store, loyalty_id="4" * 16, order_id="L2", total="10.00", currency="USD")
