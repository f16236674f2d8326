from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.translation import override

from loyalty.models import EarningRule, Rounding, Tier
from loyalty.services.earning import (
    Bonus,
    EarningRuleInvalid,
    Line,
    breakdown_localize,
    earning_calculate,
    earning_rule_create,
    earning_rule_update,
    points_round,
    register_bonus_provider,
    unregister_bonus_provider,
)
from loyalty.services.program import program_get

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def program(**changes):
    program = program_get()
    for name, value in changes.items():
        setattr(program, name, value)
    program.save()
    return program


def calc(member, total, lines=None, shipping="0", tax="0", **kwargs):
    return earning_calculate(
        member=member,
        total=Decimal(total),
        shipping=Decimal(shipping),
        tax=Decimal(tax),
        lines=lines,
        occurred_at=NOW,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("value", "mode", "points"),
    [
        ("2.5", Rounding.ROUND, 3),
        ("2.5", Rounding.CEIL, 3),
        ("2.5", Rounding.FLOOR, 2),
        ("2.4999", Rounding.ROUND, 2),
        ("2.01", Rounding.CEIL, 3),
        ("2.99", Rounding.FLOOR, 2),
        ("3", Rounding.CEIL, 3),
        ("0", Rounding.ROUND, 0),
    ],
)
def test_points_round_modes(value, mode, points):
    assert points_round(Decimal(value), mode) == points


# The WooCommerce Points and Rewards examples (1 point per currency unit).


def test_woocommerce_lines_two_at_three_and_one_at_twelve_earn_eighteen(member):
    program(rounding=Rounding.ROUND)
    lines = [{"sku": "MUG", "quantity": 2, "amount": "6.00"}, {"sku": "TEE", "quantity": 1, "amount": "12.00"}]
    earning = calc(member, "18.00", lines)
    assert (earning.eligible_amount, earning.base, earning.total) == (Decimal("18.00"), 18, 18)


@pytest.mark.parametrize(("mode", "points"), [(Rounding.ROUND, 3), (Rounding.CEIL, 3), (Rounding.FLOOR, 2)])
def test_woocommerce_two_fifty_rounds_per_mode(member, mode, points):
    program(rounding=mode)
    assert calc(member, "2.50").total == points


def test_woocommerce_rounding_is_once_per_order_not_per_line(member):
    program(rounding=Rounding.FLOOR)
    lines = [{"sku": "A", "quantity": 1, "amount": "19.90"}, {"sku": "B", "quantity": 1, "amount": "79.90"}]
    assert calc(member, "99.80", lines).base == 99  # per line it would be 19 + 79 = 98


def test_without_lines_shipping_and_tax_do_not_earn(member):
    program()
    earning = calc(member, "30.00", shipping="4.95", tax="5.05")
    assert (earning.eligible_amount, earning.base) == (Decimal("20.00"), 20)


def test_tax_earns_when_the_program_says_so(member):
    program(include_tax=True)
    assert calc(member, "30.00", shipping="5.00", tax="5.00").base == 25
    lines = [{"sku": "A", "quantity": 1, "amount": "10.00"}, {"sku": "B", "quantity": 1, "amount": "10.00"}]
    assert calc(member, "24.00", lines, tax="4.00").base == 24


def test_tax_share_of_an_excluded_line_earns_nothing(member):
    program(include_tax=True)
    EarningRule.objects.create(sku="GIFT", excluded=True)
    lines = [{"sku": "GIFT", "quantity": 1, "amount": "10.00"}, {"sku": "B", "quantity": 1, "amount": "10.00"}]
    earning = calc(member, "24.00", lines, tax="4.00")
    assert (earning.eligible_amount, earning.base) == (Decimal("12.00"), 12)


def test_earn_rate_scales_the_base(member):
    program(earn_rate=Decimal("2.50"))
    assert calc(member, "10.00").base == 25


def test_excluded_sku_earns_nothing(member):
    program()
    EarningRule.objects.create(sku="GIFTCARD", excluded=True)
    lines = [{"sku": "GIFTCARD", "quantity": 1, "amount": "50.00"}, {"sku": "TEE", "quantity": 1, "amount": "20.00"}]
    earning = calc(member, "70.00", lines)
    assert (earning.eligible_amount, earning.base) == (Decimal("20.00"), 20)


def test_fixed_points_per_unit_ignore_the_amount(member):
    program()
    EarningRule.objects.create(sku="COFFEE", points_per_unit=Decimal("5"))
    lines = [{"sku": "COFFEE", "quantity": 3, "amount": "7.50"}]
    assert calc(member, "7.50", lines).base == 15


def test_sku_rule_wins_over_category_rule(member):
    program()
    EarningRule.objects.create(category="coffee", multiplier=Decimal("3"))
    EarningRule.objects.create(sku="DECAF", multiplier=Decimal("2"))
    lines = [{"sku": "DECAF", "category": "coffee", "quantity": 1, "amount": "10.00"}]
    assert calc(member, "10.00", lines).base == 20


def test_sku_rule_overrides_a_category_exclusion(member):
    program()
    EarningRule.objects.create(category="sale", excluded=True)
    EarningRule.objects.create(sku="HERO", multiplier=Decimal("1"))
    lines = [{"sku": "HERO", "category": "sale", "quantity": 1, "amount": "10.00"}]
    assert calc(member, "10.00", lines).base == 10


def test_highest_category_rule_wins(member):
    program()
    EarningRule.objects.create(category="shoes", multiplier=Decimal("2"))
    EarningRule.objects.create(category="summer", points_per_unit=Decimal("50"))
    EarningRule.objects.create(category="shoes", multiplier=Decimal("1.5"))
    lines = [{"sku": "SANDAL", "categories": ["shoes", "summer"], "quantity": 1, "amount": "10.00"}]
    assert calc(member, "10.00", lines).base == 50
    lines = [{"sku": "BOOT", "category": "shoes", "quantity": 1, "amount": "10.00"}]
    assert calc(member, "10.00", lines).base == 20


def test_category_exclusion_wins_over_other_categories(member):
    program()
    EarningRule.objects.create(category="shoes", multiplier=Decimal("2"))
    EarningRule.objects.create(category="clearance", excluded=True)
    lines = [{"sku": "X", "categories": ["shoes", "clearance"], "quantity": 1, "amount": "10.00"}]
    assert calc(member, "10.00", lines).base == 0


def test_inactive_rules_are_ignored(member):
    program()
    EarningRule.objects.create(sku="A", excluded=True, active=False)
    assert calc(member, "10.00", [{"sku": "A", "quantity": 1, "amount": "10.00"}]).base == 10


def test_tier_multiplier_adds_a_bonus_line_rounded_like_the_base(member):
    program(rounding=Rounding.FLOOR)
    gold = Tier.objects.create(code="gold", name="Gold", rank=3, multiplier=Decimal("1.25"))
    member.tier = gold
    member.save()
    earning = calc(member, "19.00")  # 19 x 0.25 = 4.75 -> 4 with floor
    assert (earning.base, earning.bonus, earning.total) == (19, 4, 23)
    assert earning.breakdown[1]["rule"] == "tier:gold"
    assert earning.breakdown[1]["points"] == 4


def test_breakdown_lists_base_then_bonuses_and_sums_to_the_total(member):
    program()
    earning = calc(member, "40.00")
    assert [entry["rule"] for entry in earning.breakdown] == ["base"]
    assert sum(entry["points"] for entry in earning.breakdown) == earning.total == 40
    assert "40.00 EUR" in earning.breakdown[0]["description"]


def test_breakdown_is_described_in_the_readers_language(member):
    program()
    stored = calc(member, "40.00").breakdown
    with override("en"):
        (entry,) = breakdown_localize(stored)
    assert set(entry) == {"rule", "description", "points"}
    assert entry["points"] == 40
    assert "EUR" in entry["description"]
    broken = [{"rule": "x", "description": "kept", "points": 1, "template": "%(missing)s", "params": {}}]
    assert breakdown_localize(broken)[0]["description"] == "kept"


def test_registered_bonus_provider_adds_rounded_lines(member):
    program(rounding=Rounding.CEIL)
    seen = {}

    def provider(context):
        seen["base"] = context.base
        seen["first"] = context.first_purchase
        return [
            Bonus(rule="test:1", template="Test bonus", points=Decimal("0.2")),
            Bonus(rule="test:0", template="Nothing", points=Decimal("0")),
        ]

    register_bonus_provider(provider)
    register_bonus_provider(provider)  # twice: still once
    try:
        earning = calc(member, "10.00")
    finally:
        unregister_bonus_provider(provider)
    assert seen == {"base": 10, "first": True}
    assert [(line.rule, line.points) for line in earning.bonus_lines] == [("test:1", 1)]
    assert earning.total == 11


def test_line_objects_and_dicts_are_equivalent(member):
    program()
    as_dicts = calc(member, "5.00", [{"sku": "A", "quantity": 1, "amount": "5.00"}])
    as_lines = calc(member, "5.00", [Line(sku="A", quantity=1, amount=Decimal("5.00"))])
    assert as_dicts.total == as_lines.total == 5


def test_first_purchase_is_false_once_the_member_bought(member):
    from loyalty.models import Store
    from loyalty.services.purchases import purchase_record

    program()
    store = Store.objects.create(slug="s", name="S")
    assert calc(member, "1.00").lines == []
    purchase_record(
        store=store, member=member, order_id="1", total="10.00", currency="EUR", occurred_at=NOW - timedelta(minutes=1)
    )
    seen = {}

    def provider(context):
        seen["first"] = context.first_purchase
        return []

    register_bonus_provider(provider)
    try:
        calc(member, "1.00")
    finally:
        unregister_bonus_provider(provider)
    assert seen == {"first": False}


def test_earning_rule_services_validate():
    with pytest.raises(EarningRuleInvalid) as both:
        earning_rule_create(sku="A", category="b")
    assert "sku" in both.value.fields
    with pytest.raises(EarningRuleInvalid):
        earning_rule_create()
    with pytest.raises(EarningRuleInvalid):
        earning_rule_create(sku="A", points_per_unit=Decimal("1"), multiplier=Decimal("2"))
    rule = earning_rule_create(sku="A", multiplier=Decimal("2"))
    with pytest.raises(EarningRuleInvalid) as duplicate:
        earning_rule_create(sku="A", excluded=True)
    assert duplicate.value.code == "invalid"
    earning_rule_update(rule=rule, active=False)
    assert earning_rule_create(sku="A", excluded=True).excluded
