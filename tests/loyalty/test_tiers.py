"""Tiers (loyalty.services.tiers): the metric and its windows, upgrades at once, the recalculation job,
staff floors and paid tiers."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError
from django.utils import timezone

from loyalty.models import PointLot, Purchase, Store, Tier, TierChangeKind, TierHistory, TierMembership
from loyalty.services import tiers as tiers_service
from loyalty.services.ledger import Audit, points_adjust, points_credit, points_release, points_reverse
from loyalty.services.program import program_get
from loyalty.services.tiers import (
    TierError,
    add_months,
    member_tier_floor_set,
    member_tier_metric_get,
    member_tier_progress_get,
    member_tier_upgrade_check,
    tier_delete,
    tier_membership_record,
    tier_metrics_get,
    tiers_recalculate,
)
from members.models import Member, MemberStatus
from tests.concurrency import run_together
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def tiers(db):
    return {
        "bronze": Tier.objects.create(code="bronze", name="Bronze", rank=1, threshold=50),
        "silver": Tier.objects.create(code="silver", name="Silver", rank=2, threshold=100, multiplier=Decimal("1.25")),
        "gold": Tier.objects.create(code="gold", name="Gold", rank=3, threshold=500, multiplier=Decimal("1.50")),
    }


@pytest.fixture
def platinum(tiers):
    """A paid tier that can only be bought (threshold 0)."""
    return Tier.objects.create(
        code="platinum", name="Platinum", rank=4, threshold=0, price=Decimal("49.00"), period_months=12
    )


def configure(*, metric="points", window="lifetime", months=None, hold=0):
    program = program_get()
    program.tier_metric, program.tier_window = metric, window
    program.tier_window_months, program.tier_hold_months = months, hold
    program.save()
    return program


def earn(member, points, at, *, key, available_at=None, kind="earn"):
    return points_credit(
        member=member, points=points, kind=kind, audit=Audit(reason="test", idempotency_key=key, occurred_at=at),
        available_at=available_at, expires_at=None, now=at,
    )


def reload(member) -> Member:
    return Member.objects.select_related("tier").get(pk=member.pk)


def tier_code(member) -> str | None:
    member = reload(member)
    return member.tier.code if member.tier else None


# -- months ----------------------------------------------------------------------------------------


def test_add_months_clamps_to_the_end_of_the_month():
    assert add_months(datetime(2024, 1, 31, 9, tzinfo=UTC), 1) == datetime(2024, 2, 29, 9, tzinfo=UTC)
    assert add_months(datetime(2025, 1, 31, 9, tzinfo=UTC), 1) == datetime(2025, 2, 28, 9, tzinfo=UTC)
    assert add_months(datetime(2025, 3, 15, tzinfo=UTC), -13) == datetime(2024, 2, 15, tzinfo=UTC)
    assert add_months(datetime(2025, 11, 30, tzinfo=UTC), 14) == datetime(2027, 1, 30, tzinfo=UTC)


# -- the metric ------------------------------------------------------------------------------------


def test_points_metric_counts_released_earn_and_bonus_minus_reversals(member, tiers):
    configure()
    earn(member, 100, T0, key="e1")
    earn(member, 30, T0, key="b1", kind="bonus")
    points_reverse(member=member, points=20, audit=Audit(reason="refund", idempotency_key="r1", occurred_at=T0))
    points_adjust(member=member, points=1000, reason="goodwill")  # adjustments are not qualifying activity
    assert member_tier_metric_get(member=member, as_of=T0 + timedelta(days=1)) == 110


def test_points_metric_ignores_pending_points_until_released(member, tiers):
    configure()
    earn(member, 100, T0, key="e1", available_at=T0 + timedelta(days=14))
    assert member_tier_metric_get(member=member, as_of=T0 + timedelta(days=13)) == 0
    points_release(member=member, as_of=T0 + timedelta(days=14))
    assert member_tier_metric_get(member=member, as_of=T0 + timedelta(days=13)) == 0  # not yet released then
    assert member_tier_metric_get(member=member, as_of=T0 + timedelta(days=14)) == 100


def test_reversing_a_pending_lot_does_not_count_against(member, tiers):
    configure()
    txn = earn(member, 100, T0, key="e1", available_at=T0 + timedelta(days=14))
    earn(member, 60, T0, key="e2")
    lot = PointLot.objects.get(transaction=txn)
    points_reverse(member=member, points=40, lot=lot,
                   audit=Audit(reason="refund", idempotency_key="r1", occurred_at=T0 + timedelta(days=1)))
    assert member_tier_metric_get(member=member, as_of=T0 + timedelta(days=2)) == 60
    points_release(member=member, as_of=T0 + timedelta(days=14))
    assert member_tier_metric_get(member=member, as_of=T0 + timedelta(days=14)) == 60 + 100 - 40


def test_rolling_window_drops_points_earned_thirteen_months_ago(tiers):
    configure(window="rolling", months=12)
    as_of = datetime(2025, 6, 15, 12, tzinfo=UTC)
    old, recent = MemberFactory(), MemberFactory()
    earn(old, 200, add_months(as_of, -13), key="old")
    earn(recent, 200, add_months(as_of, -11), key="recent")
    edge = MemberFactory()
    earn(edge, 200, add_months(as_of, -12) - timedelta(seconds=1), key="edge")
    metrics = tier_metrics_get(as_of=as_of)
    assert metrics.get(old.pk, 0) == 0
    assert metrics[recent.pk] == 200
    assert metrics.get(edge.pk, 0) == 0


def test_calendar_year_window_starts_on_january_first_local_time(member, tiers):
    configure(window="calendar_year")
    new_years_eve = timezone.make_aware(datetime(2024, 12, 31, 23, 0))
    earn(member, 120, new_years_eve, key="dec31")
    assert member_tier_metric_get(member=member, as_of=timezone.make_aware(datetime(2024, 12, 31, 23, 59))) == 120
    assert member_tier_metric_get(member=member, as_of=timezone.make_aware(datetime(2025, 1, 1, 0, 1))) == 0
    earn(member, 70, timezone.make_aware(datetime(2025, 1, 1, 0, 0)), key="jan1")
    assert member_tier_metric_get(member=member, as_of=timezone.make_aware(datetime(2025, 1, 1, 0, 1))) == 70


def test_lifetime_window_counts_everything_up_to_as_of(member, tiers):
    configure(window="lifetime")
    earn(member, 80, T0 - timedelta(days=5 * 365), key="ancient")
    earn(member, 40, T0, key="now")
    earn(member, 999, T0 + timedelta(days=1), key="later")
    assert member_tier_metric_get(member=member, as_of=T0) == 120


def test_rolling_window_without_months_means_lifetime(member, tiers):
    configure(window="rolling", months=None)
    earn(member, 80, T0 - timedelta(days=5 * 365), key="ancient")
    assert member_tier_metric_get(member=member, as_of=T0) == 80


def make_purchase(member, store, order_id, total, at, refunded="0", available_at=None):
    return Purchase.objects.create(
        store=store, member=member, order_id=order_id, total=Decimal(total), currency="EUR", occurred_at=at,
        refunded_total=Decimal(refunded), available_at=available_at,
    )


def test_spend_metric_is_totals_minus_refunds_in_the_window(member, tiers):
    configure(metric="spend", window="rolling", months=12)
    store = Store.objects.create(slug="shop", name="Shop")
    make_purchase(member, store, "1", "120.50", T0 - timedelta(days=10), refunded="20.25")
    make_purchase(member, store, "2", "30.00", T0 - timedelta(days=1), refunded="30.00")
    make_purchase(member, store, "3", "500.00", add_months(T0, -13))
    make_purchase(member, store, "4", "75.00", T0 - timedelta(days=1), available_at=T0 + timedelta(days=1))
    assert member_tier_metric_get(member=member, as_of=T0) == Decimal("100.25")
    assert member_tier_metric_get(member=member, as_of=T0 + timedelta(days=1)) == Decimal("175.25")
    assert tiers_recalculate(as_of=T0)["upgraded"] == 1
    assert tier_code(member) == "silver"


def test_metrics_for_all_members_agree_with_one_member(tiers):
    configure()
    members = [MemberFactory() for _ in range(3)]
    for index, member in enumerate(members):
        earn(member, 10 * (index + 1), T0, key=f"e{index}")
    everyone = tier_metrics_get(as_of=T0)
    for member in members:
        assert everyone[member.pk] == member_tier_metric_get(member=member, as_of=T0)


# -- upgrades at once ------------------------------------------------------------------------------


def test_upgrade_happens_on_release_of_pending_points_not_before(member, tiers, django_capture_on_commit_callbacks):
    configure()
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        earn(member, 150, now - timedelta(days=20), key="e1", available_at=now - timedelta(days=6))
    assert tier_code(member) is None  # pending points do not count
    with django_capture_on_commit_callbacks(execute=True):
        points_release(member=member, as_of=now)
    member = reload(member)
    assert member.tier.code == "silver"
    assert member.tier_since is not None
    history = TierHistory.objects.get(member=member)
    assert (history.kind, history.from_tier, history.to_tier) == (TierChangeKind.UPGRADE, None, tiers["silver"])
    assert "Silver" in history.reason
    assert history.changed_at == member.tier_since


def test_earning_straight_to_available_upgrades_at_once_and_never_downgrades(
    member, tiers, django_capture_on_commit_callbacks
):
    configure()
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        earn(member, 520, now - timedelta(minutes=1), key="e1")
    assert tier_code(member) == "gold"
    with django_capture_on_commit_callbacks(execute=True):
        points_reverse(member=member, points=500, audit=Audit(reason="refund", idempotency_key="r1"))
    assert tier_code(member) == "gold"
    assert member_tier_upgrade_check(member=member) is None
    assert TierHistory.objects.filter(member=member).count() == 1


def test_a_recorded_purchase_upgrades_on_the_spend_metric(member, tiers, django_capture_on_commit_callbacks):
    configure(metric="spend")
    store = Store.objects.create(slug="shop", name="Shop")
    with django_capture_on_commit_callbacks(execute=True):
        make_purchase(member, store, "1", "99.99", timezone.now() - timedelta(minutes=5))
    assert tier_code(member) == "bronze"
    with django_capture_on_commit_callbacks(execute=True):
        make_purchase(member, store, "2", "0.01", timezone.now() - timedelta(minutes=1))
    assert tier_code(member) == "silver"


# -- recalculation ---------------------------------------------------------------------------------


def test_downgrade_only_in_recalculation_and_only_after_the_hold(member, tiers):
    configure(window="rolling", months=12, hold=18)
    earn(member, 150, T0, key="e1")
    assert tiers_recalculate(as_of=T0)["upgraded"] == 1
    assert tier_code(member) == "silver"

    # 13 months later the points are out of the window, but Silver has been held for 13 < 18 months.
    counts = tiers_recalculate(as_of=add_months(T0, 13))
    assert (counts["downgraded"], counts["held"]) == (0, 1)
    assert tier_code(member) == "silver"

    counts = tiers_recalculate(as_of=add_months(T0, 18))
    assert counts["downgraded"] == 1
    assert tier_code(member) is None
    last = TierHistory.objects.filter(member=member).first()
    assert (last.kind, last.from_tier, last.to_tier) == (TierChangeKind.DOWNGRADE, tiers["silver"], None)
    assert last.changed_at == add_months(T0, 18)


def test_downgrade_goes_to_the_tier_still_reached(member, tiers):
    configure(window="rolling", months=12, hold=0)
    earn(member, 500, T0, key="big")
    earn(member, 60, add_months(T0, 6), key="small")
    tiers_recalculate(as_of=add_months(T0, 6))
    assert tier_code(member) == "gold"
    tiers_recalculate(as_of=add_months(T0, 13))
    assert tier_code(member) == "bronze"


def test_recalculation_is_idempotent_for_the_same_as_of(tiers):
    configure(window="rolling", months=12)
    members = [MemberFactory() for _ in range(4)]
    for index, member in enumerate(members):
        earn(member, [0, 60, 150, 600][index] or 1, T0, key=f"e{index}")
    as_of = T0 + timedelta(days=1)
    first = tiers_recalculate(as_of=as_of)
    assert first["upgraded"] == 3 and first["members"] == 4
    history = list(TierHistory.objects.values_list("id", flat=True))
    tiers_since = list(Member.objects.order_by("id").values_list("tier_id", "tier_since"))
    second = tiers_recalculate(as_of=as_of, full=True)  # every member looked at again: nothing to change
    assert (second["upgraded"], second["downgraded"], second["unchanged"]) == (0, 0, 4)
    third = tiers_recalculate(as_of=as_of)  # nothing new since: nobody to look at
    assert (third["members"], third["upgraded"], third["downgraded"]) == (0, 0, 0)
    assert list(TierHistory.objects.values_list("id", flat=True)) == history
    assert list(Member.objects.order_by("id").values_list("tier_id", "tier_since")) == tiers_since


def test_dry_run_counts_but_changes_nothing(member, tiers):
    configure()
    earn(member, 150, T0, key="e1")
    calls = []
    counts = tiers_recalculate(as_of=T0, dry_run=True, progress=lambda done, total: calls.append((done, total)))
    assert counts["upgraded"] == 1
    assert tier_code(member) is None
    assert not TierHistory.objects.exists()
    assert calls[-1] == (1, 1)


def test_recalculation_skips_a_member_changed_while_it_runs(tiers, monkeypatch):
    configure()
    first, second = MemberFactory(), MemberFactory()
    earn(first, 150, T0, key="e1")
    earn(second, 150, T0, key="e2")
    apply = tiers_service._tier_changes_apply

    def live_upgrade_meanwhile(batch, **kwargs):
        # Between the decisions and the writes, the first member is lifted to Gold by someone else.
        Member.objects.filter(pk=first.pk).update(tier=tiers["gold"])
        return apply(batch, **kwargs)

    monkeypatch.setattr(tiers_service, "_tier_changes_apply", live_upgrade_meanwhile)
    counts = tiers_recalculate(as_of=T0, batch_size=1)
    assert (counts["upgraded"], counts["skipped"]) == (1, 1)
    assert (tier_code(first), tier_code(second)) == ("gold", "silver")
    assert list(TierHistory.objects.values_list("member_id", flat=True)) == [second.pk]


def test_recalculation_stores_the_metric_with_the_tier_in_one_update(tiers):
    configure()
    members = [MemberFactory() for _ in range(3)]
    for index, member in enumerate(members):
        earn(member, [20, 150, 700][index], T0, key=f"e{index}")
    Member.objects.update(tier_metric_at=None, tier_metric_value=0)  # as if never checked live
    counts = tiers_recalculate(as_of=T0, batch_size=2)
    assert (counts["upgraded"], counts["unchanged"]) == (2, 1)
    rows = list(Member.objects.order_by("pk").values_list("tier__code", "tier_metric_value", "tier_metric_at"))
    assert rows == [(None, Decimal("20.00"), T0), ("silver", Decimal("150.00"), T0), ("gold", Decimal("700.00"), T0)]


def test_a_negative_metric_still_reaches_a_tier_with_threshold_zero(member, tiers):
    configure()
    Tier.objects.filter(code="bronze").update(threshold=0)
    earn(member, 40, T0 - timedelta(days=10), key="e1")
    points_adjust(member=member, points=-40, reason="spent")
    refund = Audit(reason="refund", idempotency_key="r1", occurred_at=T0 - timedelta(days=5))
    points_reverse(member=member, points=30, audit=refund)  # a debt of 30
    assert tier_metrics_get(as_of=T0)[member.pk] == 10
    Member.objects.filter(pk=member.pk).update(tier=None, tier_since=None)
    assert tiers_recalculate(as_of=T0)["upgraded"] == 1
    assert tier_code(member) == "bronze"
    refund = Audit(reason="refund", idempotency_key="r2", occurred_at=T0 + timedelta(hours=1))
    points_reverse(member=member, points=20, audit=refund)
    assert tier_metrics_get(as_of=T0 + timedelta(days=1))[member.pk] == -10
    Member.objects.filter(pk=member.pk).update(tier=None, tier_since=None)
    assert tiers_recalculate(as_of=T0 + timedelta(days=1))["upgraded"] == 1  # max(metric, 0) >= 0
    assert tier_code(member) == "bronze"


def test_recalculation_killed_after_a_batch_then_rerun_changes_each_member_once(tiers, monkeypatch):
    configure()
    members = [MemberFactory() for _ in range(5)]
    for index, member in enumerate(members):
        earn(member, 150, T0, key=f"e{index}")
    Member.objects.update(tier=None, tier_since=None)  # the live upgrades never ran
    apply, calls = tiers_service._tier_changes_apply, {"n": 0}

    def dies_on_the_second_batch(batch, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("worker lost")
        return apply(batch, **kwargs)

    monkeypatch.setattr(tiers_service, "_tier_changes_apply", dies_on_the_second_batch)
    with pytest.raises(ConnectionError):
        tiers_recalculate(as_of=T0, batch_size=2)
    assert TierHistory.objects.count() == 2  # the first batch committed, the second rolled back
    monkeypatch.setattr(tiers_service, "_tier_changes_apply", apply)
    assert tiers_recalculate(as_of=T0, batch_size=2)["upgraded"] == 3
    assert sorted(TierHistory.objects.values_list("member_id", flat=True)) == sorted(m.pk for m in members)
    assert {tier_code(member) for member in members} == {"silver"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_recalculations_change_each_member_once(tiers):
    configure()
    members = [MemberFactory() for _ in range(30)]
    for index, member in enumerate(members):
        earn(member, 150 if index % 2 else 600, T0, key=f"e{index}")
    Member.objects.update(tier=None, tier_since=None, tier_metric_at=None)
    results = run_together(lambda _index: tiers_recalculate(as_of=T0, batch_size=7), n=2)
    assert [result for result in results if isinstance(result, Exception)] == []
    assert sum(result["upgraded"] for result in results) == 30
    recalculated = TierHistory.objects.filter(changed_at=T0)  # (the live upgrades after each earn came first)
    assert sorted(recalculated.values_list("member_id", flat=True)) == sorted(m.pk for m in members)
    assert sorted(tier_code(member) for member in members) == ["gold"] * 15 + ["silver"] * 15


def test_recalculation_leaves_closed_members_alone(member, tiers):
    configure()
    earn(member, 150, T0, key="e1")
    Member.objects.filter(pk=member.pk).update(status=MemberStatus.CLOSED)
    assert tiers_recalculate(as_of=T0)["members"] == 0
    assert tier_code(member) is None


def test_recalculation_without_tiers_changes_nothing(member):
    configure()
    earn(member, 150, T0, key="e1")
    assert tiers_recalculate(as_of=T0)["upgraded"] == 0
    assert member_tier_progress_get(member=member) is None


# -- staff floor -----------------------------------------------------------------------------------


def test_manual_floor_lifts_at_once_and_keeps_the_member_up(member, tiers):
    configure(hold=0)
    staff = get_user_model().objects.create_user(email="staff@example.com", is_staff=True)
    history = member_tier_floor_set(member=member, tier=tiers["gold"], reason="VIP customer", staff_user=staff)
    assert (history.kind, history.to_tier, history.staff_user, history.reason) == (
        TierChangeKind.FLOOR, tiers["gold"], staff, "VIP customer"
    )
    member = reload(member)
    assert (member.tier.code, member.tier_floor.code, member.tier_floor_reason) == ("gold", "gold", "VIP customer")
    assert tiers_recalculate(as_of=timezone.now() + timedelta(days=400))["downgraded"] == 0
    assert tier_code(member) == "gold"

    member_tier_floor_set(member=member, tier=None, reason="No longer VIP", staff_user=staff)
    member = reload(member)
    assert (member.tier_floor, member.tier_floor_reason, member.tier.code) == (None, "", "gold")
    tiers_recalculate(as_of=timezone.now() + timedelta(days=400))
    assert tier_code(member) is None


def test_a_closed_membership_gets_no_floor(member, tiers):
    Member.objects.filter(pk=member.pk).update(status=MemberStatus.CLOSED)
    with pytest.raises(TierError, match="closed"):
        member_tier_floor_set(member=member, tier=tiers["gold"], reason="VIP customer")
    member = reload(member)
    assert (member.tier_floor, member.tier) == (None, None)
    assert not TierHistory.objects.filter(member=member).exists()


def test_floor_below_the_current_tier_changes_nothing_now(member, tiers):
    configure()
    earn(member, 600, T0, key="e1")
    tiers_recalculate(as_of=T0)
    assert member_tier_floor_set(member=member, tier=tiers["bronze"], reason="keep", staff_user=None) is None
    assert tier_code(member) == "gold"


def test_floor_needs_a_reason(member, tiers):
    with pytest.raises(TierError) as error:
        member_tier_floor_set(member=member, tier=tiers["gold"], reason="  ", staff_user=None)
    assert error.value.code == "invalid"
    assert reload(member).tier_floor is None


# -- paid tiers ------------------------------------------------------------------------------------


def test_paid_tier_holds_until_it_ends_then_drops_at_the_next_recalculation(member, tiers, platinum):
    configure(hold=24)
    earn(member, 150, T0, key="e1")
    starts_at = timezone.now() - timedelta(days=1)
    membership, created = tier_membership_record(
        member=member, tier=platinum, order_id="M-1", price=Decimal("49.00"), currency="eur", starts_at=starts_at
    )
    assert created and membership.ends_at == add_months(starts_at, 12)
    assert tier_code(member) == "platinum"
    history = TierHistory.objects.get(member=member)
    assert (history.kind, history.to_tier) == (TierChangeKind.PAID, platinum)

    assert tiers_recalculate(as_of=membership.ends_at - timedelta(seconds=1))["downgraded"] == 0
    assert tier_code(member) == "platinum"
    # The hold (24 months) does not apply to a tier held only by a paid membership.
    counts = tiers_recalculate(as_of=membership.ends_at)
    assert counts["downgraded"] == 1
    assert tier_code(member) == "silver"


def test_paid_tier_recorded_to_start_later_applies_at_the_recalculation(member, tiers, platinum):
    configure()
    starts_at = timezone.now() + timedelta(days=10)
    membership, _ = tier_membership_record(
        member=member, tier=platinum, order_id="M-1", price=Decimal("49.00"), currency="EUR", starts_at=starts_at
    )
    assert tier_code(member) is None
    tiers_recalculate(as_of=starts_at)
    assert tier_code(member) == "platinum"
    assert TierHistory.objects.get(member=member).kind == TierChangeKind.PAID


def test_paid_membership_is_idempotent_by_store_and_order(member, tiers, platinum):
    store = Store.objects.create(slug="shop", name="Shop")
    first, created = tier_membership_record(
        member=member, tier=platinum, order_id="M-1", price=Decimal("49"), currency="EUR", store=store
    )
    again, created_again = tier_membership_record(
        member=member, tier=platinum, order_id="M-1", price=Decimal("49.00"), currency="EUR", store=store
    )
    assert created and not created_again and again.pk == first.pk
    assert TierHistory.objects.filter(member=member).count() == 1
    with pytest.raises(TierError) as error:
        tier_membership_record(
            member=member, tier=platinum, order_id="M-1", price=Decimal("1.00"), currency="EUR", store=store
        )
    assert (error.value.code, error.value.status_code) == ("order_conflict", 409)
    # Another store may use the same order id.
    other = Store.objects.create(slug="other", name="Other")
    assert tier_membership_record(
        member=member, tier=platinum, order_id="M-1", price=Decimal("49"), currency="EUR", store=other
    )[1]


def test_paid_membership_refuses_unpaid_tiers_and_other_currencies(member, tiers, platinum):
    with pytest.raises(TierError) as error:
        tier_membership_record(member=member, tier=tiers["gold"], order_id="M-1", price=Decimal("10"), currency="EUR")
    assert (error.value.code, error.value.status_code) == ("invalid", 422)
    with pytest.raises(TierError) as error:
        tier_membership_record(member=member, tier=platinum, order_id="M-2", price=Decimal("10"), currency="USD")
    assert error.value.code == "currency_mismatch"
    assert not TierMembership.objects.exists()
    assert tier_code(member) is None


def test_order_ids_without_a_store_are_unique_in_the_database(member, platinum):
    now = timezone.now()
    fields = {"member": member, "tier": platinum, "order_id": "X", "price": 1, "currency": "EUR",
              "starts_at": now, "ends_at": now + timedelta(days=1)}
    TierMembership.objects.create(**fields)
    with pytest.raises(IntegrityError):
        TierMembership.objects.create(**fields)


def test_a_paid_only_tier_is_not_reached_by_the_metric(member, platinum):
    configure()
    earn(member, 10_000, T0, key="e1")
    tiers_recalculate(as_of=T0)
    assert tier_code(member) == "gold"


# -- progress --------------------------------------------------------------------------------------


def test_progress_to_the_next_tier(member, tiers, platinum):
    configure()
    assert member_tier_progress_get(member=member) == {"code": "bronze", "name": "Bronze", "remaining": 50}
    earn(member, 70, T0, key="e1")
    tiers_recalculate(as_of=T0)
    member = reload(member)
    assert member_tier_progress_get(member=member) == {"code": "silver", "name": "Silver", "remaining": 30}
    earn(member, 500, T0, key="e2")
    tiers_recalculate(as_of=T0)
    member = reload(member)
    assert member.tier.code == "gold"
    assert member_tier_progress_get(member=member) is None  # platinum can only be bought


def test_progress_remaining_never_negative_and_in_money_for_spend(member, tiers):
    configure(metric="spend")
    store = Store.objects.create(slug="shop", name="Shop")
    make_purchase(member, store, "1", "60.40", T0)
    assert member_tier_progress_get(member=member)["remaining"] == 0  # reached Bronze; no upgrade run yet
    tiers_recalculate(as_of=T0)
    assert member_tier_progress_get(member=reload(member)) == {
        "code": "silver", "name": "Silver", "remaining": Decimal("39.60")
    }


def test_progress_reads_the_metric_stored_on_the_member_row(member, tiers):
    configure()
    earn(member, 70, T0, key="e1")
    Member.objects.filter(pk=member.pk).update(tier_metric_value=80, tier_metric_at=T0)
    # The stored value wins over the history (70): the progress does not query the ledger.
    assert member_tier_progress_get(member=reload(member)) == {"code": "bronze", "name": "Bronze", "remaining": 0}
    Member.objects.filter(pk=member.pk).update(tier_metric_value=20, tier_metric_at=T0)
    assert member_tier_progress_get(member=reload(member))["remaining"] == 30


def test_the_stored_metric_is_exact_after_each_posting(member, tiers, django_capture_on_commit_callbacks):
    configure()
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        earn(member, 30, now - timedelta(minutes=2), key="e1")
    member = reload(member)
    assert (member.tier_metric_value, member.tier_metric_at is not None) == (Decimal("30.00"), True)
    assert member_tier_progress_get(member=member) == {"code": "bronze", "name": "Bronze", "remaining": 20}
    with django_capture_on_commit_callbacks(execute=True):
        earn(member, 80, now - timedelta(minutes=1), key="e2")
    member = reload(member)
    assert (member.tier.code, member.tier_metric_value) == ("silver", Decimal("110.00"))
    assert member_tier_progress_get(member=member) == {"code": "gold", "name": "Gold", "remaining": 390}
    with django_capture_on_commit_callbacks(execute=True):  # a refund lowers the stored metric at once
        points_reverse(member=member, points=40, audit=Audit(reason="refund", idempotency_key="r1"))
    member = reload(member)
    assert (member.tier.code, member.tier_metric_value) == ("silver", Decimal("70.00"))
    assert member_tier_progress_get(member=member)["remaining"] == 430


def test_the_recalculation_refreshes_the_stored_metric_as_points_age_out(member, tiers):
    configure(window="rolling", months=12)
    other = MemberFactory()
    earn(member, 120, T0 - timedelta(days=400), key="old")
    earn(member, 30, T0 - timedelta(days=10), key="new")
    member_tier_upgrade_check(member=member, as_of=T0 - timedelta(days=300))
    assert reload(member).tier_metric_value == Decimal("120.00")
    tiers_recalculate(as_of=T0)
    member, other = reload(member), reload(other)
    assert (member.tier_metric_value, member.tier_metric_at) == (Decimal("30.00"), T0)
    assert (other.tier_metric_value, other.tier_metric_at) == (Decimal("0.00"), T0)  # stored for everyone
    assert member_tier_progress_get(member=member) == {"code": "bronze", "name": "Bronze", "remaining": 20}
    later = T0 + timedelta(days=1)
    tiers_recalculate(as_of=later)  # unchanged values are not rewritten
    assert reload(member).tier_metric_at == T0
    # A live check stored after the job's moment is not overwritten by it.
    Member.objects.filter(pk=other.pk).update(tier_metric_value=5, tier_metric_at=later + timedelta(hours=1))
    tiers_recalculate(as_of=later)
    assert reload(other).tier_metric_value == Decimal("5.00")
    tiers_recalculate(as_of=later, dry_run=True)
    assert reload(member).tier_metric_at == T0


# -- configuration ---------------------------------------------------------------------------------


def test_a_tier_in_use_cannot_be_deleted(member, tiers):
    member_tier_floor_set(member=member, tier=tiers["silver"], reason="VIP", staff_user=None)
    with pytest.raises(TierError) as error:
        tier_delete(tier=tiers["silver"])
    assert (error.value.code, error.value.status_code) == ("tier_in_use", 409)
    assert Tier.objects.filter(code="silver").exists()
    tier_delete(tier=tiers["bronze"])
    assert not Tier.objects.filter(code="bronze").exists()
