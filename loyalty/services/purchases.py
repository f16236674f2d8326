"""Purchases earn points; refunds take them back in proportion. Used by the API, admin and webhooks.

A purchase posts ONE ledger transaction (kind `earn`) for its base and bonus points together, into one
lot: `Purchase.lot`, the lot its refunds take points from first. The breakdown on the purchase says
which part was base and which bonus.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from loyalty.inputs import too_early
from loyalty.models import AccountKind, Purchase, Refund, Store, Tier, TierMetric, TransactionKind
from loyalty.reasons import Reason
from loyalty.services.earning import Earning, Line, earning_calculate
from loyalty.services.ledger import (
    Audit,
    LedgerError,
    MemberInactive,
    MemberUpdate,
    member_posting_lock,
    points_credit_in_transaction,
    points_reverse,
)
from loyalty.services.program import lot_expiry, program_get
from loyalty.services.tiers import (
    member_tier_upgrade_apply,
    member_tier_upgrade_check_locked,
    member_tier_upgrade_wanted,
    tier_metric_member_update,
    tier_metric_plus,
    tiers_list_get,
)
from loyalty.signals import purchase_recorded, purchase_refunded
from members.models import Member

ZERO = Decimal("0")
CENT = Decimal("0.01")
MAX_MONEY = Decimal("9999999999.99")  # fits DecimalField(max_digits=12, decimal_places=2)
MAX_QUANTITY = 1_000_000


class PurchaseInvalid(LedgerError):
    code = "invalid"
    status_code = 422


class CurrencyMismatch(LedgerError):
    code = "currency_mismatch"
    status_code = 422


class OrderConflict(LedgerError):
    code = "order_conflict"
    status_code = 409


class RefundExceedsPurchase(LedgerError):
    code = "refund_exceeds_purchase"
    status_code = 422


class PurchaseNotFound(LedgerError):
    code = "not_found"
    status_code = 404


class MemberNotFound(LedgerError):
    """purchase_record was given a `loyalty_id` no member has."""

    code = "not_found"
    status_code = 404


# -- input checks ----------------------------------------------------------------------------------


def _money(value: Any, field: str, *, positive: bool = False) -> Decimal:
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise PurchaseInvalid(_("%(field)s is not an amount.") % {"field": field}, {field: [_("Not an amount.")]})
    if not amount.is_finite() or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise PurchaseInvalid(
            _("%(field)s must have at most 2 decimals.") % {"field": field},
            {field: [_("Ensure that there are no more than 2 decimal places.")]},
        )
    if amount < 0 or (positive and amount == 0):
        message = _("Must be greater than 0.") if positive else _("Must not be negative.")
        raise PurchaseInvalid(f"{field}: {message}", {field: [message]})
    if amount > MAX_MONEY:
        raise PurchaseInvalid(f"{field}: {_('Too large.')}", {field: [_("Too large.")]})
    return amount.quantize(CENT)


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _lines_clean(lines: list[dict[str, Any] | Line] | None) -> list[Line]:
    cleaned = []
    for index, raw in enumerate(lines or []):
        if isinstance(raw, Line):
            line = raw
        else:
            if not isinstance(raw, dict):
                raise PurchaseInvalid(_("Each line must be an object."), {"lines": [_("Each line must be an object.")]})
            quantity = _whole_number(raw.get("quantity", 1))
            if quantity is None or quantity < 1:
                raise PurchaseInvalid(
                    _("Line %(n)s: the quantity must be a whole number of at least 1.") % {"n": index + 1},
                    {"lines": [_("The quantity must be at least 1.")]},
                )
            amount = _money(raw.get("amount", "0"), "amount")
            line = Line.from_dict({**raw, "quantity": quantity, "amount": amount})
        if line.quantity < 1:
            raise PurchaseInvalid(
                _("The quantity must be at least 1."), {"lines": [_("The quantity must be at least 1.")]}
            )
        if line.quantity > MAX_QUANTITY:
            message = _("The quantity must be at most %(max)s.") % {"max": f"{MAX_QUANTITY:,}"}
            raise PurchaseInvalid(message, {"lines": [message]})
        if line.amount < 0:
            raise PurchaseInvalid(_("A line amount cannot be negative."), {"lines": [_("Must not be negative.")]})
        if len(line.sku) > 100 or any(len(c) > 100 for c in line.categories):
            raise PurchaseInvalid(
                _("SKUs and categories have at most 100 characters."),
                {"lines": [_("SKUs and categories have at most 100 characters.")]},
            )
        cleaned.append(line)
    return cleaned


def _line_json(line: Line) -> dict[str, Any]:
    data: dict[str, Any] = {"sku": line.sku, "quantity": line.quantity, "amount": f"{line.amount:.2f}"}
    if line.categories:
        data["category"] = line.categories[0]
        if len(line.categories) > 1:
            data["categories"] = list(line.categories)
    return data


def purchase_fingerprint(
    *,
    member: Member,
    total: Decimal,
    currency: str,
    occurred_at: datetime | None,
    shipping: Decimal,
    tax: Decimal,
    lines: list[Line],
) -> str:
    """A hash of what the purchase says, insensitive to formatting ("12.5" == "12.50", key order)."""
    data = {
        "member": member.loyalty_id,
        "total": f"{total:.2f}",
        "currency": currency,
        "occurred_at": occurred_at.astimezone(UTC).isoformat() if occurred_at else "",
        "shipping": f"{shipping:.2f}",
        "tax": f"{tax:.2f}",
        "lines": [_line_json(line) for line in lines],
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


# -- reads -----------------------------------------------------------------------------------------


def purchase_get(*, store: Store, order_id: str) -> Purchase:
    """The store's purchase with this order id (another store's orders are invisible), or PurchaseNotFound."""
    purchase = Purchase.objects.select_related("member", "lot", "store").filter(store=store, order_id=order_id).first()
    if purchase is None:
        raise PurchaseNotFound(_("No purchase with this order id."))
    return purchase


def purchase_status(purchase: Purchase) -> str:
    """`pending` while the purchase's points wait out the program's pending period, then `available`."""
    if purchase.lot is not None and purchase.lot.released_at is None:
        return "pending"
    return "available"


# -- recording a purchase --------------------------------------------------------------------------


# How the databases name a duplicate (store, order_id) in an IntegrityError: PostgreSQL, SQLite.
_DUPLICATE_ORDER = ("purchase_unique_store_order", "loyalty_purchase.store_id, loyalty_purchase.order_id")


class _AlreadyRecorded(Exception):
    """The order is already recorded (by an earlier or a concurrent request): roll back and replay it."""


def _replay(existing: Purchase, fingerprint: str) -> tuple[Purchase, bool]:
    if existing.request_hash != fingerprint:
        raise OrderConflict(
            _("Order %(order)s was already recorded with different details.") % {"order": existing.order_id}
        )
    return existing, False


def purchase_record(
    *,
    store: Store,
    member: Member | None = None,
    loyalty_id: str = "",
    order_id: str,
    total: Decimal | str,
    currency: str,
    occurred_at: datetime | None = None,
    shipping: Decimal | str = ZERO,
    tax: Decimal | str = ZERO,
    lines: list[dict[str, Any] | Line] | None = None,
    request_hash: str = "",
    staff_user=None,
    now: datetime | None = None,
) -> tuple[Purchase, bool]:
    """Record a purchase and credit the points it earns. Idempotent by (store, order_id).

    Returns (purchase, created). The same order again with the same details returns the recorded
    purchase (created False); with other details it raises OrderConflict. `request_hash` overrides the
    fingerprint used for that comparison (by default a hash of the normalised details).
    Give the `member`, or only their `loyalty_id` (the member is then read once, locked; MemberNotFound).
    """
    if member is None and not loyalty_id:
        raise TypeError("purchase_record needs a member or a loyalty_id")
    now = now or timezone.now()
    order_id = str(order_id or "").strip()
    if not order_id or len(order_id) > 100:
        raise PurchaseInvalid(_("An order id of 1 to 100 characters is required."), {"order_id": [_("Required.")]})
    total = _money(total, "total")
    shipping = _money(shipping or ZERO, "shipping")
    tax = _money(tax or ZERO, "tax")
    currency = str(currency or "").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise PurchaseInvalid(
            _("Use a three-letter ISO 4217 currency code."), {"currency": [_("Not a currency code.")]}
        )
    clean_lines = _lines_clean(lines)
    lines_sum = sum((line.amount for line in clean_lines), ZERO)
    if lines_sum > total:
        raise PurchaseInvalid(
            _("The lines add up to %(sum)s, more than the total %(total)s.") % {"sum": lines_sum, "total": total},
            {"lines": [_("The lines add up to more than the total.")]},
        )
    if shipping + tax > total:
        raise PurchaseInvalid(
            _("Shipping and tax add up to more than the total."), {"total": [_("Less than shipping plus tax.")]}
        )
    if occurred_at is not None:
        if timezone.is_naive(occurred_at):
            occurred_at = timezone.make_aware(occurred_at)
        if occurred_at > now:
            raise PurchaseInvalid(_("The purchase cannot be in the future."), {"occurred_at": [_("In the future.")]})
        if too_early(occurred_at):
            message = _("Use a date from the year 1900 on.")
            raise PurchaseInvalid(message, {"occurred_at": [message]})
    fingerprint = request_hash or purchase_fingerprint(
        member=member or Member(loyalty_id=loyalty_id),
        total=total,
        currency=currency,
        occurred_at=occurred_at,
        shipping=shipping,
        tax=tax,
        lines=clean_lines,
    )

    # New orders are the common case: no look-up first, the insert's unique constraint finds replays.
    program = program_get()
    if currency != program.currency:
        if member is None and not Member.objects.filter(loyalty_id=loyalty_id).exists():
            raise MemberNotFound(_("No member with this loyalty ID."))
        if (existing := Purchase.objects.filter(store=store, order_id=order_id).first()) is not None:
            return _replay(existing, fingerprint)
        raise CurrencyMismatch(
            _("This program runs in %(program)s, not %(currency)s.")
            % {"program": program.currency, "currency": currency}
        )
    try:
        purchase = _purchase_create(
            store=store,
            member=member,
            loyalty_id=loyalty_id,
            order_id=order_id,
            total=total,
            currency=currency,
            occurred_at=occurred_at or now,
            shipping=shipping,
            tax=tax,
            lines=clean_lines,
            fingerprint=fingerprint,
            program=program,
            staff_user=staff_user,
            now=now,
        )
    except _AlreadyRecorded:
        return _replay(Purchase.objects.get(store=store, order_id=order_id), fingerprint)
    return purchase, True


@transaction.atomic
def _purchase_create(
    *,
    store,
    member,
    loyalty_id,
    order_id,
    total,
    currency,
    occurred_at,
    shipping,
    tax,
    lines,
    fingerprint,
    program,
    staff_user,
    now,
) -> Purchase:
    # The member row lock serialises one member's purchases (first-purchase bonus, tier checks);
    # the unique (store, order_id) constraint settles concurrent posts of the same order.
    found = _member_lock("id", member.pk) if member is not None else _member_lock("loyalty_id", loyalty_id)
    if found is None:
        raise MemberNotFound(_("No member with this loyalty ID."))
    member, locked, purchase_id = found
    if not member.is_active_member:
        if Purchase.objects.filter(store=store, order_id=order_id).exists():
            raise _AlreadyRecorded  # a replay of an order recorded while the member was active
        raise MemberInactive(_("This member is %(status)s.") % {"status": member.get_status_display().lower()})
    earning = earning_calculate(
        member=member,
        total=total,
        shipping=shipping,
        tax=tax,
        lines=lines,
        occurred_at=occurred_at,
        program=program,
    )
    available_at = occurred_at + timedelta(days=program.pending_days) if program.pending_days else occurred_at
    purchase = Purchase(
        pk=purchase_id,
        store=store,
        member=member,
        order_id=order_id,
        total=total,
        currency=currency,
        shipping=shipping,
        tax=tax,
        lines=[_line_json(line) for line in lines],
        occurred_at=occurred_at,
        eligible_amount=earning.eligible_amount,
        points_base=earning.base,
        points_bonus=earning.bonus,
        breakdown=earning.breakdown,
        available_at=available_at,
        request_hash=fingerprint,
    )
    # No savepoint of its own: a duplicate order fails the purchase's insert and rolls back this whole
    # atomic block (purchase_record then answers with the recorded purchase). With its id known already
    # (PostgreSQL) the purchase is inserted by the credit's statement, else first, here.
    # The tier upgrade check, in the purchase's own transaction (one commit, and the member row is locked
    # already) instead of after the commit: the metric is computed and stored by the credit's own write.
    # A pending purchase changes no metric until released (the release checks); a member at the top tier
    # needs no check. No savepoint: if the check fails, the purchase fails with it and may be retried.
    purchase.tier_checked = True  # type: ignore[attr-defined]  # read by the tier signal receivers: nothing left to check after the commit
    tier_as_of = max(now, occurred_at)
    tier_check = available_at <= now and member_tier_upgrade_wanted(member=member)
    txn = None
    try:
        if purchase.pk is None or earning.total <= 0:
            purchase.save(force_insert=True)
        if earning.total > 0:
            plus = tier_metric_plus(occurred_at=occurred_at, as_of=tier_as_of, points=earning.total, total=total)
            txn = _purchase_credit(
                purchase,
                earning,
                available_at=available_at,
                expires_at=lot_expiry(program, occurred_at),
                staff_user=staff_user,
                now=now,
                member_update=tier_metric_member_update(member=member, as_of=tier_as_of, plus=plus)
                if tier_check else None,
                locked=locked,
            )
            txn.tier_checked = True
    except IntegrityError as error:
        if not any(name in str(error) for name in _DUPLICATE_ORDER):
            raise
        raise _AlreadyRecorded from None
    if tier_check and txn is not None:
        member_tier_upgrade_apply(member=member, metric=txn.member_update_value, as_of=tier_as_of)
    elif tier_check:  # no points earned; on the spend metric the purchase may still count
        member_tier_upgrade_check_locked(member=member, as_of=tier_as_of)
    transaction.on_commit(lambda: purchase_recorded.send(sender=Purchase, purchase=purchase, earning=earning))
    return purchase


def _member_lock(column: str, value) -> tuple[Member, Any, int | None] | None:
    """The member row, locked with its accounts (the ledger's member_posting_lock, for the purchase's credit),
    its tier from the tier cache, and on PostgreSQL an id for the new purchase taken from the purchases'
    sequence in the same round trip (None elsewhere: the insert assigns it)."""
    extra = []
    if connection.vendor == "postgresql":
        extra.append(("nextval(pg_get_serial_sequence(%s, 'id'))", [Purchase._meta.db_table]))
    found = member_posting_lock(column=column, value=value, system_kinds=[AccountKind.ISSUED], extra=extra)
    if found is None:
        return None
    member, locked, more = found
    if member.tier_id is not None:
        cached = next((tier for tier in tiers_list_get() if tier.pk == member.tier_id), None)
        member.tier = cached or Tier.objects.get(pk=member.tier_id)
    return member, locked, more[0] if more else None


def _purchase_credit(
    purchase: Purchase,
    earning: Earning,
    *,
    available_at: datetime,
    expires_at: datetime | None,
    staff_user=None,
    now: datetime,
    member_update: MemberUpdate | None = None,
    locked=None,
):
    txn = points_credit_in_transaction(  # no savepoint: any error rolls back the whole purchase
        member=purchase.member,
        points=earning.total,
        kind=TransactionKind.EARN,
        available_at=available_at,
        expires_at=expires_at,
        now=now,
        audit=Audit(
            reason=Reason(gettext_noop("Purchase %(order)s"), {"order": purchase.order_id}),
            reference=purchase.order_id,
            idempotency_key=f"purchase:{purchase.pk}",
            store=purchase.store,
            staff_user=staff_user,
            occurred_at=purchase.occurred_at,
            metadata={"purchase": purchase.pk, "base": earning.base, "bonus": earning.bonus},
        ),
        link=purchase,  # purchase.transaction and purchase.lot, written with the posting
        member_update=member_update,
        locked=locked,
    )
    if purchase.transaction_id != txn.pk:  # the key was used before: an earlier posting came back
        raise LedgerError(f"purchase {purchase.pk}: its credit key belongs to transaction {txn.pk}")
    return txn


# -- refunds ---------------------------------------------------------------------------------------


def refund_target(*, points: int, total: Decimal, refunded_total: Decimal) -> int:
    """Points reversed in total once `refunded_total` of `total` is refunded: round_half_up(P x R / T)."""
    if refunded_total >= total:
        return points
    if total <= 0:
        return 0
    exact = Decimal(points) * refunded_total / total
    return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


def refund_record(
    *, store: Store, purchase: Purchase, refund_id: str, amount: Decimal | str, staff_user=None
) -> tuple[Refund, bool]:
    """Record a refund and reverse its share of the purchase's points, cumulatively.

    After refunds totalling R of a purchase worth T that earned P points, exactly round_half_up(P x R / T)
    points have been reversed in total (all P when R = T). Idempotent by refund_id: the same refund again
    returns the recorded one (created False); the same refund_id with another amount is an OrderConflict.
    Points come from the purchase's own lot first, then FIFO, then as debt.
    """
    if purchase.store_id != store.pk:
        raise PurchaseNotFound(_("No purchase with this order id."))
    refund_id = str(refund_id or "").strip()
    if not refund_id or len(refund_id) > 100:
        raise PurchaseInvalid(_("A refund id of 1 to 100 characters is required."), {"refund_id": [_("Required.")]})
    amount = _money(amount, "amount", positive=True)
    with transaction.atomic():
        locked = Purchase.objects.select_for_update(of=("self",)).select_related("member", "lot").get(pk=purchase.pk)
        existing = Refund.objects.filter(purchase=locked, refund_id=refund_id).first()
        if existing is not None:
            if existing.amount != amount:
                raise OrderConflict(
                    _("Refund %(refund)s was already recorded with another amount.") % {"refund": refund_id}
                )
            return existing, False
        refunded_total = locked.refunded_total + amount
        if refunded_total > locked.total:
            raise RefundExceedsPurchase(
                _("Refunds would add up to %(refunded)s, more than the purchase total %(total)s.")
                % {"refunded": refunded_total, "total": locked.total}
            )
        target = refund_target(points=locked.points_total, total=locked.total, refunded_total=refunded_total)
        to_reverse = target - locked.points_reversed
        txn = None
        if to_reverse > 0:
            txn = points_reverse(
                member=locked.member,
                points=to_reverse,
                lot=locked.lot,
                audit=Audit(
                    reason=Reason(gettext_noop("Refund on order %(order)s"), {"order": locked.order_id}),
                    reference=locked.order_id,
                    idempotency_key=f"refund:{locked.pk}:{refund_id}",
                    store=store,
                    staff_user=staff_user,
                    metadata={"purchase": locked.pk, "refund_id": refund_id},
                ),
            )
        refund = Refund.objects.create(
            purchase=locked, refund_id=refund_id, amount=amount, points_reversed=max(to_reverse, 0), transaction=txn
        )
        # The exact decimal sum, computed under the purchase's lock: SQLite adds decimals as floats
        # (0.10 + 0.10 + 0.10 > 0.30), which the refunded-within-total constraint then refused.
        Purchase.objects.filter(pk=locked.pk).update(
            refunded_total=refunded_total, points_reversed=F("points_reversed") + max(to_reverse, 0)
        )
        if program_get().tier_metric == TierMetric.SPEND:  # the spend metric counts refunds (see MemberUpdate)
            Member.objects.filter(pk=locked.member_id).update(tier_metric_at=None)
        locked.refunded_total = refunded_total
        locked.points_reversed += max(to_reverse, 0)
        purchase_refunded.send(sender=Purchase, purchase=locked, refund=refund, full=refunded_total == locked.total)
    purchase.refresh_from_db()
    return refund, True


def refund_remaining(*, store: Store, purchase: Purchase, refund_id: str) -> tuple[Refund, bool] | None:
    """Refund whatever is left of the purchase (a cancelled order); None when nothing is left."""
    with transaction.atomic():
        locked = Purchase.objects.select_for_update(of=("self",)).get(pk=purchase.pk)
        existing = Refund.objects.filter(purchase=locked, refund_id=refund_id).first()
        if existing is not None:
            return existing, False
        remaining = locked.total - locked.refunded_total
        if remaining <= 0:
            return None
        return refund_record(store=store, purchase=locked, refund_id=refund_id, amount=remaining)
