"""The tier recalculation looks only at the members with something new since its last run
(tiers_recalculate, _candidates_get), and must still decide exactly what a run over every member decides.

Hypothesis drives several members through purchases (some back-dated), bonuses, pending credits and their
release, refunds, staff floors set and removed, paid memberships (starting now or later), new members,
tier threshold changes and the passing of time, with a hold period of a month, and runs the recalculation.
After every run, a dry run over every member at the same moment must find nothing to move, and every
stored metric must be exact at its stamp.
"""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from loyalty.models import Store, Tier, TierRecalculation
from loyalty.services.ledger import Audit, points_credit, points_release, points_reverse
from loyalty.services.program import program_get
from loyalty.services.purchases import purchase_record, refund_record
from loyalty.services.tiers import (
    _candidates_get,
    member_tier_floor_set,
    member_tier_metric_get,
    tier_membership_record,
    tier_update,
    tiers_recalculate,
)
from members.models import Member
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _program_set(**fields) -> None:
    program = program_get()
    for name, value in fields.items():
        setattr(program, name, value)
    program.save()


class RecalculationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.now = timezone.now() + timedelta(days=1)
        _program_set(tier_hold_months=1)
        self.store = Store.objects.create(slug="recalc", name="Recalc")
        self.tiers = [
            Tier.objects.create(code=f"t{rank}", name=f"T{rank}", rank=rank, threshold=threshold)
            for rank, threshold in ((1, 40), (2, 120), (3, 300))
        ]
        self.vip = Tier.objects.create(code="vip", name="VIP", rank=9, threshold=0, price=Decimal("5"), period_months=1)
        self.members = [MemberFactory() for _ in range(3)]
        self.purchases: list = []
        self.serial = 0
        self.full_due = True

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    def _key(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def _member(self, data) -> Member:
        return Member.objects.select_related("tier").get(pk=data.draw(st.sampled_from(self.members)).pk)

    @rule(days=st.sampled_from([0, 1, 3, 20, 40, 70]))
    def time_passes(self, days):
        self.now += timedelta(days=days, minutes=1)

    @rule()
    def member_joins(self):
        self.members.append(MemberFactory())

    @rule(data=st.data(), amount=st.integers(1, 150), back_days=st.sampled_from([0, 0, 2, 60]))
    def purchase(self, data, amount, back_days):
        purchase, _created = purchase_record(
            store=self.store, member=self._member(data), order_id=self._key("order"), total=Decimal(amount),
            currency=program_get().currency, occurred_at=self.now - timedelta(days=back_days), now=self.now,
        )
        self.purchases.append(purchase)

    @rule(data=st.data(), points=st.integers(1, 200), back_days=st.sampled_from([0, 5, 90]))
    def bonus(self, data, points, back_days):
        points_credit(
            member=self._member(data), points=points, kind="bonus",
            audit=Audit(reason="Bonus", idempotency_key=self._key("bonus"),
                        occurred_at=self.now - timedelta(days=back_days)),
        )

    @rule(data=st.data(), points=st.integers(1, 200), days=st.integers(1, 5))
    def pending_credit(self, data, points, days):
        points_credit(
            member=self._member(data), points=points, kind="earn", available_at=self.now + timedelta(days=days),
            audit=Audit(reason="Pending", idempotency_key=self._key("pending"), occurred_at=self.now),
        )

    @rule(data=st.data())
    def release(self, data):
        points_release(member=self._member(data), as_of=self.now)

    @precondition(lambda self: self.purchases)
    @rule(data=st.data())
    def refund(self, data):
        purchase = data.draw(st.sampled_from(self.purchases))
        purchase.refresh_from_db()
        left = purchase.total - purchase.refunded_total
        if left > 0:
            amount = data.draw(st.integers(1, int(left * 100))) / Decimal(100)
            refund_record(store=self.store, purchase=purchase, refund_id=self._key("refund"), amount=amount)

    @rule(data=st.data(), rank=st.sampled_from([None, 1, 2, 3]))
    def floor(self, data, rank):
        tier = None if rank is None else self.tiers[rank - 1]
        member_tier_floor_set(member=self._member(data), tier=tier, reason="Staff")

    @rule(data=st.data(), later_days=st.sampled_from([0, 0, 10]))
    def paid_membership(self, data, later_days):
        tier_membership_record(
            member=self._member(data), tier=self.vip, order_id=self._key("vip"), price=Decimal("5"),
            currency=program_get().currency, starts_at=self.now + timedelta(days=later_days),
        )

    @rule(index=st.integers(0, 2), threshold=st.sampled_from([30, 40, 100, 120, 250, 300]))
    def threshold_changes(self, index, threshold):
        if self.tiers[index].threshold != threshold:
            tier_update(tier=self.tiers[index], threshold=threshold)
            self.full_due = True

    @rule()
    def recalculate(self):
        counts = tiers_recalculate(as_of=self.now)
        # Over every member only the first time and after a change of the tiers: else only what is new.
        assert counts["full"] == int(self.full_due)
        self.full_due = False
        # A run over every member at the same moment finds nothing left to move.
        check = tiers_recalculate(as_of=self.now, full=True, dry_run=True)
        assert (check["upgraded"], check["downgraded"]) == (0, 0)

    @invariant()
    def stored_metric_is_exact_at_its_stamp(self):
        for member in Member.objects.filter(pk__in=[m.pk for m in self.members], tier_metric_at__isnull=False):
            assert member.tier_metric_value == member_tier_metric_get(member=member, as_of=member.tier_metric_at)


def test_recalculating_changes_only_decides_like_a_run_over_every_member():
    # 25 examples keep CI quick; TIER_RECALCULATION_EXAMPLES=500 makes a deep run.
    run_state_machine_as_test(
        RecalculationMachine,
        settings=settings(
            max_examples=int(os.environ.get("TIER_RECALCULATION_EXAMPLES", "25")), stateful_step_count=30,
            deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


# -- what a run looks at ---------------------------------------------------------------------------

T0 = timezone.now() + timedelta(days=2)


@pytest.fixture
def tiers(db):
    return [Tier.objects.create(code=f"r{rank}", name=f"R{rank}", rank=rank, threshold=threshold)
            for rank, threshold in ((1, 50), (2, 100))]


def _earn(member, points, at, key):
    points_credit(member=member, points=points, kind="bonus", now=at,
                  audit=Audit(reason="t", idempotency_key=key, occurred_at=at))


def test_a_run_looks_only_at_members_with_something_new(tiers):
    members = [MemberFactory() for _ in range(20)]
    first = tiers_recalculate(as_of=T0)
    assert (first["full"], first["members"]) == (1, 20)
    _earn(members[3], 60, T0, "a")
    _earn(members[7], 120, T0, "b")
    second = tiers_recalculate(as_of=T0 + timedelta(hours=1))
    assert (second["full"], second["members"]) == (0, 2)
    # The run after that still looks at what was new before the last run (a posting uncommitted when the
    # last run started), and at what is new since.
    _earn(members[9], 10, T0, "c")
    third = tiers_recalculate(as_of=T0 + timedelta(hours=2))
    assert (third["full"], third["members"]) == (0, 3)
    fourth = tiers_recalculate(as_of=T0 + timedelta(hours=3))
    assert (fourth["full"], fourth["members"]) == (0, 1)
    assert tiers_recalculate(as_of=T0 + timedelta(hours=4))["members"] == 0
    newcomer = MemberFactory()
    assert tiers_recalculate(as_of=T0 + timedelta(hours=5))["members"] == 1
    assert Member.objects.get(pk=newcomer.pk).tier_metric_at is not None


def test_a_run_looks_at_every_member_when_what_it_decides_on_changed(tiers):
    [MemberFactory() for _ in range(5)]
    assert tiers_recalculate(as_of=T0)["full"] == 1
    assert tiers_recalculate(as_of=T0 + timedelta(hours=1))["full"] == 0
    tier_update(tier=tiers[1], threshold=90)
    assert tiers_recalculate(as_of=T0 + timedelta(hours=2))["full"] == 1
    _program_set(tier_hold_months=3)
    assert tiers_recalculate(as_of=T0 + timedelta(hours=3))["full"] == 1
    assert tiers_recalculate(as_of=T0 + timedelta(hours=4))["full"] == 0
    # Dated before the last run, asked for, or on a metric that moves with time alone.
    assert tiers_recalculate(as_of=T0)["full"] == 1
    assert tiers_recalculate(as_of=T0 + timedelta(hours=5), full=True)["full"] == 1
    _program_set(tier_window="rolling", tier_window_months=12)
    assert tiers_recalculate(as_of=T0 + timedelta(hours=6))["full"] == 1
    assert tiers_recalculate(as_of=T0 + timedelta(hours=7))["full"] == 1


def test_many_new_members_make_one_pass_over_every_member(tiers, monkeypatch):
    MemberFactory()
    tiers_recalculate(as_of=T0)
    last = TierRecalculation.objects.latest("id")
    monkeypatch.setattr("loyalty.services.tiers.MANY_NEW", 3)
    highs = {"ledger_high": last.ledger_high, "member_high": last.member_high, "membership_high": 0}

    def pass_over_every_member(**more) -> bool:
        arguments = {"program": program_get(), "fingerprint": last.fingerprint, "as_of": T0 + timedelta(hours=1)}
        return _candidates_get(**arguments, highs={name: high + more.get(name, 0) for name, high in highs.items()}) \
            is None

    assert not pass_over_every_member(member_high=3)  # not over MANY_NEW
    assert not pass_over_every_member(member_high=last.member_high)  # not more than before
    assert pass_over_every_member(member_high=max(last.member_high, 3) + 1)
    assert pass_over_every_member(ledger_high=max(last.ledger_high, 3) + 1)
    assert pass_over_every_member(membership_high=4)


def test_a_held_member_is_downgraded_when_the_hold_ends_without_anything_new(tiers):
    _program_set(tier_hold_months=1)
    member = MemberFactory()
    tiers_recalculate(as_of=T0 - timedelta(days=1))
    _earn(member, 60, T0, "e")
    assert tiers_recalculate(as_of=T0)["upgraded"] == 1
    points_reverse(member=member, points=30, audit=Audit(reason="refund", idempotency_key="r", occurred_at=T0))
    held = tiers_recalculate(as_of=T0 + timedelta(days=1))
    assert (held["full"], held["held"], held["downgraded"]) == (0, 1, 0)
    assert tiers_recalculate(as_of=T0 + timedelta(days=2))["held"] == 1  # the reversal again (see above)
    for day in (3, 4):  # nothing new for this member: not looked at again before the hold ends
        assert tiers_recalculate(as_of=T0 + timedelta(days=day))["members"] == 0
    ended = tiers_recalculate(as_of=T0 + timedelta(days=40))
    assert (ended["full"], ended["members"], ended["downgraded"]) == (0, 1, 1)
    assert Member.objects.get(pk=member.pk).tier is None
    assert tiers_recalculate(as_of=T0 + timedelta(days=41))["members"] == 0  # the review is done


def test_a_paid_membership_starting_and_ending_later_is_seen_by_a_run_over_changes(tiers):
    vip = Tier.objects.create(code="vip", name="VIP", rank=5, threshold=0, price=Decimal("5"), period_months=1)
    member = MemberFactory()
    [MemberFactory() for _ in range(5)]
    tiers_recalculate(as_of=T0)
    tier_membership_record(member=member, tier=vip, order_id="v1", price=Decimal("5"),
                           currency=program_get().currency, starts_at=T0 + timedelta(days=10))
    assert tiers_recalculate(as_of=T0 + timedelta(days=1))["upgraded"] == 0  # not started
    tiers_recalculate(as_of=T0 + timedelta(days=2))  # the membership's id is older than this run's
    started = tiers_recalculate(as_of=T0 + timedelta(days=11))
    assert (started["full"], started["members"], started["upgraded"]) == (0, 1, 1)
    assert Member.objects.get(pk=member.pk).tier == vip
    ended = tiers_recalculate(as_of=T0 + timedelta(days=45))
    assert (ended["full"], ended["members"], ended["downgraded"]) == (0, 1, 1)
    assert Member.objects.get(pk=member.pk).tier is None
