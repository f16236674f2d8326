"""PostgreSQL only: the ledger under real concurrency, and the database triggers that guard it.

Threads each use their own database connection (closed at the end) and start together at a Barrier.
The tests commit for real (transaction=True), so the deferred balance trigger fires at COMMIT.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction

from loyalty.models import AccountKind, LedgerAccount, LedgerEntry, LedgerTransaction, LotAllocation, TransactionKind
from loyalty.selectors import member_points_get
from loyalty.services.ledger import (
    AlreadyReturned,
    Audit,
    IdempotencyConflict,
    InsufficientPoints,
    points_credit,
    points_debit,
    points_expire_member,
    points_return,
    system_shard,
)
from loyalty.services.verify import ledger_verify
from tests.concurrency import held_open, lock_wait_limit, run_together
from tests.factories import MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 20
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def available(member) -> int:
    return member_points_get(member=member)["available"]


def test_concurrent_debits_never_overdraw():
    member = MemberFactory()
    for i, amount in enumerate([400, 300, 300]):
        points_credit(member=member, points=amount, audit=Audit(reason="seed", idempotency_key=f"seed-{i}"))
    amounts = [40 + 5 * i for i in range(THREADS)]  # 40..135, 1750 in all: more than the 1000 there are

    results = run_together(
        lambda i: points_debit(member=member, points=amounts[i], audit=Audit(reason="spend", idempotency_key=f"d{i}"))
    )

    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, InsufficientPoints)]
    assert unexpected == []
    succeeded = [amounts[i] for i, r in enumerate(results) if isinstance(r, LedgerTransaction)]
    refused = [r for r in results if isinstance(r, InsufficientPoints)]
    assert succeeded and refused, "the test must make some debits fail"
    balance = available(member)
    assert balance >= 0
    assert 1000 - balance == sum(succeeded)
    assert balance < min(amounts[i] for i, r in enumerate(results) if isinstance(r, InsufficientPoints))
    assert LedgerTransaction.objects.filter(kind=TransactionKind.REDEEM).count() == len(succeeded)
    assert sum(LotAllocation.objects.filter(transaction__kind=TransactionKind.REDEEM).values_list(
        "points", flat=True)) == sum(succeeded)
    shards = LedgerAccount.objects.filter(member=None, kind=AccountKind.REDEEMED)
    assert sum(shards.values_list("balance", flat=True)) == sum(succeeded)
    assert ledger_verify() == []


def test_concurrent_credits_with_one_key_post_once():
    member = MemberFactory()

    results = run_together(
        lambda i: points_credit(member=member, points=50, audit=Audit(reason="earn", idempotency_key="same-key"))
    )

    assert not [r for r in results if isinstance(r, Exception)]
    assert len({txn.pk for txn in results}) == 1
    assert LedgerTransaction.objects.filter(idempotency_key="same-key").count() == 1
    assert member_points_get(member=member)["available"] == 50
    member.refresh_from_db()
    assert member.lifetime_earned == 50
    assert member.lots.count() == 1
    assert ledger_verify() == []


def test_concurrent_credits_with_one_key_for_two_members_post_once():
    members = [MemberFactory(), MemberFactory()]

    results = run_together(
        lambda i: points_credit(
            member=members[i % 2], points=50, audit=Audit(reason="earn", idempotency_key="contested")
        )
    )

    txns = [r for r in results if isinstance(r, LedgerTransaction)]
    conflicts = [r for r in results if isinstance(r, IdempotencyConflict)]
    assert len(txns) + len(conflicts) == THREADS
    assert len({txn.pk for txn in txns}) == 1
    winner = txns[0].member_id
    assert all(results[i].member_id == winner for i in range(THREADS) if members[i % 2].pk == winner)
    assert LedgerTransaction.objects.filter(idempotency_key="contested").count() == 1
    assert sorted(available(m) for m in members) == [0, 50]
    assert ledger_verify() == []


def test_concurrent_expiry_expires_a_lot_once():
    member = MemberFactory()
    points_credit(member=member, points=80, audit=Audit(reason="e", occurred_at=T0), now=T0,
                  expires_at=T0 + timedelta(days=1))

    results = run_together(lambda i: points_expire_member(member=member, as_of=T0 + timedelta(days=2)), n=6)

    assert not [r for r in results if isinstance(r, Exception)]
    assert len([r for r in results if r is not None]) == 1
    assert LedgerTransaction.objects.filter(kind=TransactionKind.EXPIRE).count() == 1
    assert available(member) == 0
    assert ledger_verify() == []


def test_concurrent_returns_of_one_debit_give_back_once():
    member = MemberFactory()
    points_credit(member=member, points=100, audit=Audit(reason="e"))
    spend = points_debit(member=member, points=60, audit=Audit(reason="spend"))

    results = run_together(
        lambda i: points_return(original=spend, audit=Audit(reason="cancel", idempotency_key=f"ret-{i}")), n=6
    )

    assert len([r for r in results if isinstance(r, LedgerTransaction)]) == 1
    assert len([r for r in results if isinstance(r, AlreadyReturned)]) == 5
    assert available(member) == 100
    assert ledger_verify() == []


def _raw_transaction(member, key: str, legs: list[tuple[LedgerAccount, int]]) -> LedgerTransaction:
    txn = LedgerTransaction.objects.create(
        kind=TransactionKind.ADJUST, member=member, reason="written around the service", occurred_at=T0,
        idempotency_key=key,
    )
    LedgerEntry.objects.bulk_create([LedgerEntry(transaction=txn, account=a, points=p) for a, p in legs])
    return txn


def test_unbalanced_transaction_is_rejected_at_commit():
    member = MemberFactory()
    account = LedgerAccount.objects.get(member=member, kind=AccountKind.AVAILABLE)
    issued, _created = LedgerAccount.objects.get_or_create(member=None, kind=AccountKind.ISSUED, shard=0)
    reached_commit = False
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        _raw_transaction(member, "unbalanced", [(account, 5), (issued, -3)])
        reached_commit = True  # deferred: the inserts themselves pass, the COMMIT fails
    assert reached_commit
    assert not LedgerTransaction.objects.filter(idempotency_key="unbalanced").exists()
    assert not LedgerEntry.objects.exists()


def test_balanced_transaction_written_around_the_service_commits():
    """The trigger checks the sum, nothing else: the control case for the test above."""
    member = MemberFactory()
    account = LedgerAccount.objects.get(member=member, kind=AccountKind.AVAILABLE)
    issued, _created = LedgerAccount.objects.get_or_create(member=None, kind=AccountKind.ISSUED, shard=0)
    with transaction.atomic():
        _raw_transaction(member, "balanced", [(account, 5), (issued, -5)])
    assert LedgerEntry.objects.filter(transaction__idempotency_key="balanced").count() == 2


def test_ledger_entries_cannot_be_updated_or_deleted():
    member = MemberFactory()
    txn = points_credit(member=member, points=10, audit=Audit(reason="e"))
    entry = txn.entries.first()

    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(points=999)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        entry.points = 1
        entry.save()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(transaction=txn).delete()

    assert sorted(txn.entries.values_list("points", flat=True)) == [-10, 10]
    assert ledger_verify() == []


def test_purchases_and_bonus_credits_of_one_member_at_once_do_not_deadlock():
    """Every writer locks the member row before the accounts (the purchase path locks it first, and a
    credit updates it): purchases and bonus credits of one member running at once all succeed."""
    from decimal import Decimal

    from loyalty.models import Store, Tier
    from loyalty.services.program import program_get
    from loyalty.services.purchases import purchase_record

    member = MemberFactory()
    store = Store.objects.create(slug="concurrent", name="Concurrent")
    Tier.objects.create(code="silver", name="Silver", rank=1, threshold=10**6)  # the purchases check tiers

    def work(i: int):
        if i % 2:
            return purchase_record(store=store, member=member, order_id=f"o{i}", total=Decimal("10.00"),
                                   currency=program_get().currency)
        return points_credit(member=member, points=5, kind=TransactionKind.BONUS,
                             audit=Audit(reason="bonus", idempotency_key=f"bonus-{i}"))

    results = run_together(work)
    assert [r for r in results if isinstance(r, Exception)] == []
    assert available(member) == (THREADS // 2) * 10 + (THREADS // 2) * 5
    assert ledger_verify() == []


def test_postings_of_members_on_other_shards_do_not_wait_for_each_other():
    """The system accounts are sharded: a posting held open for one member does not hold up a posting for a
    member on another shard (with one system account per kind, the second waited for the first's commit)."""
    first = MemberFactory()
    second = next(m for m in (MemberFactory() for _ in range(50)) if system_shard(m.pk) != system_shard(first.pk))
    hold = lambda: points_credit(member=first, points=10, audit=Audit(reason="held open"))  # noqa: E731
    with held_open(hold), transaction.atomic():
        lock_wait_limit(3)
        points_credit(member=second, points=5, audit=Audit(reason="not held up"))
    assert (available(first), available(second)) == (10, 5)
    assert ledger_verify() == []
