"""Stateful property test of the ledger writer against a small Python model of balances and lots.

Hypothesis drives random sequences of credits (some pending, some expiring), debits, reversals, returns,
releases and expiries for two members while a time cursor moves forward. Each lot is modelled with its
`remaining` and its `expired` points (expiry is recorded on the lot, not as allocations). After every step the database
must agree with the model, `ledger_verify()` must find nothing, and every posting must have taken its
points from exactly the lots FIFO says (expires_at, none last; then earned_at; then id).
Each example runs inside its own savepoint that the teardown rolls back, so examples never see each other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from loyalty.models import LedgerAccount, LedgerEntry, LedgerTransaction, LotAllocation, PointLot, TransactionKind
from loyalty.selectors import member_points_get
from loyalty.services.ledger import (
    Audit,
    IdempotencyConflict,
    InsufficientPoints,
    points_adjust,
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

T0 = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
MEMBERS = 2


@dataclass
class Lot:
    id: int
    member: int
    points: int
    remaining: int
    expired: int
    earned_at: datetime
    available_at: datetime
    expires_at: datetime | None
    released: bool

    def fifo_key(self):
        return (self.expires_at is None, self.expires_at or T0, self.earned_at, self.id)


@dataclass
class Debit:
    txn: LedgerTransaction
    member: int
    points: int
    taken: dict[int, int]  # lot id -> points taken


def snapshot() -> tuple:
    return (
        LedgerTransaction.objects.count(),
        LedgerEntry.objects.count(),
        LotAllocation.objects.count(),
        sorted(LedgerAccount.objects.values_list("pk", "balance")),
        sorted(PointLot.objects.values_list("pk", "remaining", "expired", "released_at")),
        sorted(Member.objects.values_list("pk", "lifetime_earned")),
    )


def allocations_of(txn) -> list[tuple[int, int]]:
    return sorted(LotAllocation.objects.filter(transaction=txn).values_list("lot_id", "points"))


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.now = T0
        self.members = [MemberFactory() for _ in range(MEMBERS)]
        self.available = [0] * MEMBERS
        self.pending = [0] * MEMBERS
        self.lifetime = [0] * MEMBERS
        self.lots: dict[int, Lot] = {}
        self.debits: list[Debit] = []  # not yet returned
        self.keys: list[tuple[str, int, LedgerTransaction]] = []  # (key, member index, transaction)
        self.serial = 0

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # -- model helpers ---------------------------------------------------------------------------

    def key(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def audit(self, prefix: str) -> Audit:
        return Audit(reason=prefix, idempotency_key=self.key(prefix), occurred_at=self.now)

    def fifo(self, index: int) -> list[Lot]:
        pk = self.members[index].pk
        lots = [lot for lot in self.lots.values() if lot.member == pk and lot.released and lot.remaining > 0]
        return sorted(lots, key=Lot.fifo_key)

    @staticmethod
    def take(lots: list[Lot], points: int) -> list[tuple[int, int]]:
        taken = []
        for lot in lots:
            if points <= 0:
                break
            amount = min(lot.remaining, points)
            if amount > 0:
                lot.remaining -= amount
                points -= amount
                taken.append((lot.id, amount))
        return taken

    def settle_debt(self, index: int, balance_before: int) -> list[tuple[int, int]]:
        if balance_before >= 0:
            return []
        paid = min(-balance_before, self.available[index] - balance_before)
        return self.take(self.fifo(index), paid)

    def check_txn(self, txn, index: int, delta: int, expected_allocations: list[tuple[int, int]]) -> None:
        assert txn.member_id == self.members[index].pk
        assert txn.points == delta
        assert txn.balance_after == self.available[index] + self.pending[index]
        assert allocations_of(txn) == sorted(expected_allocations), "lots taken differ from FIFO"

    def add_lot(self, txn, index: int) -> Lot:
        row = PointLot.objects.get(transaction=txn)
        lot = Lot(
            id=row.pk, member=self.members[index].pk, points=row.points, remaining=row.points, expired=0,
            earned_at=row.earned_at, available_at=row.available_at, expires_at=row.expires_at,
            released=row.released_at is not None,
        )
        self.lots[lot.id] = lot
        return lot

    # -- rules -----------------------------------------------------------------------------------

    @rule(hours=st.integers(min_value=1, max_value=24 * 20))
    def advance_time(self, hours):
        self.now += timedelta(hours=hours)

    @precondition(lambda self: any(lot.expires_at and lot.expires_at > self.now for lot in self.lots.values()))
    @rule()
    def advance_to_the_next_expiry(self):
        """Jump to the next lot's expiry date, so that expiries (and returns to expired lots) happen often."""
        self.now = min(lot.expires_at for lot in self.lots.values() if lot.expires_at and lot.expires_at > self.now)

    @rule(
        index=st.integers(0, MEMBERS - 1),
        points=st.integers(1, 500),
        pending_days=st.sampled_from([0, 0, 0, 2, 7]),
        valid_days=st.one_of(st.none(), st.integers(1, 45)),
        kind=st.sampled_from([TransactionKind.EARN, TransactionKind.BONUS]),
    )
    def credit(self, index, points, pending_days, valid_days, kind):
        member = self.members[index]
        audit = self.audit("credit")
        available_at = self.now + timedelta(days=pending_days) if pending_days else None
        expires_at = self.now + timedelta(days=valid_days) if valid_days is not None else None
        before = self.available[index]
        txn = points_credit(
            member=member, points=points, audit=audit, kind=kind, available_at=available_at,
            expires_at=expires_at, now=self.now,
        )
        lot = self.add_lot(txn, index)
        assert (lot.earned_at, lot.expires_at) == (self.now, expires_at)
        assert lot.released == (not pending_days)
        self.lifetime[index] += points
        if pending_days:
            self.pending[index] += points
            expected = []
        else:
            self.available[index] += points
            expected = self.settle_debt(index, before)
        self.check_txn(txn, index, points, expected)
        self.keys.append((audit.idempotency_key, index, txn))

    @rule(index=st.integers(0, MEMBERS - 1), points=st.integers(1, 300))
    def adjust_credit(self, index, points):
        before = self.available[index]
        txn = points_adjust(member=self.members[index], points=points, reason="goodwill")
        assert txn.kind == TransactionKind.ADJUST
        lot = self.add_lot(txn, index)
        assert lot.released
        self.available[index] += points
        self.check_txn(txn, index, points, self.settle_debt(index, before))

    @rule(index=st.integers(0, MEMBERS - 1), points=st.integers(1, 600), manual=st.booleans())
    def debit(self, index, points, manual):
        member = self.members[index]
        if points > self.available[index]:
            before = snapshot()
            with pytest.raises(InsufficientPoints):
                if manual:
                    points_adjust(member=member, points=-points, reason="correction")
                else:
                    points_debit(member=member, points=points, audit=self.audit("debit"))
            assert snapshot() == before
            return
        if manual:
            txn = points_adjust(member=member, points=-points, reason="correction")
        else:
            audit = self.audit("debit")
            txn = points_debit(member=member, points=points, audit=audit)
            self.keys.append((audit.idempotency_key, index, txn))
        self.available[index] -= points
        taken = self.take(self.fifo(index), points)
        assert sum(amount for _lot, amount in taken) == points
        self.check_txn(txn, index, -points, taken)
        self.debits.append(Debit(txn=txn, member=index, points=points, taken=dict(taken)))

    @rule(index=st.integers(0, MEMBERS - 1), points=st.integers(1, 300), data=st.data())
    def reverse(self, index, points, data):
        pk = self.members[index].pk
        own = sorted(lot.id for lot in self.lots.values() if lot.member == pk)
        lot_id = data.draw(st.one_of(st.none(), st.sampled_from(own)) if own else st.none(), label="lot")
        txn = points_reverse(
            member=self.members[index], points=points, audit=self.audit("reverse"),
            lot=PointLot.objects.get(pk=lot_id) if lot_id else None,
        )
        expected = []
        from_pending = 0
        rest = points
        if lot_id is not None:
            lot = self.lots[lot_id]
            if not lot.released:
                from_pending = min(points, lot.remaining)
                expected += self.take([lot], from_pending)
                rest -= from_pending
            else:
                expected += self.take([lot], rest)
                rest -= sum(amount for _lot, amount in expected)
        expected += self.take(self.fifo(index), rest)  # whatever the lots cannot cover becomes debt
        self.pending[index] -= from_pending
        self.available[index] -= points - from_pending
        self.lifetime[index] -= points
        self.check_txn(txn, index, -points, [row for row in expected if row[1]])
        if self.available[index] < 0:
            assert not self.fifo(index), "a member in debt has no released points left"

    @precondition(lambda self: self.debits)
    @rule(data=st.data())
    def give_back(self, data):
        debit = data.draw(st.sampled_from(self.debits), label="debit")
        self.debits.remove(debit)
        index = debit.member
        before = self.available[index]
        txn = points_return(original=debit.txn, audit=Audit(reason="cancel", occurred_at=self.now))
        assert txn.kind == TransactionKind.CANCEL_REDEMPTION
        expected = []
        for lot_id, amount in sorted(debit.taken.items()):
            self.lots[lot_id].remaining += amount
            expected.append((lot_id, -amount))
        self.available[index] += debit.points
        expected += self.settle_debt(index, before)
        self.check_txn(txn, index, debit.points, expected)

    @rule(index=st.integers(0, MEMBERS - 1))
    def release(self, index):
        pk = self.members[index].pk
        due = [
            lot for lot in self.lots.values()
            if lot.member == pk and not lot.released and lot.available_at <= self.now
        ]
        txn = points_release(member=self.members[index], as_of=self.now)
        points = sum(lot.remaining for lot in due)
        for lot in due:
            lot.released = True
        if not points:
            assert txn is None
            return
        before = self.available[index]
        self.pending[index] -= points
        self.available[index] += points
        assert txn.kind == TransactionKind.RELEASE
        self.check_txn(txn, index, 0, self.settle_debt(index, before))

    @rule(index=st.integers(0, MEMBERS - 1))
    def expire(self, index):
        pk = self.members[index].pk
        due = [
            lot for lot in self.lots.values()
            if lot.member == pk and lot.released and lot.remaining > 0
            and lot.expires_at is not None and lot.expires_at <= self.now
        ]
        txn = points_expire_member(member=self.members[index], as_of=self.now)
        if not due:
            assert txn is None
            return
        points = sum(lot.remaining for lot in due)
        for lot in due:
            lot.expired += lot.remaining
            lot.remaining = 0
        self.available[index] -= points
        assert txn.kind == TransactionKind.EXPIRE and txn.occurred_at == self.now
        assert txn.metadata == {"expired_lots": len(due)}
        self.check_txn(txn, index, -points, [])  # recorded on the lots (`expired`), not as allocations
        assert points_expire_member(member=self.members[index], as_of=self.now) is None  # at most once

    @precondition(lambda self: self.keys)
    @rule(data=st.data())
    def replay(self, data):
        key, index, txn = data.draw(st.sampled_from(self.keys), label="key")
        before = snapshot()
        audit = Audit(reason="retry", idempotency_key=key, occurred_at=self.now)
        if txn.kind == TransactionKind.REDEEM:
            again = points_debit(member=self.members[index], points=1, audit=audit)
        else:
            again = points_credit(member=self.members[index], points=1, audit=audit, kind=txn.kind, now=self.now)
        assert again.pk == txn.pk
        other = self.members[(index + 1) % MEMBERS]
        with pytest.raises(IdempotencyConflict):
            points_credit(member=other, points=1, audit=audit, kind=txn.kind, now=self.now)
        assert snapshot() == before

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def ledger_matches_model(self):
        assert ledger_verify() == []
        for index, member in enumerate(self.members):
            member.refresh_from_db(fields=["lifetime_earned"])
            assert member_points_get(member=member) == {
                "available": self.available[index],
                "pending": self.pending[index],
                "lifetime_earned": self.lifetime[index],
            }
        rows = {
            pk: (remaining, expired, released_at is not None)
            for pk, remaining, expired, released_at in PointLot.objects.filter(member__in=self.members).values_list(
                "pk", "remaining", "expired", "released_at"
            )
        }
        assert rows == {lot.id: (lot.remaining, lot.expired, lot.released) for lot in self.lots.values()}


@pytest.mark.django_db
def test_ledger_state_machine():
    # 40 examples keep every CI run quick; LEDGER_PROPERTY_EXAMPLES=2000 makes a deep run before a release.
    examples = int(os.environ.get("LEDGER_PROPERTY_EXAMPLES", "40"))
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=examples, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        ),
    )
