import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.models import (
    AccountKind,
    LedgerTransaction,
    LotAllocation,
    PointLot,
    Purchase,
    Refund,
    Store,
    Tier,
    TransactionKind,
)
from loyalty.selectors import member_points_get
from loyalty.services.ledger import InsufficientPoints
from loyalty.services.verify import ledger_verify
from loyalty.signals import purchase_refunded
from members.models import MemberStatus
from rewards.models import PAY_WITH_POINTS, Redemption, RedemptionStatus, Reward, RewardKind, VoucherCode
from rewards.selectors import charity_donation_totals, reward_catalogue_for_member
from rewards.services import (
    AlreadyCancelled,
    BelowMinimum,
    CouponExpired,
    CouponNotFound,
    CouponUsed,
    CurrencyMismatch,
    LimitReached,
    MemberInactive,
    OutOfStock,
    RedemptionError,
    RewardUnavailable,
    TierRequired,
    coupon_code_generate,
    coupon_code_normalize,
    coupon_use,
    discount_cap,
    points_for_amount,
    points_redeem_for_discount,
    redemption_cancel,
    redemption_quote,
    redemptions_expire,
    reward_delete,
    reward_redeem,
    voucher_codes_from_csv,
    voucher_codes_import,
)
from tests.factories import MemberFactory
from tests.rewards.conftest import give
from tests.rewards.factories import RewardFactory

pytestmark = pytest.mark.django_db


def available(member) -> int:
    return member_points_get(member=member)["available"]


def set_program(program, **fields):
    for name, value in fields.items():
        setattr(program, name, value)
    program.save()
    return program


# -- coupon codes ------------------------------------------------------------------------------------


def test_coupon_codes_carry_80_random_bits_in_readable_groups():
    codes = {coupon_code_generate() for _ in range(2000)}
    assert len(codes) == 2000
    for code in list(codes)[:50]:
        assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", code)
    # 16 base32 symbols x 5 bits = 80 bits >= 64
    assert 16 * 5 >= 64


def test_coupon_code_normalize_accepts_typing_variants():
    assert coupon_code_normalize("abcd efgh-ijkl mnop") == "ABCD-EFGH-IJKL-MNOP"
    assert coupon_code_normalize("0BCD-1FGH-8JKL-MNOP") == "OBCD-IFGH-BJKL-MNOP"
    assert coupon_code_normalize("ABCD-EFGH") == ""
    assert coupon_code_normalize("ABCD-EFGH-IJKL-MNO9") == ""
    assert coupon_code_normalize("") == ""


# -- quote math --------------------------------------------------------------------------------------


def test_quote_caps_by_subtotal_with_default_program(program, member):
    give(member, 500)
    quote = redemption_quote(member=member, subtotal=Decimal("3.00"), currency="EUR")
    assert quote == {
        "available_points": 500, "max_points": 300, "max_discount": Decimal("3.00"),
        "point_value": Decimal("0.0100"), "min_points": 0,
    }


def test_quote_caps_by_available_points(program, member):
    give(member, 120)
    quote = redemption_quote(member=member, subtotal=Decimal("10.00"), currency="eur")
    assert (quote["max_points"], quote["max_discount"]) == (120, Decimal("1.20"))


def test_quote_caps_by_max_discount_percent_rounding_the_cap_down(program, member):
    set_program(program, max_discount_percent=50)
    give(member, 5000)
    quote = redemption_quote(member=member, subtotal=Decimal("10.05"), currency="EUR")
    assert (quote["max_points"], quote["max_discount"]) == (502, Decimal("5.02"))


def test_quote_points_needed_are_rounded_up(program, member):
    set_program(program, point_value=Decimal("0.03"))
    give(member, 1000)
    quote = redemption_quote(member=member, subtotal=Decimal("1.00"), currency="EUR")
    assert quote["max_points"] == 34  # ceil(1.00 / 0.03)
    assert quote["max_discount"] == Decimal("1.00")  # 34 x 0.03 = 1.02, capped at the subtotal


def test_quote_is_zero_when_the_minimum_cannot_be_met(program, member):
    set_program(program, min_redeem_points=200)
    give(member, 150)
    quote = redemption_quote(member=member, subtotal=Decimal("50.00"), currency="EUR")
    assert (quote["max_points"], quote["max_discount"], quote["min_points"]) == (0, Decimal("0.00"), 200)
    give(member, 1000)
    assert redemption_quote(member=member, subtotal=Decimal("1.50"), currency="EUR")["max_points"] == 0
    assert redemption_quote(member=member, subtotal=Decimal("2.00"), currency="EUR")["max_points"] == 200


def test_quote_refuses_another_currency_and_inactive_members(program, member):
    with pytest.raises(CurrencyMismatch):
        redemption_quote(member=member, subtotal=Decimal("1"), currency="USD")
    member.status = MemberStatus.SUSPENDED
    member.save()
    with pytest.raises(MemberInactive):
        redemption_quote(member=member, subtotal=Decimal("1"), currency="EUR")


@settings(max_examples=60, deadline=None)
@given(
    subtotal=st.decimals(min_value=0, max_value=10_000, places=2),
    percent=st.integers(min_value=0, max_value=100),
    point_value=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("5"), places=4),
)
def test_cap_points_are_the_fewest_that_cover_the_cap(subtotal, percent, point_value):
    program = type("P", (), {"max_discount_percent": percent})()
    cap = discount_cap(program, subtotal)
    assert Decimal("0") <= cap <= subtotal
    assert cap <= subtotal * percent / 100
    points = points_for_amount(cap, point_value)
    assert points * point_value >= cap
    assert points == 0 or (points - 1) * point_value < cap


# -- pay with points ---------------------------------------------------------------------------------


def test_pay_with_points_debits_and_issues_a_coupon(program, member, api_store):
    give(member, 1000)
    now = timezone.now()
    redemption = points_redeem_for_discount(
        member=member, points=250, order_id="A-1", subtotal=Decimal("20.00"), store=api_store, now=now
    )
    assert (redemption.kind, redemption.reward, redemption.points) == (PAY_WITH_POINTS, None, 250)
    assert redemption.value == Decimal("2.50") and redemption.currency == "EUR"
    assert redemption.status == RedemptionStatus.ISSUED and redemption.order_id == "A-1"
    assert redemption.expires_at == now + timedelta(days=program.coupon_valid_days)
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", redemption.code)
    assert redemption.transaction.kind == TransactionKind.REDEEM and redemption.transaction.points == -250
    assert redemption.transaction.store == api_store
    assert available(member) == 750
    assert ledger_verify() == []


def test_pay_with_points_below_the_minimum(program, member):
    set_program(program, min_redeem_points=100)
    give(member, 1000)
    with pytest.raises(BelowMinimum) as error:
        points_redeem_for_discount(member=member, points=99)
    assert (error.value.code, error.value.status_code) == ("below_minimum", 422)
    assert available(member) == 1000 and not Redemption.objects.exists()


def test_pay_with_points_more_than_the_subtotal_allows(program, member):
    set_program(program, max_discount_percent=50)
    give(member, 5000)
    with pytest.raises(RedemptionError) as error:
        points_redeem_for_discount(member=member, points=501, subtotal=Decimal("10.00"))
    assert (error.value.code, error.value.status_code) == ("invalid", 422)
    assert points_redeem_for_discount(member=member, points=500, subtotal=Decimal("10.00")).value == Decimal("5.00")


def test_pay_with_points_value_is_capped_at_the_cart_maximum(program, member):
    set_program(program, point_value=Decimal("0.03"))
    give(member, 1000)
    redemption = points_redeem_for_discount(member=member, points=34, subtotal=Decimal("1.00"))
    assert redemption.value == Decimal("1.00")
    assert points_redeem_for_discount(member=member, points=34).value == Decimal("1.02")


def test_pay_with_points_insufficient(program, member):
    give(member, 100)
    with pytest.raises(InsufficientPoints):
        points_redeem_for_discount(member=member, points=101)
    assert available(member) == 100 and not Redemption.objects.exists()


def test_pay_with_points_inactive_member(program, member):
    give(member, 100)
    member.status = MemberStatus.CLOSED
    member.save()
    with pytest.raises(MemberInactive) as error:
        points_redeem_for_discount(member=member, points=50)
    assert error.value.code == "member_inactive"


def test_pay_with_points_refuses_non_positive_points(program, member):
    give(member, 100)
    for points in (0, -5):
        with pytest.raises(RedemptionError):
            points_redeem_for_discount(member=member, points=points)


# -- the catalogue -----------------------------------------------------------------------------------


def test_reward_redeem_takes_points_and_stock(program, rich_member, api_store):
    reward = RewardFactory(cost_points=300, stock=2, value=Decimal("7.50"))
    redemption = reward_redeem(member=rich_member, reward=reward, store=api_store)
    reward.refresh_from_db()
    assert reward.stock == 1
    assert (redemption.reward, redemption.kind, redemption.points, redemption.value) == (
        reward, RewardKind.FIXED_DISCOUNT, 300, Decimal("7.50"))
    assert redemption.store == api_store
    assert available(rich_member) == 9_700
    assert redemption.transaction.reference == reward.code


def test_reward_out_of_stock(program, rich_member):
    reward = RewardFactory(stock=0)
    with pytest.raises(OutOfStock) as error:
        reward_redeem(member=rich_member, reward=reward)
    assert (error.value.code, error.value.status_code) == ("out_of_stock", 409)
    assert available(rich_member) == 10_000


def test_reward_per_member_limit_ignores_cancelled_redemptions(program, rich_member):
    reward = RewardFactory(per_member_limit=1)
    first = reward_redeem(member=rich_member, reward=reward)
    with pytest.raises(LimitReached) as error:
        reward_redeem(member=rich_member, reward=reward)
    assert (error.value.code, error.value.status_code) == ("limit_reached", 409)
    redemption_cancel(redemption=first)
    reward_redeem(member=rich_member, reward=reward)
    other = MemberFactory()
    give(other, 500)
    reward_redeem(member=other, reward=reward)  # the limit is per member


def test_reward_min_tier(program, rich_member):
    silver = Tier.objects.create(code="silver", name="Silver", rank=1, threshold=100)
    gold = Tier.objects.create(code="gold", name="Gold", rank=2, threshold=1000)
    platinum = Tier.objects.create(code="platinum", name="Platinum", rank=3, threshold=5000)
    reward = RewardFactory(min_tier=gold)
    with pytest.raises(TierRequired) as error:
        reward_redeem(member=rich_member, reward=reward)
    assert (error.value.code, error.value.status_code) == ("tier_required", 403)
    rich_member.tier = silver
    rich_member.save()
    with pytest.raises(TierRequired):
        reward_redeem(member=rich_member, reward=reward)
    rich_member.tier = platinum
    rich_member.save()
    assert reward_redeem(member=rich_member, reward=reward).reward == reward


def test_reward_unavailable_when_inactive_or_outside_its_window(program, rich_member):
    now = timezone.now()
    for reward in (
        RewardFactory(active=False),
        RewardFactory(available_from=now + timedelta(days=1)),
        RewardFactory(available_until=now - timedelta(seconds=1)),
    ):
        with pytest.raises(RewardUnavailable) as error:
            reward_redeem(member=rich_member, reward=reward, now=now)
        assert (error.value.code, error.value.status_code) == ("reward_unavailable", 422)
    window = RewardFactory(available_from=now - timedelta(days=1), available_until=now + timedelta(days=1))
    assert reward_redeem(member=rich_member, reward=window, now=now).reward == window


def test_reward_insufficient_points_leaves_stock_alone(program, member):
    give(member, 50)
    reward = RewardFactory(cost_points=100, stock=3)
    with pytest.raises(InsufficientPoints):
        reward_redeem(member=member, reward=reward)
    reward.refresh_from_db()
    assert reward.stock == 3 and not Redemption.objects.exists()


def test_reward_member_inactive(program, rich_member):
    rich_member.status = MemberStatus.SUSPENDED
    rich_member.save()
    with pytest.raises(MemberInactive):
        reward_redeem(member=rich_member, reward=RewardFactory())


def test_partner_voucher_draws_codes_in_order_and_runs_out(program, rich_member):
    reward = RewardFactory(kind=RewardKind.PARTNER_VOUCHER, partner_name="Cinema")
    voucher_codes_import(reward=reward, codes=["CIN-1", "CIN-2"])
    first = reward_redeem(member=rich_member, reward=reward)
    second = reward_redeem(member=rich_member, reward=reward)
    assert (first.voucher.code, second.voucher.code) == ("CIN-1", "CIN-2")
    assert first.voucher.assigned_at is not None
    with pytest.raises(OutOfStock):
        reward_redeem(member=rich_member, reward=reward)
    # a cancelled redemption keeps its code: it was shown, so it is never handed out again
    redemption_cancel(redemption=first)
    with pytest.raises(OutOfStock):
        reward_redeem(member=rich_member, reward=reward)
    assert VoucherCode.objects.get(code="CIN-1").redemption == first


def test_charity_totals_per_charity_without_cancelled(program, rich_member):
    red_cross = RewardFactory(kind=RewardKind.CHARITY_DONATION, charity_name="Red Cross", value="5.00", cost_points=500)
    unicef = RewardFactory(kind=RewardKind.CHARITY_DONATION, charity_name="UNICEF", value="2.00", cost_points=200)
    reward_redeem(member=rich_member, reward=red_cross)
    reward_redeem(member=rich_member, reward=red_cross)
    redemption_cancel(redemption=reward_redeem(member=rich_member, reward=unicef))
    reward_redeem(member=rich_member, reward=unicef)
    # renaming the reward later does not move money already donated
    Reward.objects.filter(pk=unicef.pk).update(charity_name="UNICEF NL")
    assert charity_donation_totals() == [
        {"charity_name": "Red Cross", "currency": "EUR", "donations": 2, "points": 1000, "value": Decimal("10.00")},
        {"charity_name": "UNICEF", "currency": "EUR", "donations": 1, "points": 200, "value": Decimal("2.00")},
    ]


def test_catalogue_for_member_says_why_a_reward_is_blocked(program, member):
    give(member, 150)
    gold = Tier.objects.create(code="gold", name="Gold", rank=2, threshold=1000)
    ok = RewardFactory(cost_points=100)
    tier = RewardFactory(cost_points=10, min_tier=gold)
    empty = RewardFactory(cost_points=10, stock=0)
    pricey = RewardFactory(cost_points=1000)
    later = RewardFactory(cost_points=10, available_from=timezone.now() + timedelta(days=3))
    RewardFactory(active=False)
    catalogue = reward_catalogue_for_member(member=member, available_points=150)
    items = {item["reward"].pk: item["blocker"] for item in catalogue}
    assert items == {ok.pk: "", tier.pk: "tier_required", empty.pk: "out_of_stock",
                     pricey.pk: "insufficient_points", later.pk: "reward_unavailable"}


# -- cancelling --------------------------------------------------------------------------------------


def test_cancel_returns_points_to_the_same_lots_and_stock(program, member):
    now = timezone.now()
    soon = give(member, 100, expires_at=now + timedelta(days=10)).lots.get()
    later = give(member, 200, expires_at=now + timedelta(days=40)).lots.get()
    untouched = give(member, 50, expires_at=None).lots.get()
    reward = RewardFactory(cost_points=180, stock=1)
    redemption = reward_redeem(member=member, reward=reward)
    lots = {lot.pk: lot.remaining for lot in PointLot.objects.filter(member=member)}
    assert lots == {soon.pk: 0, later.pk: 120, untouched.pk: 50}

    cancelled = redemption_cancel(redemption=redemption, reason="changed my mind")

    lots = {lot.pk: lot.remaining for lot in PointLot.objects.filter(member=member)}
    assert lots == {soon.pk: 100, later.pk: 200, untouched.pk: 50}
    assert cancelled.status == RedemptionStatus.CANCELLED and cancelled.cancelled_at is not None
    back = cancelled.cancel_transaction
    assert back.kind == TransactionKind.CANCEL_REDEMPTION and back.points == 180
    assert {(a.lot_id, a.points) for a in LotAllocation.objects.filter(transaction=back)} == {
        (soon.pk, -100), (later.pk, -80)}
    reward.refresh_from_db()
    assert reward.stock == 1
    assert available(member) == 350
    assert ledger_verify() == []


def test_cancel_twice_is_already_cancelled(program, rich_member):
    redemption = reward_redeem(member=rich_member, reward=RewardFactory(stock=5))
    redemption_cancel(redemption=redemption)
    with pytest.raises(AlreadyCancelled) as error:
        redemption_cancel(redemption=redemption)
    assert (error.value.code, error.value.status_code) == ("already_cancelled", 409)
    assert available(rich_member) == 10_000
    assert Reward.objects.get().stock == 5
    assert LedgerTransaction.objects.filter(kind=TransactionKind.CANCEL_REDEMPTION).count() == 1


def test_cancel_a_used_coupon_is_refused(program, rich_member):
    redemption = points_redeem_for_discount(member=rich_member, points=100)
    coupon_use(code=redemption.code, order_id="B-1")
    with pytest.raises(CouponUsed) as error:
        redemption_cancel(redemption=redemption)
    assert (error.value.code, error.value.status_code) == ("coupon_used", 409)
    assert available(rich_member) == 9_900
    assert not LedgerTransaction.objects.filter(kind=TransactionKind.CANCEL_REDEMPTION).exists()


def test_cancel_refuses_when_the_coupon_was_used_meanwhile(program, rich_member, monkeypatch):
    """The status is checked again under the lock, after the points were returned: that return rolls back."""
    from rewards import services

    redemption = points_redeem_for_discount(member=rich_member, points=100)
    Redemption.objects.filter(pk=redemption.pk).update(status=RedemptionStatus.USED, used_at=timezone.now())
    original_refuse = services._refuse
    calls = []

    def first_check_passes(redemption, *, allow_used):
        calls.append(redemption.status)  # the first (unlocked) check sees it as issued: a race
        if len(calls) > 1:
            original_refuse(redemption, allow_used=allow_used)

    monkeypatch.setattr(services, "_refuse", first_check_passes)
    with pytest.raises(CouponUsed):
        redemption_cancel(redemption=redemption)
    assert len(calls) == 2
    assert available(rich_member) == 9_900
    assert not LedgerTransaction.objects.filter(kind=TransactionKind.CANCEL_REDEMPTION).exists()


def test_an_expired_unused_coupon_can_be_cancelled(program, rich_member):
    now = timezone.now()
    redemption = points_redeem_for_discount(member=rich_member, points=100, now=now - timedelta(days=400))
    assert redemptions_expire(as_of=now) == 1
    assert redemption_cancel(redemption=redemption).status == RedemptionStatus.CANCELLED
    assert available(rich_member) == 10_000


# -- using coupons -----------------------------------------------------------------------------------


def test_coupon_is_used_once(program, rich_member, api_store):
    redemption = points_redeem_for_discount(member=rich_member, points=100, store=api_store)
    used = coupon_use(code=redemption.code.lower().replace("-", ""), order_id="B-7", store=api_store)
    assert used.status == RedemptionStatus.USED and used.used_order_id == "B-7" and used.used_at is not None
    assert used.used_store == api_store
    with pytest.raises(CouponUsed) as error:
        coupon_use(code=redemption.code, order_id="B-8")
    assert (error.value.code, error.value.status_code) == ("coupon_used", 409)
    assert Redemption.objects.get().used_order_id == "B-7"


def test_coupon_expired(program, rich_member):
    now = timezone.now()
    redemption = points_redeem_for_discount(member=rich_member, points=100, now=now - timedelta(days=91))
    assert redemption.status_at(now) == RedemptionStatus.EXPIRED
    with pytest.raises(CouponExpired) as error:
        coupon_use(code=redemption.code, order_id="C-1", now=now)
    assert (error.value.code, error.value.status_code) == ("coupon_expired", 409)
    redemption.refresh_from_db()
    assert redemption.status == RedemptionStatus.EXPIRED and redemption.used_at is None


def test_coupon_unknown_or_malformed(program):
    for code in ("AAAA-BBBB-CCCC-DDDD", "nonsense", ""):
        with pytest.raises(CouponNotFound) as error:
            coupon_use(code=code, order_id="X")
        assert (error.value.code, error.value.status_code) == ("not_found", 404)


def test_cancelled_coupon_cannot_be_used(program, rich_member):
    redemption = points_redeem_for_discount(member=rich_member, points=100)
    redemption_cancel(redemption=redemption)
    with pytest.raises(AlreadyCancelled):
        coupon_use(code=redemption.code, order_id="X")


def test_redemptions_expire_is_set_based_and_idempotent(program, rich_member):
    now = timezone.now()
    old = points_redeem_for_discount(member=rich_member, points=100, now=now - timedelta(days=100))
    fresh = points_redeem_for_discount(member=rich_member, points=100, now=now)
    assert redemptions_expire(as_of=now, dry_run=True) == 1
    assert Redemption.objects.get(pk=old.pk).status == RedemptionStatus.ISSUED
    assert redemptions_expire(as_of=now) == 1
    assert redemptions_expire(as_of=now) == 0
    assert Redemption.objects.get(pk=old.pk).status == RedemptionStatus.EXPIRED
    assert Redemption.objects.get(pk=fresh.pk).status == RedemptionStatus.ISSUED


# -- a full refund cancels pay-with-points redemptions of the order -----------------------------------


def _refund(purchase, amount, refund_id, *, full):
    with transaction.atomic():
        refund = Refund.objects.create(purchase=purchase, refund_id=refund_id, amount=amount)
        purchase_refunded.send(sender=Purchase, purchase=purchase, refund=refund, full=full)
    return refund


def test_full_refund_cancels_the_orders_pay_with_points_redemptions(program, member, api_store):
    give(member, 1000)
    other_store = Store.objects.create(slug="web", name="Web")
    purchase = Purchase.objects.create(
        store=api_store, member=member, order_id="ORD-1", total=Decimal("40.00"), currency="EUR",
        occurred_at=timezone.now(),
    )
    unused = points_redeem_for_discount(member=member, points=100, order_id="ORD-1", store=api_store)
    used = points_redeem_for_discount(member=member, points=200, order_id="ORD-1", store=api_store)
    coupon_use(code=used.code, order_id="ORD-1", store=api_store)
    already = points_redeem_for_discount(member=member, points=50, order_id="ORD-1", store=api_store)
    redemption_cancel(redemption=already)
    other_order = points_redeem_for_discount(member=member, points=10, order_id="ORD-2", store=api_store)
    other_shop = points_redeem_for_discount(member=member, points=20, order_id="ORD-1", store=other_store)
    assert available(member) == 1000 - 100 - 200 - 10 - 20

    _refund(purchase, Decimal("10.00"), "R-1", full=False)
    assert Redemption.objects.filter(status=RedemptionStatus.CANCELLED).count() == 1

    _refund(purchase, Decimal("30.00"), "R-2", full=True)

    statuses = {r.pk: r.status for r in Redemption.objects.all()}
    assert statuses[unused.pk] == statuses[used.pk] == statuses[already.pk] == RedemptionStatus.CANCELLED
    assert statuses[other_order.pk] == statuses[other_shop.pk] != RedemptionStatus.CANCELLED
    assert Redemption.objects.get(pk=used.pk).used_at is not None  # kept as history
    assert available(member) == 1000 - 10 - 20
    assert LedgerTransaction.objects.filter(kind=TransactionKind.CANCEL_REDEMPTION).count() == 3
    assert ledger_verify() == []


def test_full_refund_also_cancels_a_coupon_used_on_that_order(program, member, api_store):
    give(member, 1000)
    purchase = Purchase.objects.create(
        store=api_store, member=member, order_id="ORD-9", total=Decimal("40.00"), currency="EUR",
        occurred_at=timezone.now(),
    )
    redemption = points_redeem_for_discount(member=member, points=300, store=api_store)  # no order id yet
    coupon_use(code=redemption.code, order_id="ORD-9", store=api_store)
    _refund(purchase, Decimal("40.00"), "R-1", full=True)
    assert Redemption.objects.get(pk=redemption.pk).status == RedemptionStatus.CANCELLED
    assert available(member) == 1000


def test_refund_service_end_to_end(program, member, api_store):
    """With the real purchase and refund services: a full refund gives the discount's points back."""
    from loyalty.services.purchases import purchase_record, refund_record

    give(member, 500)
    redemption = points_redeem_for_discount(
        member=member, points=200, order_id="SHOP-1", subtotal=Decimal("30.00"), store=api_store
    )
    purchase, _created = purchase_record(
        store=api_store, member=member, order_id="SHOP-1", total="28.00", currency="EUR"
    )
    earned = purchase.points_base + purchase.points_bonus
    assert available(member) == 300 + earned
    refund_record(store=api_store, purchase=purchase, refund_id="r1", amount="8.00")
    assert Redemption.objects.get(pk=redemption.pk).status == RedemptionStatus.ISSUED
    refund_record(store=api_store, purchase=purchase, refund_id="r2", amount="20.00")
    assert Redemption.objects.get(pk=redemption.pk).status == RedemptionStatus.CANCELLED
    assert available(member) == 500
    assert ledger_verify() == []


# -- voucher pools -----------------------------------------------------------------------------------


def test_voucher_csv_parsing():
    data = "\ufeffcode\nAAA-1\n\n  BBB-2  ,extra\nAAA-1\n".encode()
    assert voucher_codes_from_csv(data=data) == ["AAA-1", "BBB-2", "AAA-1"]
    assert voucher_codes_from_csv(data="X1\nX2\n") == ["X1", "X2"]
    with pytest.raises(RedemptionError):
        voucher_codes_from_csv(data=b"\xff\xfe\x00bad")


def test_voucher_import_counts_duplicates_and_invalid(program):
    reward = RewardFactory(kind=RewardKind.PARTNER_VOUCHER)
    first = voucher_codes_import(reward=reward, codes=["A", "B", "A", "", "x" * 101, "bad\x00"])
    assert (first.created, first.duplicates, first.invalid) == (2, 1, 3)
    second = voucher_codes_import(reward=reward, codes=["B", "C"])
    assert (second.created, second.duplicates, second.invalid) == (1, 1, 0)
    assert sorted(reward.voucher_codes.values_list("code", flat=True)) == ["A", "B", "C"]
    with pytest.raises(RedemptionError):
        voucher_codes_import(reward=RewardFactory(), codes=["Z"])


# -- configuration -----------------------------------------------------------------------------------


def test_reward_delete_deactivates_when_redeemed(program, rich_member):
    kept = RewardFactory()
    reward_redeem(member=rich_member, reward=kept)
    assert reward_delete(reward=kept) is False
    kept.refresh_from_db()
    assert kept.active is False
    gone = RewardFactory(kind=RewardKind.PARTNER_VOUCHER)
    voucher_codes_import(reward=gone, codes=["A"])
    assert reward_delete(reward=gone) is True
    assert not Reward.objects.filter(pk=gone.pk).exists() and not VoucherCode.objects.exists()


def test_cashback_must_be_worth_less_than_a_discount(program):
    from django.core.exceptions import ValidationError

    reward = Reward(code="cash", name="Cash", kind=RewardKind.CASHBACK, cost_points=1000, value=Decimal("10.00"))
    with pytest.raises(ValidationError) as error:
        reward.full_clean()
    assert "value" in error.value.message_dict
    reward.value = Decimal("8.00")
    reward.full_clean()


def test_system_redeemed_account_receives_the_points(program, rich_member):
    redemption = reward_redeem(member=rich_member, reward=RewardFactory(cost_points=400))
    entries = {e.account.kind: e.points for e in redemption.transaction.entries.select_related("account")}
    assert entries == {AccountKind.AVAILABLE: -400, AccountKind.REDEEMED: 400}
