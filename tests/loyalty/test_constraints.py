"""Every CheckConstraint and UniqueConstraint of the loyalty and members models holds in the database.

Each case writes around the services (the way a bug or a hand-written fix would) and must be stopped by
the database itself with an IntegrityError naming the constraint. A last test fails when a constraint is
added to a model without a case here.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, models, transaction

from loyalty.models import (
    AccountKind,
    ApiKey,
    ConfigVersion,
    EarningRule,
    ExpiryReminder,
    IdempotencyRecord,
    LedgerAccount,
    LedgerEntry,
    LotAllocation,
    PointLot,
    Program,
    Purchase,
    Refund,
    StaffAction,
    Store,
    Tier,
    TierMembership,
    TierReview,
)
from loyalty.models.ledger import SYSTEM_ACCOUNT_SHARDS
from loyalty.services.ledger import Audit, points_credit
from loyalty.services.program import program_get
from members.models import Member, User

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def world(member):
    """A few sound rows to write bad ones next to."""
    txn = points_credit(member=member, points=10, audit=Audit(reason="seed", idempotency_key="seed"), now=NOW)
    store = Store.objects.create(slug="shop", name="Shop")
    tier = Tier.objects.create(code="gold", name="Gold", rank=1)
    purchase = Purchase.objects.create(
        store=store, member=member, order_id="A1", total=Decimal("10"), currency="EUR", occurred_at=NOW,
        points_base=10,
    )
    return {
        "member": member, "txn": txn, "lot": PointLot.objects.get(transaction=txn), "store": store,
        "tier": tier, "purchase": purchase,
        "available": LedgerAccount.objects.get(member=member, kind=AccountKind.AVAILABLE),
        "pending": LedgerAccount.objects.get(member=member, kind=AccountKind.PENDING),
    }


def _lot(w, **overrides):
    fields = {"member": w["member"], "transaction": w["txn"], "points": 5, "remaining": 5, "earned_at": NOW,
              "available_at": NOW} | overrides
    return PointLot.objects.create(**fields)


def _tier_membership(w, **overrides):
    fields = {"member": w["member"], "tier": w["tier"], "store": w["store"], "order_id": "T1",
              "price": Decimal("5"), "currency": "EUR", "starts_at": NOW, "ends_at": NOW + timedelta(days=30)}
    return TierMembership.objects.create(**(fields | overrides))


def _purchase(w, **overrides):
    fields = {"store": w["store"], "member": w["member"], "order_id": "B1", "total": Decimal("10"),
              "currency": "EUR", "occurred_at": NOW} | overrides
    return Purchase.objects.create(**fields)


def _program(**overrides):
    program_get()
    Program.objects.filter(pk=1).update(**overrides)


def _second_member(w, **overrides):
    fields = {"email": "other@example.com", "loyalty_id": "9000000000000009", "referral_code": "OTHER234"}
    return Member.objects.create(**(fields | overrides))


def _system_account_twice(w):
    LedgerAccount.objects.get_or_create(member=None, kind=AccountKind.REDEEMED, shard=0)
    LedgerAccount.objects.create(member=None, kind=AccountKind.REDEEMED)


def _expiry_reminder_twice(w):
    ExpiryReminder.objects.create(member=w["member"], expires_on=date(2025, 2, 1), points=5, sent_at=NOW)
    ExpiryReminder.objects.create(member=w["member"], expires_on=date(2025, 2, 1), points=7, sent_at=NOW)


def _idempotency_record_twice(w):
    for _ in range(2):
        IdempotencyRecord.objects.create(scope="pos:1", key="k", request_hash="h", status_code=201, response_body=b"")


def _user_email_case(w):
    User.objects.create(email="Case@Example.com")
    User.objects.create(email="case@example.COM")


def _earning_rule_twice(w):
    EarningRule.objects.create(sku="SKU-1", multiplier=Decimal("2"))
    EarningRule.objects.create(sku="SKU-1", multiplier=Decimal("3"))


def _refund_twice(w):
    Refund.objects.create(purchase=w["purchase"], refund_id="R1", amount=Decimal("1"))
    Refund.objects.create(purchase=w["purchase"], refund_id="R1", amount=Decimal("2"))


# (constraint name, case id, bad write)
CASES = [
    # loyalty/models/audit.py
    ("staff_action_admin_has_user", "admin action without a staff user",
     lambda w: StaffAction.objects.create(kind="members_suspended", source="admin", staff_user=None, count=1)),
    # loyalty/models/ledger.py
    ("ledger_account_one_per_member_kind", "second available account",
     lambda w: LedgerAccount.objects.create(member=w["member"], kind=AccountKind.AVAILABLE)),
    ("ledger_account_one_system_account_per_kind_shard", "second system account", _system_account_twice),
    ("ledger_account_shard_of_system_accounts", "shard out of range",
     lambda w: LedgerAccount.objects.create(member=None, kind=AccountKind.ISSUED, shard=SYSTEM_ACCOUNT_SHARDS)),
    ("ledger_account_shard_of_system_accounts", "sharded member account",
     lambda w: LedgerAccount.objects.filter(pk=w["pending"].pk).update(shard=1)),
    ("ledger_account_kind_matches_owner", "member owns a system kind",
     lambda w: LedgerAccount.objects.create(member=w["member"], kind=AccountKind.ISSUED)),
    ("ledger_account_kind_matches_owner", "system account of a member kind",
     lambda w: LedgerAccount.objects.create(member=None, kind=AccountKind.PENDING)),
    ("ledger_account_pending_non_negative", "negative pending",
     lambda w: LedgerAccount.objects.filter(pk=w["pending"].pk).update(balance=-1)),
    ("ledger_entry_points_non_zero", "zero entry",
     lambda w: LedgerEntry.objects.create(transaction=w["txn"], account=w["available"], points=0)),
    ("point_lot_points_positive", "empty lot", lambda w: _lot(w, points=0, remaining=0)),
    ("point_lot_remaining_in_range", "negative remaining",
     lambda w: PointLot.objects.filter(pk=w["lot"].pk).update(remaining=-1)),
    ("point_lot_remaining_in_range", "remaining above points",
     lambda w: PointLot.objects.filter(pk=w["lot"].pk).update(remaining=11)),
    ("point_lot_remaining_in_range", "remaining plus expired above points",
     lambda w: PointLot.objects.filter(pk=w["lot"].pk).update(expired=1)),
    ("point_lot_expired_non_negative", "negative expired",
     lambda w: PointLot.objects.filter(pk=w["lot"].pk).update(expired=-1)),
    ("lot_allocation_points_non_zero", "zero allocation",
     lambda w: LotAllocation.objects.create(transaction=w["txn"], lot=w["lot"], points=0)),
    # loyalty/models/config.py
    ("config_version_one_row", "a second version row", lambda w: ConfigVersion.objects.create(pk=2)),
    # loyalty/models/stores.py
    ("api_key_scope_valid", "unknown scope",
     lambda w: ApiKey.objects.create(store=w["store"], prefix="abc", hashed_key="0" * 64, scope="root")),
    ("idempotency_record_unique_key", "same scope and key", _idempotency_record_twice),
    # loyalty/models/tiers.py
    ("tier_multiplier_at_least_one", "multiplier below one",
     lambda w: Tier.objects.create(code="low", name="Low", rank=2, multiplier=Decimal("0.5"))),
    ("tier_paid_needs_period", "price without period",
     lambda w: Tier.objects.create(code="paid", name="Paid", rank=3, price=Decimal("9.99"))),
    ("tier_paid_needs_period", "negative price",
     lambda w: Tier.objects.create(code="neg", name="Neg", rank=4, price=Decimal("-1"), period_months=12)),
    ("tier_membership_unique_order", "same store order twice",
     lambda w: (_tier_membership(w), _tier_membership(w))),
    ("tier_membership_unique_order_no_store", "same order without store twice",
     lambda w: (_tier_membership(w, store=None), _tier_membership(w, store=None))),
    ("tier_membership_period", "ends before it starts", lambda w: _tier_membership(w, ends_at=NOW)),
    ("tier_membership_price_non_negative", "negative price", lambda w: _tier_membership(w, price=Decimal("-1"))),
    ("tier_review_unique", "the same review twice",
     lambda w: [TierReview.objects.create(member=w["member"], due_at=NOW) for _twice in range(2)]),
    # loyalty/models/purchases.py
    ("purchase_unique_store_order", "same store order twice", lambda w: _purchase(w, order_id="A1")),
    ("purchase_total_non_negative", "negative total", lambda w: _purchase(w, total=Decimal("-0.01"))),
    ("purchase_refunded_within_total", "refunded more than total",
     lambda w: Purchase.objects.filter(pk=w["purchase"].pk).update(refunded_total=Decimal("10.01"))),
    ("purchase_refunded_within_total", "negative refunded",
     lambda w: Purchase.objects.filter(pk=w["purchase"].pk).update(refunded_total=Decimal("-1"))),
    ("purchase_reversed_within_awarded", "reversed more than awarded",
     lambda w: Purchase.objects.filter(pk=w["purchase"].pk).update(points_reversed=11)),
    ("purchase_reversed_within_awarded", "negative reversed",
     lambda w: Purchase.objects.filter(pk=w["purchase"].pk).update(points_reversed=-1)),
    ("refund_unique_per_purchase", "same refund id twice", _refund_twice),
    ("refund_amount_positive", "zero refund",
     lambda w: Refund.objects.create(purchase=w["purchase"], refund_id="R0", amount=Decimal("0"))),
    ("earning_rule_sku_xor_category", "both sku and category",
     lambda w: EarningRule.objects.create(sku="S", category="C", multiplier=Decimal("2"))),
    ("earning_rule_sku_xor_category", "neither sku nor category",
     lambda w: EarningRule.objects.create(multiplier=Decimal("2"))),
    ("earning_rule_points_per_unit_non_negative", "negative points per unit",
     lambda w: EarningRule.objects.create(sku="S", points_per_unit=Decimal("-1"))),
    ("earning_rule_multiplier_non_negative", "negative multiplier",
     lambda w: EarningRule.objects.create(category="C", multiplier=Decimal("-0.5"))),
    ("earning_rule_one_active_per_sku", "two active rules for one sku", _earning_rule_twice),
    ("expiry_reminder_once_per_date", "two reminders for one date", _expiry_reminder_twice),
    # loyalty/models/program.py
    ("program_single_row", "a second program row", lambda w: Program.objects.bulk_create([Program(pk=2)])),
    ("program_earn_rate_non_negative", "negative earn rate", lambda w: _program(earn_rate=Decimal("-1"))),
    ("program_point_value_positive", "zero point value", lambda w: _program(point_value=Decimal("0"))),
    ("program_max_discount_percent_range", "above 100 percent", lambda w: _program(max_discount_percent=101)),
    ("program_points_valid_days_positive", "zero validity", lambda w: _program(points_valid_days=0)),
    # members/models.py
    ("user_email_unique_ci", "same email other case", _user_email_case),
    ("member_email_unique_ci", "same email other case",
     lambda w: _second_member(w, email=w["member"].email.upper())),
    ("member_loyalty_id_digits", "too short", lambda w: _second_member(w, loyalty_id="12345")),
    ("member_loyalty_id_digits", "letters",
     lambda w: Member.objects.filter(pk=w["member"].pk).update(loyalty_id="90000000000000AB")),
    ("member_tier_floor_has_reason", "floor without reason",
     lambda w: Member.objects.filter(pk=w["member"].pk).update(tier_floor=w["tier"], tier_floor_reason="")),
    ("member_no_self_referral", "refers themself",
     lambda w: Member.objects.filter(pk=w["member"].pk).update(referred_by=w["member"].pk)),
    ("member_nickname_unique_ci", "same nickname in another case",
     lambda w: (Member.objects.filter(pk=w["member"].pk).update(nickname="Speedy"),
                _second_member(w, nickname="SPEEDY"))),
]


# A negative total also breaks 0 <= refunded_total <= total, and PostgreSQL may report either check.
ALSO_VIOLATED = {"purchase_total_non_negative": ["purchase_refunded_within_total"]}


def _mentions_constraint(message: str, name: str, constraint: models.BaseConstraint) -> bool:
    if any(candidate in message for candidate in [name, *ALSO_VIOLATED.get(name, [])]):
        return True
    # SQLite names a violated UNIQUE index only by its columns.
    return (
        connection.vendor == "sqlite"
        and isinstance(constraint, models.UniqueConstraint)
        and "UNIQUE constraint failed" in message
    )


def _all_constraints() -> dict[str, models.BaseConstraint]:
    found = {}
    for label in ("loyalty", "members"):
        for model in apps.get_app_config(label).get_models():
            for constraint in model._meta.constraints:
                if isinstance(constraint, models.CheckConstraint | models.UniqueConstraint):
                    found[constraint.name] = constraint
    return found


def _values(case):
    return case.values if hasattr(case, "values") else case


@pytest.mark.parametrize(("name", "case", "write"), CASES, ids=[f"{_values(c)[0]}: {_values(c)[1]}" for c in CASES])
def test_database_rejects_write_around_the_service(world, name, case, write):
    constraint = _all_constraints()[name]
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        write(world)
    assert _mentions_constraint(str(excinfo.value), name, constraint), str(excinfo.value)


def test_the_sound_rows_next_to_the_bad_ones_are_accepted(world):
    """The cases above fail because of the constraint, not because the row is otherwise broken."""
    _lot(world)
    _tier_membership(world)
    _purchase(world)
    _second_member(world)
    _program(earn_rate=Decimal("0"), max_discount_percent=100, points_valid_days=1)
    EarningRule.objects.create(sku="S", points_per_unit=Decimal("0"), multiplier=Decimal("0"))
    EarningRule.objects.create(sku="S", active=False)
    EarningRule.objects.create(category="C")
    Tier.objects.create(code="paid", name="Paid", rank=3, price=Decimal("0"), period_months=1)
    ApiKey.objects.create(store=world["store"], prefix="abc", hashed_key="0" * 64, scope="admin")
    Refund.objects.create(purchase=world["purchase"], refund_id="R1", amount=Decimal("0.01"))
    Purchase.objects.filter(pk=world["purchase"].pk).update(refunded_total=Decimal("10"), points_reversed=10)
    Member.objects.filter(pk=world["member"].pk).update(tier_floor=world["tier"], tier_floor_reason="VIP")
    LedgerAccount.objects.filter(pk=world["available"].pk).update(balance=-5)  # only pending must stay >= 0
    User.objects.create(email="a@example.com")
    User.objects.create(email="b@example.com")


def test_every_constraint_has_a_case():
    missing = sorted(set(_all_constraints()) - {_values(case)[0] for case in CASES})
    assert missing == [], f"add a case to tests/loyalty/test_constraints.py for: {missing}"
