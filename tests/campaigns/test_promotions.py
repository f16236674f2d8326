from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Promotion, PromotionKind
from campaigns.services.promotions import PromotionInvalid, promotion_bonuses, promotion_create, promotion_update
from loyalty.models import Rounding, Store, Tier
from loyalty.services import earning as earning_module
from loyalty.services.earning import earning_calculate
from loyalty.services.program import program_get
from loyalty.services.purchases import purchase_record, refund_record
from members.models import User

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def calc(member, total="100.00", lines=None, at=NOW):
    return earning_calculate(member=member, total=Decimal(total), lines=lines, occurred_at=at)


def promo(**values):
    values.setdefault("name", "Promo")
    return promotion_create(**values)


def bonus_points(earning):
    return {line.rule: line.points for line in earning.bonus_lines}


def test_campaigns_registers_its_provider_with_the_pipeline():
    assert promotion_bonuses in earning_module._bonus_providers


def test_multiplier_promotion_adds_base_times_m_minus_one(member):
    double = promo(kind=PromotionKind.MULTIPLIER, multiplier=Decimal("2"))
    earning = calc(member, "40.00")
    assert (earning.base, earning.bonus, earning.total) == (40, 40, 80)
    assert earning.breakdown[1]["rule"] == f"promotion:{double.pk}"
    assert "Promo" in earning.breakdown[1]["description"]


def test_multiplier_restricted_to_skus_multiplies_only_those_lines(member):
    promo(kind=PromotionKind.MULTIPLIER, multiplier=Decimal("3"), skus=["MUG"])
    lines = [{"sku": "MUG", "quantity": 1, "amount": "10.00"}, {"sku": "TEE", "quantity": 1, "amount": "30.00"}]
    assert calc(member, "40.00", lines).bonus == 20
    assert calc(member, "30.00", lines[1:]).bonus == 0  # no MUG in the order


def test_multiplier_restricted_to_categories(member):
    promo(kind=PromotionKind.MULTIPLIER, multiplier=Decimal("1.5"), categories=["coffee"])
    lines = [
        {"sku": "B", "category": "coffee", "quantity": 1, "amount": "10.00"},
        {"sku": "C", "category": "tea", "quantity": 1, "amount": "10.00"},
    ]
    assert calc(member, "20.00", lines).bonus == 5


def test_flat_bonus(member):
    promo(kind=PromotionKind.FLAT, points=25)
    assert calc(member, "10.00").bonus == 25


def test_threshold_bonus_from_the_minimum_total(member):
    promo(kind=PromotionKind.THRESHOLD, min_total=Decimal("100.00"), multiplier=Decimal("2"))
    assert calc(member, "99.99").bonus == 0
    assert calc(member, "100.00").bonus == 100  # "double points on orders from 100"


def test_threshold_with_points(member):
    promo(kind=PromotionKind.THRESHOLD, min_total=Decimal("50.00"), points=10)
    assert calc(member, "50.00").bonus == 10


def test_first_purchase_bonus_only_once(member):
    store = Store.objects.create(slug="s", name="S")
    promo(kind=PromotionKind.FIRST_PURCHASE, points=50)
    first, _ = purchase_record(store=store, member=member, order_id="1", total="10.00", currency="EUR")
    second, _ = purchase_record(store=store, member=member, order_id="2", total="10.00", currency="EUR")
    assert (first.points_bonus, second.points_bonus) == (50, 0)


def test_fully_refunded_purchase_does_not_use_up_the_first_purchase_bonus(member):
    store = Store.objects.create(slug="s", name="S")
    promo(kind=PromotionKind.FIRST_PURCHASE, points=50)
    first, _ = purchase_record(store=store, member=member, order_id="1", total="10.00", currency="EUR")
    refund_record(store=store, purchase=first, refund_id="all", amount="10.00")
    again, _ = purchase_record(store=store, member=member, order_id="2", total="10.00", currency="EUR")
    assert again.points_bonus == 50


def test_promotions_stack_additively_each_rounded(member):
    program = program_get()
    program.rounding = Rounding.FLOOR
    program.save()
    promo(kind=PromotionKind.MULTIPLIER, multiplier=Decimal("1.25"))  # 0.25 x 15 = 3.75 -> 3
    promo(kind=PromotionKind.MULTIPLIER, multiplier=Decimal("1.25"))  # another 3 (not 7 from 7.5)
    promo(kind=PromotionKind.FLAT, points=5)
    assert calc(member, "15.00").bonus == 11


def test_only_the_largest_exclusive_applies_and_drops_the_others(member):
    promo(kind=PromotionKind.FLAT, points=100)  # non-exclusive, dropped
    small = promo(kind=PromotionKind.FLAT, points=5, exclusive=True)
    big = promo(kind=PromotionKind.MULTIPLIER, multiplier=Decimal("2"), exclusive=True)
    earning = calc(member, "40.00")
    assert bonus_points(earning) == {f"promotion:{big.pk}": 40}
    promotion_update(promotion=big, active=False)
    assert bonus_points(calc(member, "40.00")) == {f"promotion:{small.pk}": 5}


def test_exclusive_that_does_not_apply_leaves_the_others(member):
    promo(kind=PromotionKind.THRESHOLD, min_total=Decimal("500"), points=1000, exclusive=True)
    flat = promo(kind=PromotionKind.FLAT, points=7)
    assert bonus_points(calc(member, "40.00")) == {f"promotion:{flat.pk}": 7}


def test_tier_bonus_is_kept_beside_an_exclusive_promotion(member):
    member.tier = Tier.objects.create(code="gold", name="Gold", rank=1, multiplier=Decimal("1.5"))
    member.save()
    exclusive = promo(kind=PromotionKind.FLAT, points=3, exclusive=True)
    assert bonus_points(calc(member, "40.00")) == {"tier:gold": 20, f"promotion:{exclusive.pk}": 3}


def test_window_and_active_flag(member):
    promo(kind=PromotionKind.FLAT, points=10, starts_at=NOW - timedelta(days=1), ends_at=NOW + timedelta(days=1))
    promo(kind=PromotionKind.FLAT, points=100, starts_at=NOW + timedelta(days=1))
    promo(kind=PromotionKind.FLAT, points=1000, ends_at=NOW - timedelta(seconds=1))
    promo(kind=PromotionKind.FLAT, points=10000, active=False)
    assert calc(member).bonus == 10
    assert calc(member, at=NOW + timedelta(days=2)).bonus == 100  # the purchase time decides


def test_tier_restriction(member):
    gold = Tier.objects.create(code="gold", name="Gold", rank=1)
    promo(kind=PromotionKind.FLAT, points=10, tiers=["gold"])
    assert calc(member).bonus == 0
    member.tier = gold
    member.save()
    assert calc(member).bonus == 10


def test_excluded_lines_are_not_multiplied(member):
    from loyalty.models import EarningRule

    EarningRule.objects.create(sku="GIFT", excluded=True)
    promo(kind=PromotionKind.MULTIPLIER, multiplier=Decimal("2"), skus=["GIFT"])
    assert calc(member, "10.00", [{"sku": "GIFT", "quantity": 1, "amount": "10.00"}]).bonus == 0


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"kind": "multiplier"}, "multiplier"),
        ({"kind": "multiplier", "multiplier": Decimal("1")}, "multiplier"),
        ({"kind": "flat"}, "points"),
        ({"kind": "threshold", "points": 5}, "min_total"),
        ({"kind": "threshold", "min_total": Decimal("5")}, "points"),
        ({"kind": "first_purchase"}, "points"),
        ({"kind": "bogus", "points": 1}, "kind"),
        ({"kind": "flat", "points": 1, "tiers": ["nope"]}, "tiers"),
        ({"kind": "flat", "points": 1, "starts_at": NOW, "ends_at": NOW}, "ends_at"),
        ({"kind": "flat", "points": 1, "name": " "}, "name"),
    ],
)
def test_invalid_promotions(values, field):
    with pytest.raises(PromotionInvalid) as error:
        promo(**values)
    assert field in error.value.fields
    assert not Promotion.objects.exists()


def test_purchase_breakdown_lists_promotions(member):
    store = Store.objects.create(slug="s", name="S")
    promo(name="Double Days", kind=PromotionKind.MULTIPLIER, multiplier=Decimal("2"))
    purchase, _ = purchase_record(store=store, member=member, order_id="1", total="40.00", currency="EUR")
    assert purchase.points_total == 80 and purchase.lot.points == 80
    assert "Double Days" in purchase.breakdown[1]["description"]


# -- admin -----------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser(email="boss@example.com", password="pw-for-tests-only"))
    return client


def test_promotion_admin_creates_with_lists(staff_client):
    Tier.objects.create(code="gold", name="Gold", rank=1)
    response = staff_client.post(
        reverse("admin:campaigns_promotion_add"),
        {
            "name": "Mugs",
            "kind": "multiplier",
            "multiplier": "2",
            "skus": "MUG, CUP,MUG",
            "categories": "",
            "tiers": ["gold"],
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    promotion = Promotion.objects.get()
    assert (promotion.skus, promotion.categories, promotion.tiers) == (["MUG", "CUP"], [], ["gold"])
    page = staff_client.get(reverse("admin:campaigns_promotion_change", args=[promotion.pk]))
    assert "MUG, CUP" in page.content.decode()
    assert staff_client.get(reverse("admin:campaigns_promotion_changelist") + "?live=yes").status_code == 200


def test_promotion_admin_refuses_incomplete(staff_client):
    response = staff_client.post(reverse("admin:campaigns_promotion_add"), {"name": "X", "kind": "flat"})
    assert response.status_code == 200
    assert "A flat bonus needs a number of points." in response.content.decode()
    assert not Promotion.objects.exists()
