"""Unit tests of the ledger writer (loyalty.services.ledger): one test per behaviour the DESIGN names."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model

from loyalty.models import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    LotAllocation,
    PointLot,
    Store,
    TransactionKind,
)
from loyalty.selectors import member_points_get
from loyalty.services.ledger import (
    AlreadyReturned,
    Audit,
    IdempotencyConflict,
    InsufficientPoints,
    LedgerError,
    points_adjust,
    points_credit,
    points_debit,
    points_expire_member,
    points_release,
    points_return,
    points_reverse,
)
from loyalty.services.program import program_get
from loyalty.services.verify import ledger_verify
from loyalty.signals import points_posted
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def audit(key: str, at: datetime = T0, **kwargs) -> Audit:
    return Audit(reason=f"test {key}", idempotency_key=key, occurred_at=at, **kwargs)


def credit(member, points, key, at=T0, **kwargs):
    kwargs.setdefault("expires_at", None)
    return points_credit(member=member, points=points, audit=audit(key, at), now=kwargs.pop("now", at), **kwargs)


def debit(member, points, key, at=T0, **kwargs):
    return points_debit(member=member, points=points, audit=audit(key, at), **kwargs)


def points(member) -> dict:
    member.refresh_from_db()
    return member_points_get(member=member)


def allocations(txn) -> list[tuple[int, int]]:
    return list(LotAllocation.objects.filter(transaction=txn).order_by("id").values_list("lot_id", "points"))


def expired_lots(member) -> list[tuple[int, int]]:
    """(lot id, points expired from it) of the member's lots that expired: expiry is recorded on the lot."""
    return list(PointLot.objects.filter(member=member, expired__gt=0).order_by("id").values_list("pk", "expired"))


def lot_of(txn) -> PointLot:
    return PointLot.objects.get(transaction=txn)


def snapshot() -> tuple:
    """Everything the writer may touch, to prove a refused posting changed nothing."""
    return (
        LedgerTransaction.objects.count(),
        LedgerEntry.objects.count(),
        LotAllocation.objects.count(),
        sorted(LedgerAccount.objects.values_list("pk", "balance")),
        sorted(PointLot.objects.values_list("pk", "remaining", "expired", "released_at")),
        sorted(LedgerTransaction.objects.values_list("pk", "points", "balance_after")),
    )


def system_balance(kind: str) -> int:
    return sum(LedgerAccount.objects.filter(member=None, kind=kind).values_list("balance", flat=True))  # every shard


@pytest.fixture(autouse=True)
def _sound_ledger_after_each_test(db):
    """Whatever a test did through the services, the ledger is sound afterwards."""
    yield
    assert ledger_verify() == []


# -- credits ---------------------------------------------------------------------------------------


def test_credit_creates_available_lot_entries_and_lifetime(member):
    txn = credit(member, 100, "c1")
    assert txn.kind == TransactionKind.EARN
    assert txn.points == 100 and txn.balance_after == 100
    assert txn.occurred_at == T0 and txn.reason == "test c1" and txn.idempotency_key == "c1"
    entries = dict(txn.entries.values_list("account__kind", "points"))
    assert entries == {AccountKind.AVAILABLE: 100, AccountKind.ISSUED: -100}
    lot = lot_of(txn)
    assert (lot.points, lot.remaining, lot.earned_at, lot.available_at, lot.released_at, lot.expires_at) == (
        100, 100, T0, T0, T0, None,
    )
    assert points(member) == {"available": 100, "pending": 0, "lifetime_earned": 100}
    assert system_balance(AccountKind.ISSUED) == -100


def test_credit_default_expiry_comes_from_program(member):
    program = program_get()
    program.points_valid_days = 30
    program.save()
    txn = points_credit(member=member, points=10, audit=audit("c1"), now=T0)
    assert lot_of(txn).expires_at == day(30)


def test_credit_explicit_no_expiry_overrides_program(member):
    program = program_get()
    program.points_valid_days = 30
    program.save()
    txn = points_credit(member=member, points=10, audit=audit("c1"), now=T0, expires_at=None)
    assert lot_of(txn).expires_at is None


def test_bonus_counts_towards_lifetime_earned(member):
    credit(member, 30, "b1", kind=TransactionKind.BONUS)
    assert points(member)["lifetime_earned"] == 30


@pytest.mark.parametrize("bad", [0, -5])
def test_credit_of_non_positive_points_is_refused(member, bad):
    before = snapshot()
    with pytest.raises(LedgerError):
        credit(member, bad, "c1")
    assert snapshot() == before


def test_pending_credit_waits_for_release(member):
    txn = credit(member, 50, "p1", available_at=day(14))
    assert txn.points == 50 and txn.balance_after == 50
    assert dict(txn.entries.values_list("account__kind", "points")) == {
        AccountKind.PENDING: 50, AccountKind.ISSUED: -50,
    }
    lot = lot_of(txn)
    assert lot.released_at is None and lot.available_at == day(14)
    assert points(member) == {"available": 0, "pending": 50, "lifetime_earned": 50}
    with pytest.raises(InsufficientPoints):
        debit(member, 1, "d1")

    assert points_release(member=member, as_of=day(13)) is None
    release = points_release(member=member, as_of=day(14))
    assert release.kind == TransactionKind.RELEASE
    assert release.points == 0 and release.balance_after == 50 and release.occurred_at == day(14)
    lot.refresh_from_db()
    assert lot.released_at == day(14)
    assert points(member) == {"available": 50, "pending": 0, "lifetime_earned": 50}
    assert points_release(member=member, as_of=day(15)) is None  # nothing left to release
    debit(member, 50, "d2")


def test_release_moves_only_due_lots(member):
    credit(member, 10, "p1", available_at=day(5))
    credit(member, 20, "p2", available_at=day(10))
    points_release(member=member, as_of=day(7))
    assert points(member)["available"] == 10 and points(member)["pending"] == 20


def test_release_marks_fully_reversed_pending_lot_released(member):
    txn = credit(member, 40, "p1", available_at=day(5))
    lot = lot_of(txn)
    points_reverse(member=member, points=40, audit=audit("r1"), lot=lot)
    assert points_release(member=member, as_of=day(6)) is None
    lot.refresh_from_db()
    assert lot.remaining == 0 and lot.released_at == day(6)


# -- debits and FIFO -------------------------------------------------------------------------------


def test_debit_takes_fifo_expiry_first_none_last_then_earned_at_then_id(member):
    never = credit(member, 10, "never", at=day(-30), expires_at=None)
    late = credit(member, 10, "late", at=day(-10), expires_at=day(60))
    early_b = credit(member, 10, "early_b", at=day(-5), expires_at=day(20))
    early_a = credit(member, 10, "early_a", at=day(-20), expires_at=day(20))
    tie_2 = credit(member, 10, "tie_2", at=day(-1), expires_at=day(40))
    tie_1 = credit(member, 10, "tie_1", at=day(-1), expires_at=day(40))
    # expires_at ascending; earned_at breaks the tie at day 20; id breaks the tie at day 40; no expiry last.
    order = [early_a, early_b, tie_2, tie_1, late, never]
    txn = debit(member, 55, "d1")
    assert txn.points == -55 and txn.balance_after == 5
    assert allocations(txn) == [(lot_of(t).pk, 10) for t in order[:5]] + [(lot_of(never).pk, 5)]
    assert lot_of(never).remaining == 5
    assert points(member)["available"] == 5


def test_debit_partial_lot_then_next(member):
    first = credit(member, 30, "c1", at=day(0))
    second = credit(member, 30, "c2", at=day(1))
    d1 = debit(member, 20, "d1")
    d2 = debit(member, 20, "d2")
    assert allocations(d1) == [(lot_of(first).pk, 20)]
    assert allocations(d2) == [(lot_of(first).pk, 10), (lot_of(second).pk, 10)]
    assert dict(d2.entries.values_list("account__kind", "points")) == {
        AccountKind.AVAILABLE: -20, AccountKind.REDEEMED: 20,
    }
    assert system_balance(AccountKind.REDEEMED) == 40


def test_overdraw_raises_and_changes_nothing(member):
    credit(member, 100, "c1")
    debit(member, 40, "d1")
    before = snapshot()
    with pytest.raises(InsufficientPoints) as excinfo:
        debit(member, 61, "d2")
    assert excinfo.value.code == "insufficient_points" and excinfo.value.status_code == 422
    assert "61" in excinfo.value.detail and "60" in excinfo.value.detail
    assert snapshot() == before
    assert not LedgerTransaction.objects.filter(idempotency_key="d2").exists()
    debit(member, 60, "d2")  # the key is still free after a refused attempt
    assert points(member)["available"] == 0


@pytest.mark.parametrize("bad", [0, -1])
def test_debit_of_non_positive_points_is_refused(member, bad):
    credit(member, 10, "c1")
    before = snapshot()
    with pytest.raises(LedgerError):
        debit(member, bad, "d1")
    assert snapshot() == before


def test_debit_to_another_system_account(member):
    credit(member, 10, "c1")
    txn = debit(member, 4, "d1", kind=TransactionKind.TRANSFER, target=AccountKind.ADJUSTMENTS)
    assert txn.kind == TransactionKind.TRANSFER
    assert system_balance(AccountKind.ADJUSTMENTS) == 4


# -- idempotency -----------------------------------------------------------------------------------


def test_credit_replay_returns_same_transaction(member):
    first = credit(member, 100, "same")
    before = snapshot()
    again = credit(member, 100, "same")
    assert again.pk == first.pk
    assert snapshot() == before


def test_debit_replay_returns_same_transaction_even_when_balance_is_now_too_low(member):
    credit(member, 100, "c1")
    first = debit(member, 100, "d1")
    before = snapshot()
    assert debit(member, 100, "d1").pk == first.pk
    assert snapshot() == before


def test_reverse_replay_returns_same_transaction(member):
    credit(member, 100, "c1")
    first = points_reverse(member=member, points=30, audit=audit("r1"))
    before = snapshot()
    assert points_reverse(member=member, points=30, audit=audit("r1")).pk == first.pk
    assert snapshot() == before


def test_key_reused_for_another_member_conflicts(member):
    other = MemberFactory()
    credit(member, 100, "shared")
    before = snapshot()
    with pytest.raises(IdempotencyConflict) as excinfo:
        credit(other, 100, "shared")
    assert excinfo.value.status_code == 409 and excinfo.value.code == "idempotency_conflict"
    assert snapshot() == before


@pytest.mark.parametrize(
    "second",
    [
        lambda m: debit(m, 10, "shared"),
        lambda m: credit(m, 10, "shared", kind=TransactionKind.BONUS),
        lambda m: points_reverse(member=m, points=10, audit=audit("shared")),
        lambda m: points_adjust(member=m, points=10, reason="fix", idempotency_key="shared"),
    ],
    ids=["debit", "bonus", "reverse", "adjust"],
)
def test_key_reused_for_another_kind_conflicts(member, second):
    credit(member, 100, "shared")
    before = snapshot()
    with pytest.raises(IdempotencyConflict):
        second(member)
    assert snapshot() == before


def test_postings_without_key_get_unique_keys(member):
    a = points_credit(member=member, points=1, audit=Audit(reason="x"))
    b = points_credit(member=member, points=1, audit=Audit(reason="x"))
    assert a.pk != b.pk and a.idempotency_key != b.idempotency_key
    assert a.idempotency_key.startswith("earn:")


# -- reversals and debt ----------------------------------------------------------------------------


def test_reverse_takes_preferred_lot_first_then_fifo(member):
    old = credit(member, 50, "c1", at=day(0))
    own = credit(member, 30, "c2", at=day(1))
    txn = points_reverse(member=member, points=40, audit=audit("r1"), lot=lot_of(own))
    assert txn.kind == TransactionKind.REVERSE and txn.points == -40 and txn.balance_after == 40
    assert allocations(txn) == [(lot_of(own).pk, 30), (lot_of(old).pk, 10)]
    assert points(member) == {"available": 40, "pending": 0, "lifetime_earned": 40}
    assert system_balance(AccountKind.ISSUED) == -40


def test_reverse_without_lot_is_fifo(member):
    first = credit(member, 50, "c1", at=day(0))
    credit(member, 50, "c2", at=day(1))
    txn = points_reverse(member=member, points=20, audit=audit("r1"))
    assert allocations(txn) == [(lot_of(first).pk, 20)]


def test_reverse_of_pending_lot_takes_pending_points_then_available(member):
    available = credit(member, 100, "c1")
    pending = credit(member, 30, "p1", available_at=day(10))
    txn = points_reverse(member=member, points=50, audit=audit("r1"), lot=lot_of(pending))
    assert dict(txn.entries.values_list("account__kind", "points")) == {
        AccountKind.PENDING: -30, AccountKind.AVAILABLE: -20, AccountKind.ISSUED: 50,
    }
    assert allocations(txn) == [(lot_of(pending).pk, 30), (lot_of(available).pk, 20)]
    assert points(member) == {"available": 80, "pending": 0, "lifetime_earned": 80}


def test_reverse_beyond_balance_creates_debt_paid_first_by_later_credit(member):
    credit(member, 100, "c1")
    debit(member, 80, "d1")
    txn = points_reverse(member=member, points=100, audit=audit("r1"))
    assert txn.points == -100 and txn.balance_after == -80
    assert points(member) == {"available": -80, "pending": 0, "lifetime_earned": 0}
    assert not PointLot.objects.filter(member=member, remaining__gt=0).exists()
    with pytest.raises(InsufficientPoints) as excinfo:
        debit(member, 1, "d2")
    assert "0 available" in excinfo.value.detail

    small = credit(member, 30, "c2")  # pays 30 of the debt, nothing left to spend
    assert small.balance_after == -50
    assert lot_of(small).remaining == 0
    assert allocations(small) == [(lot_of(small).pk, 30)]
    big = credit(member, 70, "c3")  # pays the last 50, 20 left in the lot
    assert big.balance_after == 20
    assert lot_of(big).remaining == 20
    assert allocations(big) == [(lot_of(big).pk, 50)]
    assert points(member) == {"available": 20, "pending": 0, "lifetime_earned": 100}


def test_debt_is_paid_by_release_not_by_pending_credit(member):
    credit(member, 10, "c1")
    points_reverse(member=member, points=60, audit=audit("r1"))
    pending = credit(member, 100, "p1", available_at=day(7))
    assert points(member) == {"available": -50, "pending": 100, "lifetime_earned": 50}
    assert lot_of(pending).remaining == 100
    release = points_release(member=member, as_of=day(7))
    assert release.balance_after == 50
    assert allocations(release) == [(lot_of(pending).pk, 50)]
    assert lot_of(pending).remaining == 50
    assert points(member) == {"available": 50, "pending": 0, "lifetime_earned": 50}


def test_reverse_lot_of_another_member_is_refused(member):
    other = MemberFactory()
    theirs = credit(other, 10, "c1")
    credit(member, 10, "c2")
    before = snapshot()
    with pytest.raises(LedgerError):
        points_reverse(member=member, points=5, audit=audit("r1"), lot=lot_of(theirs))
    assert snapshot() == before


def test_reverse_of_non_positive_points_is_refused(member):
    with pytest.raises(LedgerError):
        points_reverse(member=member, points=0, audit=audit("r1"))


# -- returns (cancelled debits) --------------------------------------------------------------------


def test_return_gives_points_back_to_the_same_lots(member):
    a = credit(member, 50, "c1", at=day(0))
    b = credit(member, 50, "c2", at=day(1))
    spend = debit(member, 70, "d1")
    later = debit(member, 10, "d2")
    back = points_return(original=spend, audit=audit("ret1", at=day(2)))
    assert back.kind == TransactionKind.CANCEL_REDEMPTION
    assert back.points == 70 and back.balance_after == 90
    assert back.metadata["returns"] == spend.pk
    assert sorted(allocations(back)) == sorted([(lot_of(a).pk, -50), (lot_of(b).pk, -20)])
    assert (lot_of(a).remaining, lot_of(b).remaining) == (50, 40)  # b still lacks the 10 of the later debit
    assert allocations(later) == [(lot_of(b).pk, 10)]
    assert system_balance(AccountKind.REDEEMED) == 10
    assert points(member) == {"available": 90, "pending": 0, "lifetime_earned": 100}


def test_return_twice_is_refused_and_replay_returns_same(member):
    credit(member, 50, "c1")
    spend = debit(member, 20, "d1")
    first = points_return(original=spend, audit=Audit(reason="cancel"))
    assert first.idempotency_key == f"return:{spend.pk}"
    assert points_return(original=spend, audit=Audit(reason="cancel")).pk == first.pk
    before = snapshot()
    with pytest.raises(AlreadyReturned) as excinfo:
        points_return(original=spend, audit=Audit(reason="cancel", idempotency_key="other-key"))
    assert excinfo.value.status_code == 409
    assert snapshot() == before


def test_return_of_adjustment_debit_goes_back_to_adjustments(member):
    credit(member, 50, "c1")
    adjust = points_adjust(member=member, points=-20, reason="fix")
    back = points_return(original=adjust, audit=Audit(reason="undo"))
    assert dict(back.entries.values_list("account__kind", "points")) == {
        AccountKind.AVAILABLE: 20, AccountKind.ADJUSTMENTS: -20,
    }
    assert points(member)["available"] == 50


@pytest.mark.parametrize("kind", ["earn", "reverse", "release", "expire"])
def test_return_of_something_that_is_not_a_debit_is_refused(member, kind):
    program = program_get()
    program.points_valid_days = 5
    program.save()
    earn = points_credit(member=member, points=50, audit=audit("c1"), now=T0)
    pending = credit(member, 10, "p1", available_at=day(1))
    originals = {
        "earn": lambda: earn,
        "reverse": lambda: points_reverse(member=member, points=80, audit=audit("r1")),  # 30 of it is debt
        "release": lambda: points_release(member=member, as_of=day(1)),
        "expire": lambda: points_expire_member(member=member, as_of=day(5)),
    }
    original = originals[kind]()
    assert original is not None and lot_of(pending)
    before = snapshot()
    with pytest.raises(LedgerError):
        points_return(original=original, audit=Audit(reason="undo"))
    assert snapshot() == before


def test_return_pays_debt_first(member):
    a = credit(member, 100, "c1")
    spend = debit(member, 100, "d1")
    points_reverse(member=member, points=30, audit=audit("r1"))
    assert points(member)["available"] == -30
    back = points_return(original=spend, audit=Audit(reason="cancel"))
    assert back.balance_after == 70
    assert sorted(allocations(back)) == [(lot_of(a).pk, -100), (lot_of(a).pk, 30)]
    assert lot_of(a).remaining == 70
    assert points(member)["available"] == 70


def test_return_to_lot_whose_expiry_passed_expires_at_next_run(member):
    lot = lot_of(credit(member, 100, "c1", expires_at=day(30)))
    spend = debit(member, 60, "d1", at=day(10))
    assert points_expire_member(member=member, as_of=day(31)).points == -40
    assert points(member)["available"] == 0
    assert expired_lots(member) == [(lot.pk, 40)]
    points_return(original=spend, audit=audit("ret1", at=day(40)))
    lot.refresh_from_db()
    assert lot.remaining == 60 and lot.expires_at == day(30)  # keeps its original expiry
    assert points(member)["available"] == 60
    expiry = points_expire_member(member=member, as_of=day(41))
    assert expiry.points == -60 and expiry.metadata == {"expired_lots": 1}
    assert expired_lots(member) == [(lot.pk, 100)]  # 40 at the first expiry, 60 at the second
    assert allocations(expiry) == []
    assert points(member)["available"] == 0
    assert system_balance(AccountKind.EXPIRED) == 100


# -- expiry ----------------------------------------------------------------------------------------


def test_worked_expiry_example_from_design(member):
    """30-day validity; earn 100 on day 0 and 200 on day 14; spend 180 on day 20; day 30 nothing expires;
    day 44 120 expire."""
    program = program_get()
    program.points_valid_days = 30
    program.save()
    first = points_credit(member=member, points=100, audit=audit("e1", day(0)), now=day(0))
    second = points_credit(member=member, points=200, audit=audit("e2", day(14)), now=day(14))
    assert lot_of(first).expires_at == day(30) and lot_of(second).expires_at == day(44)
    spend = debit(member, 180, "spend", at=day(20))
    assert allocations(spend) == [(lot_of(first).pk, 100), (lot_of(second).pk, 80)]

    assert points_expire_member(member=member, as_of=day(30)) is None
    assert points_expire_member(member=member, as_of=day(43)) is None
    assert points(member)["available"] == 120

    expiry = points_expire_member(member=member, as_of=day(44))
    assert expiry.kind == TransactionKind.EXPIRE and expiry.points == -120 and expiry.balance_after == 0
    assert expiry.occurred_at == day(44)
    assert expired_lots(member) == [(lot_of(second).pk, 120)]
    assert (lot_of(second).remaining, lot_of(first).expired) == (0, 0)
    assert expiry.metadata == {"expired_lots": 1} and allocations(expiry) == []  # recorded on the lot
    assert dict(expiry.entries.values_list("account__kind", "points")) == {
        AccountKind.AVAILABLE: -120, AccountKind.EXPIRED: 120,
    }
    assert points(member) == {"available": 0, "pending": 0, "lifetime_earned": 300}
    assert points_expire_member(member=member, as_of=day(44)) is None  # a lot expires at most once
    assert points_expire_member(member=member, as_of=day(400)) is None


def test_expiry_skips_pending_and_never_expiring_lots(member):
    never = credit(member, 10, "c1", expires_at=None)
    pending = credit(member, 20, "p1", available_at=day(50), expires_at=day(5))
    due = credit(member, 30, "c2", expires_at=day(5))
    expiry = points_expire_member(member=member, as_of=day(10))
    assert expiry.points == -30 and expired_lots(member) == [(lot_of(due).pk, 30)]
    assert (lot_of(never).remaining, lot_of(pending).remaining) == (10, 20)
    # released later with its expiry already passed: gone at the next run
    points_release(member=member, as_of=day(50))
    assert points_expire_member(member=member, as_of=day(50)).points == -20
    assert points(member) == {"available": 10, "pending": 0, "lifetime_earned": 60}


def test_expiry_of_several_lots_is_one_transaction(member):
    other = MemberFactory()
    a = credit(member, 10, "c1", expires_at=day(1))
    b = credit(member, 20, "c2", expires_at=day(2))
    credit(member, 40, "c3", expires_at=day(9))
    credit(other, 5, "c4", expires_at=day(1))
    debit(member, 5, "d1")
    expiry = points_expire_member(member=member, as_of=day(3))
    assert expiry.points == -25 and expiry.metadata == {"expired_lots": 2}
    assert expired_lots(member) == [(lot_of(a).pk, 5), (lot_of(b).pk, 20)]
    assert (lot_of(a).remaining, lot_of(b).remaining) == (0, 0)
    assert points(member)["available"] == 40 and points(other)["available"] == 5


# -- manual adjustments ----------------------------------------------------------------------------


def test_adjust_credit_is_a_new_lot_from_adjustments_without_lifetime(member):
    staff = get_user_model().objects.create_user(email="staff@example.com", password="x")
    store = Store.objects.create(slug="s1", name="Shop")
    txn = points_adjust(member=member, points=25, reason="  goodwill  ", staff_user=staff, store=store)
    assert txn.kind == TransactionKind.ADJUST and txn.points == 25 and txn.balance_after == 25
    assert txn.reason == "goodwill" and txn.staff_user == staff and txn.store == store
    assert dict(txn.entries.values_list("account__kind", "points")) == {
        AccountKind.AVAILABLE: 25, AccountKind.ADJUSTMENTS: -25,
    }
    assert lot_of(txn).remaining == 25
    assert points(member) == {"available": 25, "pending": 0, "lifetime_earned": 0}


def test_adjust_debit_is_fifo_and_never_overdraws(member):
    first = credit(member, 10, "c1", at=day(0))
    credit(member, 10, "c2", at=day(1))
    txn = points_adjust(member=member, points=-15, reason="correction", idempotency_key="adj1")
    assert txn.kind == TransactionKind.ADJUST and txn.points == -15 and txn.balance_after == 5
    assert allocations(txn)[0] == (lot_of(first).pk, 10)
    assert system_balance(AccountKind.ADJUSTMENTS) == 15
    assert points_adjust(member=member, points=-15, reason="correction", idempotency_key="adj1").pk == txn.pk
    before = snapshot()
    with pytest.raises(InsufficientPoints):
        points_adjust(member=member, points=-6, reason="too much")
    assert snapshot() == before


@pytest.mark.parametrize(("amount", "reason"), [(0, "nothing"), (10, ""), (10, "   "), (-10, "")])
def test_adjust_needs_non_zero_points_and_a_reason(member, amount, reason):
    credit(member, 50, "c1")
    before = snapshot()
    with pytest.raises(LedgerError):
        points_adjust(member=member, points=amount, reason=reason)
    assert snapshot() == before


# -- transaction figures and signal ----------------------------------------------------------------


def test_points_and_balance_after_follow_every_posting(member):
    steps = [
        (lambda: credit(member, 100, "s1"), 100, 100),
        (lambda: credit(member, 40, "s2", available_at=day(3)), 40, 140),
        (lambda: debit(member, 30, "s3"), -30, 110),
        (lambda: points_reverse(member=member, points=90, audit=audit("s4")), -90, 20),
        (lambda: points_release(member=member, as_of=day(3)), 0, 20),
        (lambda: points_adjust(member=member, points=-5, reason="fix"), -5, 15),
    ]
    for run, delta, after in steps:
        txn = run()
        assert (txn.points, txn.balance_after) == (delta, after)
        txn.refresh_from_db()
        assert (txn.points, txn.balance_after) == (delta, after)
    assert points(member) == {"available": 15, "pending": 0, "lifetime_earned": 50}


def test_points_posted_is_sent_after_commit(member, django_capture_on_commit_callbacks):
    received = []

    def handler(sender, transaction, **kwargs):
        received.append(transaction.pk)

    points_posted.connect(handler)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            txn = credit(member, 10, "c1")
        assert received == []
        for callback in callbacks:
            callback()
        assert received == [txn.pk]
    finally:
        points_posted.disconnect(handler)


def test_member_without_accounts_is_refused(member):
    LedgerAccount.objects.filter(member=member).delete()
    with pytest.raises(LedgerError):
        credit(member, 10, "c1")
