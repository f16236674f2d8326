"""The stored tier metric is carried forward by a purchase (stored value + the purchase's points) only while
it is exact; every other posting that changes the metric clears its stamp (tier_metric_member_update).

Hypothesis drives purchases (some back-dated), bonus credits (some back-dated), pending credits and their
release, refunds and the recalculation job for one member on the points metric over a lifetime window.
After every step a stamped metric must equal the metric summed over the whole history at its stamp, and
after every purchase the member must hold the tier that metric reaches. On PostgreSQL this covers the
one-statement purchase path; on SQLite the ORM path.
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

from loyalty.models import Program, Store, Tier, TierMetric, TierWindow
from loyalty.services.ledger import Audit, points_credit, points_release
from loyalty.services.program import program_get
from loyalty.services.purchases import purchase_record, refund_record
from loyalty.services.tiers import member_tier_metric_get, tiers_by_metric, tiers_recalculate
from members.models import Member
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


class TierMetricMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        # Ahead of the real clock, which dates refunds' reversals: those come out dated before the stored
        # metric's stamp, so only the ledger clearing the stamp keeps the metric exact.
        self.now = timezone.now() + timedelta(days=1)
        self.store = Store.objects.create(slug="metric", name="Metric")
        self.tiers = [
            Tier.objects.create(code=f"t{rank}", name=f"T{rank}", rank=rank, threshold=threshold)
            for rank, threshold in ((1, 40), (2, 120), (3, 300), (4, 10**9))
        ]
        self.member = MemberFactory()
        self.purchases: list = []
        self.serial = 0

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    def _key(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def _fresh(self) -> Member:
        return Member.objects.select_related("tier").get(pk=self.member.pk)

    @rule(minutes=st.integers(1, 3000))
    def time_passes(self, minutes):
        self.now += timedelta(minutes=minutes)

    @rule(amount=st.integers(1, 90), back_minutes=st.sampled_from([0, 0, 5, 600, 20_000]))
    def purchase(self, amount, back_minutes):
        purchase, _created = purchase_record(
            store=self.store, member=self._fresh(), order_id=self._key("order"), total=Decimal(amount),
            currency=program_get().currency, occurred_at=self.now - timedelta(minutes=back_minutes), now=self.now,
        )
        self.purchases.append(purchase)
        member = self._fresh()
        reached = tiers_by_metric(self.tiers, member_tier_metric_get(member=member, as_of=self.now))
        rank = member.tier.rank if member.tier else 0
        assert rank >= (reached.rank if reached else 0), "an upgrade the metric reached was missed"
        assert member.tier_metric_at is not None, "a purchase with a tier above stores the metric"

    @rule(points=st.integers(1, 60), back_minutes=st.sampled_from([0, 10, 5000, 50_000]))
    def bonus(self, points, back_minutes):
        points_credit(
            member=self._fresh(), points=points, kind="bonus",
            audit=Audit(reason="Bonus", idempotency_key=self._key("bonus"),
                        occurred_at=self.now - timedelta(minutes=back_minutes)),
        )

    @rule(points=st.integers(1, 60), days=st.integers(1, 5))
    def pending_credit(self, points, days):
        points_credit(
            member=self._fresh(), points=points, kind="earn", available_at=self.now + timedelta(days=days),
            audit=Audit(reason="Pending", idempotency_key=self._key("pending"), occurred_at=self.now),
        )

    @rule()
    def release(self):
        points_release(member=self._fresh(), as_of=self.now)

    @precondition(lambda self: self.purchases)
    @rule(data=st.data())
    def refund(self, data):
        purchase = data.draw(st.sampled_from(self.purchases))
        purchase.refresh_from_db()
        left = purchase.total - purchase.refunded_total
        if left <= 0:
            return
        amount = data.draw(st.integers(1, int(left * 100))) / Decimal(100)
        refund_record(store=self.store, purchase=purchase, refund_id=self._key("refund"), amount=amount)

    @rule()
    def recalculate(self):
        tiers_recalculate(as_of=self.now)

    @invariant()
    def stored_metric_is_exact_at_its_stamp(self):
        member = self._fresh()
        if member.tier_metric_at is not None:
            assert member.tier_metric_value == member_tier_metric_get(member=member, as_of=member.tier_metric_at)


def test_carried_forward_metric_stays_exact():
    program = program_get()
    assert (program.tier_metric, program.tier_window) == (TierMetric.POINTS, TierWindow.LIFETIME)
    # 30 examples keep CI quick; TIER_METRIC_EXAMPLES=1000 makes a deep run.
    run_state_machine_as_test(
        TierMetricMachine,
        settings=settings(
            max_examples=int(os.environ.get("TIER_METRIC_EXAMPLES", "30")), stateful_step_count=25,
            deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


def test_changing_the_metric_settings_clears_every_stamp(member):
    store = Store.objects.create(slug="s", name="S")
    Tier.objects.create(code="t1", name="T1", rank=1, threshold=10**6)
    purchase_record(store=store, member=member, order_id="o1", total=Decimal("50"), currency=program_get().currency)
    member.refresh_from_db()
    assert member.tier_metric_at is not None
    program = Program.objects.get(pk=1)
    program.expiry_warning_days = 7  # a save that leaves the metric alone keeps the stamps
    program.save()
    member.refresh_from_db()
    assert member.tier_metric_at is not None
    program.tier_metric = TierMetric.SPEND
    program.save()
    member.refresh_from_db()
    assert member.tier_metric_at is None
