"""ledger_verify() and the verify_ledger command: silent on a sound ledger, loud on every kind of drift.

Each corruption is written around the posting service, the way a bad migration, a hand-written SQL fix or
a bug elsewhere would do it.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import F

from loyalty.models import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    LotAllocation,
    PointLot,
    TransactionKind,
)
from loyalty.services.ledger import (
    Audit,
    points_credit,
    points_debit,
    points_expire_member,
    points_release,
    points_return,
    points_reverse,
)
from loyalty.services.verify import ledger_verify
from members.models import Member
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture
def busy_member(member):
    """A member whose history uses every posting: credits, pending, debit, return, reversal, expiry."""
    other = MemberFactory()

    def audit(key, days=0):
        return Audit(reason=key, idempotency_key=key, occurred_at=T0 + timedelta(days=days))

    points_credit(member=member, points=100, audit=audit("c1"), now=T0, expires_at=T0 + timedelta(days=10))
    points_credit(member=member, points=50, audit=audit("c2"), now=T0, expires_at=None)
    points_credit(member=member, points=30, audit=audit("p1"), now=T0, available_at=T0 + timedelta(days=3))
    spend = points_debit(member=member, points=70, audit=audit("d1", 1))
    points_return(original=spend, audit=audit("ret1", 2))
    points_debit(member=member, points=20, audit=audit("d2", 2))
    points_release(member=member, as_of=T0 + timedelta(days=3))
    points_expire_member(member=member, as_of=T0 + timedelta(days=10))
    points_credit(member=other, points=10, audit=audit("c3"), now=T0)
    points_reverse(member=other, points=25, audit=audit("r1"))  # debt of 15
    return member


def available(member) -> LedgerAccount:
    return LedgerAccount.objects.get(member=member, kind=AccountKind.AVAILABLE)


def assert_reported(fragment: str) -> None:
    problems = ledger_verify()
    assert any(fragment in problem for problem in problems), problems
    with pytest.raises(CommandError, match="ledger invariant"):
        call_command("verify_ledger")


def test_sound_ledger_passes(busy_member, capsys):
    assert ledger_verify() == []
    call_command("verify_ledger")
    assert "ledger ok" in capsys.readouterr().out


def test_empty_ledger_passes(db):
    assert ledger_verify() == []
    call_command("verify_ledger")


def test_cached_balance_drift_is_reported(busy_member):
    account = available(busy_member)
    LedgerAccount.objects.filter(pk=account.pk).update(balance=F("balance") + 5)
    assert_reported(f"account {account.pk} ({busy_member.pk}:available) balance")


def test_system_account_drift_is_reported(busy_member):
    account = LedgerAccount.objects.filter(member=None, kind=AccountKind.ISSUED).exclude(balance=0).first()
    LedgerAccount.objects.filter(pk=account.pk).update(balance=0)
    assert_reported(f"account {account.pk} (system:issued)")


def test_pending_balance_drift_is_reported(busy_member):
    points_credit(member=busy_member, points=40, audit=Audit(reason="p"), now=T0, available_at=T0 + timedelta(days=9))
    LedgerAccount.objects.filter(member=busy_member, kind=AccountKind.PENDING).update(balance=F("balance") - 1)
    assert_reported(f"member {busy_member.pk} pending 39 != remaining of pending lots 40")


def test_lot_remaining_drift_is_reported(busy_member):
    lot = PointLot.objects.filter(member=busy_member, remaining__gt=0).first()
    PointLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - 1)
    assert_reported(f"lot {lot.pk} remaining {lot.remaining - 1} != points")
    assert any(f"member {busy_member.pk} available" in problem for problem in ledger_verify())


def test_lot_and_balance_drifting_together_is_still_caught_by_allocations(busy_member):
    """A points-out-of-thin-air fix: lot and balance both raised, yet no allocation explains it."""
    lot = PointLot.objects.filter(member=busy_member, remaining__lt=F("points")).first()
    PointLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") + 1)
    LedgerAccount.objects.filter(pk=available(busy_member).pk).update(balance=F("balance") + 1)
    assert_reported(f"lot {lot.pk} remaining")


def test_lifetime_earned_drift_is_reported(busy_member):
    Member.objects.filter(pk=busy_member.pk).update(lifetime_earned=F("lifetime_earned") + 100)
    assert_reported(f"member {busy_member.pk} lifetime_earned")


def test_unbalanced_transaction_is_reported(busy_member):
    txn = LedgerTransaction.objects.filter(member=busy_member, kind=TransactionKind.EARN).first()
    # On PostgreSQL the deferred trigger would reject this at COMMIT (see test_concurrency); before that,
    # and on every other database, only verify_ledger sees it. Rolled back so the test's end stays clean.
    savepoint = transaction.savepoint()
    LedgerEntry.objects.create(transaction=txn, account=available(busy_member), points=3)
    assert_reported(f"transaction {txn.pk} sums to 3, not 0")
    transaction.savepoint_rollback(savepoint)


def test_transaction_with_a_single_entry_is_reported(busy_member):
    txn = LedgerTransaction.objects.create(
        kind=TransactionKind.ADJUST, member=busy_member, reason="x", occurred_at=T0, idempotency_key="lonely"
    )
    assert_reported(f"transaction {txn.pk} has 0 entries")


def test_wrong_points_on_transaction_is_reported(busy_member):
    txn = LedgerTransaction.objects.filter(member=busy_member, kind=TransactionKind.REDEEM).first()
    LedgerTransaction.objects.filter(pk=txn.pk).update(points=F("points") + 1)
    assert_reported(f"transaction {txn.pk} says the member's points changed by")


def test_released_lot_points_while_in_debt_is_reported(busy_member):
    debtor = LedgerAccount.objects.get(kind=AccountKind.AVAILABLE, balance__lt=0)
    lot = PointLot.objects.get(member_id=debtor.member_id)
    PointLot.objects.filter(pk=lot.pk).update(remaining=1)
    LotAllocation.objects.create(transaction=lot.transaction, lot=lot, points=-1)  # lot stays self-consistent
    assert_reported(f"member {debtor.member_id} owes 15 points yet released lots hold 1")


def test_allocation_from_another_members_lot_is_reported(busy_member):
    other = MemberFactory()
    points_credit(member=other, points=10, audit=Audit(reason="other", idempotency_key="verify-other"))
    allocation = LotAllocation.objects.filter(lot__member=busy_member).first()
    LotAllocation.objects.filter(pk=allocation.pk).update(lot=PointLot.objects.get(member=other))
    assert any("of another member" in problem for problem in ledger_verify())


def expired_lot(member) -> PointLot:
    return PointLot.objects.get(member=member, expired__gt=0)


def test_expired_points_moved_off_the_lot_are_reported(busy_member):
    """Expired points given back to a lot by hand (balance too) match no transaction."""
    lot = expired_lot(busy_member)
    PointLot.objects.filter(pk=lot.pk).update(expired=F("expired") - 5, remaining=F("remaining") + 5)
    LedgerAccount.objects.filter(pk=available(busy_member).pk).update(balance=F("balance") + 5)
    assert_reported(f"member {busy_member.pk}: expire transactions took {lot.expired} points, the lots record")


def test_expiry_on_a_pending_lot_is_reported(busy_member):
    lot = expired_lot(busy_member)
    PointLot.objects.filter(pk=lot.pk).update(released_at=None)
    assert_reported(f"lot {lot.pk} is still pending yet {lot.expired} of its points expired")


def test_expiries_recorded_as_allocations_before_migration_0008_still_verify(busy_member):
    """Before the `expired` column, an expiry took its lots' points with LotAllocations: still sound."""
    lot = expired_lot(busy_member)
    expiry = LedgerTransaction.objects.get(member=busy_member, kind=TransactionKind.EXPIRE)
    LotAllocation.objects.create(transaction=expiry, lot=lot, points=lot.expired)
    PointLot.objects.filter(pk=lot.pk).update(expired=0)
    assert ledger_verify() == []


def test_every_problem_is_listed_by_the_command(busy_member, capsys):
    LedgerAccount.objects.filter(pk=available(busy_member).pk).update(balance=F("balance") + 5)
    Member.objects.filter(pk=busy_member.pk).update(lifetime_earned=0)
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_ledger")
    assert str(excinfo.value) == f"{len(ledger_verify())} ledger invariant(s) broken"
    err = capsys.readouterr().err
    assert err.count("BROKEN ") == len(ledger_verify()) >= 3
    assert "lifetime_earned" in err
