"""WooCommerce order webhooks: a store points its `order.created` / `order.updated` webhooks at us.

- Every delivery is signed: `X-WC-Webhook-Signature` = base64(HMAC-SHA256(raw body, store secret)),
  compared in constant time. WooCommerce's ping on webhook creation (`webhook_id=123`, form-encoded,
  unsigned) is answered 200 and changes nothing.
- Orders in `processing` or `completed` earn once (the order id is the purchase's order id, so later
  updates of the same order do not earn again). The customer is matched by billing email; an unknown
  email is enrolled when the store allows it (`Store.auto_enroll`), else the order is ignored.
- Each entry of the order's `refunds` array is recorded once (refund id = WooCommerce's refund id);
  `cancelled`, `refunded` and `failed` orders reverse whatever is left (refund id `wc-<status>`).
- A delivery id seen before for the store with the same body is a duplicate: it gets the first answer
  again and changes nothing. (WooCommerce derives delivery ids from the webhook id and the current second,
  so two different deliveries can share one; those are processed, each step being idempotent anyway.)
- Business refusals (unknown customer, suspended member, wrong currency, nonsensical totals) answer 200
  with `result: "ignored"` and a reason, so WooCommerce does not count them as failed deliveries and
  disable the webhook; they are logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import parse_qs

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from loyalty.inputs import MAX_JSON_DEPTH, JsonInputError, JsonTooDeep, json_loads, plain_decimal_text
from loyalty.models import Purchase, Store
from loyalty.services.idempotency import idempotency_claim, idempotency_record
from loyalty.services.ledger import IdempotencyConflict, LedgerError
from loyalty.services.purchases import (
    MAX_MONEY,
    ZERO,
    CurrencyMismatch,
    MemberInactive,
    OrderConflict,
    PurchaseInvalid,
    RefundExceedsPurchase,
    purchase_record,
    refund_record,
    refund_remaining,
)
from members.models import Member
from members.services import MemberExists, member_create, member_get_by_email

logger = logging.getLogger(__name__)

EARNING_STATUSES = frozenset({"processing", "completed"})
REVERSING_STATUSES = frozenset({"cancelled", "refunded", "failed"})
CENT = Decimal("0.01")


class WebhookUnauthorized(LedgerError):
    code = "unauthorized"
    status_code = 401


class WebhookInvalid(LedgerError):
    code = "invalid"
    status_code = 422


# -- signature and ping ----------------------------------------------------------------------------


def woocommerce_signature(*, secret: str, body: bytes) -> str:
    """What WooCommerce sends in X-WC-Webhook-Signature for `body`."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def woocommerce_signature_valid(*, secret: str, body: bytes, signature: str) -> bool:
    if not secret or not signature:
        return False
    expected = woocommerce_signature(secret=secret, body=body)
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def woocommerce_is_ping(body: bytes) -> bool:
    """WooCommerce's test delivery when a webhook is saved: the form-encoded body `webhook_id=<n>`."""
    if len(body) > 100 or body.lstrip().startswith((b"{", b"[")):
        return False
    try:
        fields = parse_qs(body.decode("ascii"), strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return False
    return set(fields) == {"webhook_id"} and len(fields["webhook_id"]) == 1 and fields["webhook_id"][0].isdigit()


# -- payload mapping -------------------------------------------------------------------------------


def _money(value: Any, field: str) -> Decimal:
    """An amount as WooCommerce writes it: a plain decimal string ("125.75"; line totals of prices with tax
    may have more decimals, rounded here to the cent), missing or empty for zero. Anything else (exponents,
    NaN, Infinity, beyond what a purchase can hold) is unreadable: WebhookInvalid, with the field at fault."""
    if value is None or value == "":
        return ZERO
    text = plain_decimal_text(value)
    amount = Decimal(text) if text is not None and len(text) <= 40 else None
    if amount is None or abs(amount) > MAX_MONEY:
        message = _("%(value)s is not an amount.") % {"value": str(value)[:50]}
        raise WebhookInvalid(message, {field: [message]})
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _quantity(value: Any) -> int | None:
    """A line's quantity, whole units (a shop selling by weight may send "1.5"); None if unreadable."""
    text = plain_decimal_text(value)
    if text is None or len(text) > 20:
        return None
    return int(Decimal(text))


def _when(order: dict[str, Any], now: datetime) -> datetime | None:
    """The order's time: paid, else created (WooCommerce's *_gmt fields are UTC without an offset)."""
    for name in ("date_paid_gmt", "date_created_gmt", "date_paid", "date_created"):
        raw = order.get(name)
        if not raw or not isinstance(raw, str):
            continue
        try:
            parsed = parse_datetime(raw)
        except ValueError:
            parsed = None
        if parsed is None:
            continue
        if timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=UTC) if name.endswith("_gmt") else timezone.make_aware(parsed)
        return min(parsed, now)  # a shop clock a little ahead of ours must not make the order "future"
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def order_lines(order: dict[str, Any]) -> list[dict[str, Any]]:
    """WooCommerce line_items as purchase lines: the line `total` is after coupons and before tax.

    The order payload carries no product categories, so only SKU earning rules apply to webhook orders.
    """
    lines = []
    for item in _list(order.get("line_items")):
        if not isinstance(item, dict):
            continue
        quantity = _quantity(item.get("quantity"))
        amount = _money(item.get("total", item.get("subtotal")), "line_items")
        if quantity is None or quantity < 1 or amount < 0:
            continue  # more than MAX_QUANTITY goes on to the purchase, which refuses it
        lines.append({"sku": str(item.get("sku") or "")[:100], "quantity": quantity, "amount": amount})
    return lines


# -- results ---------------------------------------------------------------------------------------


@dataclass
class WebhookOutcome:
    result: str  # "ping", "recorded", "updated", "ignored"
    order_id: str = ""
    reason: str = ""
    detail: str = ""
    purchase: Purchase | None = None
    refunds: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"result": self.result}
        if self.order_id:
            body["order_id"] = self.order_id
        if self.reason:
            body["reason"], body["detail"] = self.reason, self.detail
        if self.purchase is not None:
            purchase = Purchase.objects.get(pk=self.purchase.pk)
            body["purchase"] = {
                "member": self.purchase.member.loyalty_id,
                "points": purchase.points_total,
                "refunded_total": f"{purchase.refunded_total:.2f}",
                "points_reversed": purchase.points_reversed,
            }
        if self.refunds:
            body["refunds"] = self.refunds
        return body


def _ignored(order_id: str, reason: str, detail: str) -> WebhookOutcome:
    logger.info("WooCommerce order %s ignored: %s (%s)", order_id, reason, detail)
    return WebhookOutcome(result="ignored", order_id=order_id, reason=reason, detail=detail)


# -- processing ------------------------------------------------------------------------------------


def _customer(store: Store, order: dict[str, Any]) -> Member | None:
    billing: dict[str, Any] = order.get("billing") if isinstance(order.get("billing"), dict) else {}  # type: ignore[assignment]  # a dict here
    email = str(billing.get("email") or "").strip()
    if not email:
        return None
    try:
        validate_email(email)
    except ValidationError:
        return None
    member = member_get_by_email(email=email)
    if member is not None or not store.auto_enroll:
        return member
    try:
        return member_create(
            email=email,
            first_name=str(billing.get("first_name") or "")[:100],
            last_name=str(billing.get("last_name") or "")[:100],
            phone=str(billing.get("phone") or "")[:30],
            store=store,
        )
    except MemberExists as exists:  # enrolled concurrently
        return exists.member


def woocommerce_order_process(*, store: Store, order: dict[str, Any], now: datetime | None = None) -> WebhookOutcome:
    """Apply one WooCommerce order payload: earn, record its refunds, reverse a cancelled order."""
    now = now or timezone.now()
    order_id = str(order.get("id") or "").strip()
    status = str(order.get("status") or "").strip()
    if not order_id or not status:
        return _ignored(order_id, "not_an_order", _("The payload has no order id or status."))
    if len(order_id) > 100:
        raise WebhookInvalid(_("The order id is too long."), {"id": [_("Ensure this field has no more than 100 "
                                                                     "characters.")]})
    purchase = Purchase.objects.select_related("member").filter(store=store, order_id=order_id).first()
    outcome = WebhookOutcome(result="updated", order_id=order_id)
    if purchase is None:
        if status not in EARNING_STATUSES:
            return _ignored(order_id, "status", _("Orders earn once they are processing or completed."))
        lines = order_lines(order)
        total, shipping = _money(order.get("total"), "total"), _money(order.get("shipping_total"), "shipping_total")
        tax = _money(order.get("total_tax"), "total_tax")
        if sum((line["amount"] for line in lines), Decimal("0")) > total - shipping - tax:
            lines = []  # e.g. a negative fee line: earn on total - shipping - tax instead
        member = _customer(store, order)
        if member is None:
            return _ignored(
                order_id, "unknown_customer", _("No member has the billing email, and this store does not enrol.")
            )
        try:
            purchase, created = purchase_record(
                store=store,
                member=member,
                order_id=order_id,
                total=total,
                currency=str(order.get("currency") or ""),
                occurred_at=_when(order, now),
                shipping=shipping,
                tax=tax,
                lines=lines,  # type: ignore[arg-type]  # purchase_record wants list[dict | Line] (invariant list)
                now=now,
            )
        except (MemberInactive, CurrencyMismatch, PurchaseInvalid, OrderConflict) as error:
            return _ignored(order_id, error.code, error.detail)
        outcome.result = "recorded" if created else "updated"
    outcome.purchase = purchase
    for entry in _list(order.get("refunds")):
        if not isinstance(entry, dict) or entry.get("id") in (None, ""):
            continue
        refund_id = str(entry["id"])
        try:
            refund, created = refund_record(
                store=store, purchase=purchase, refund_id=refund_id, amount=abs(_money(entry.get("total"), "refunds"))
            )
        except (RefundExceedsPurchase, PurchaseInvalid, OrderConflict) as error:
            logger.info("WooCommerce refund %s of order %s skipped: %s", refund_id, order_id, error.code)
            outcome.refunds.append({"refund_id": refund_id, "skipped": error.code})
            continue
        if created:
            outcome.refunds.append({"refund_id": refund_id, "points_reversed": refund.points_reversed})
    if status in REVERSING_STATUSES:
        purchase.refresh_from_db()
        done = refund_remaining(store=store, purchase=purchase, refund_id=f"wc-{status}")
        if done is not None and done[1]:
            outcome.refunds.append({"refund_id": done[0].refund_id, "points_reversed": done[0].points_reversed})
    return outcome


def woocommerce_delivery_receive(
    *, store: Store, body: bytes, signature: str, delivery_id: str = "", topic: str = ""
) -> tuple[int, dict[str, Any]]:
    """Handle one webhook delivery; returns (HTTP status, JSON body). Raises WebhookUnauthorized/Invalid."""
    if woocommerce_is_ping(body):
        return 200, {"result": "ping"}
    if not woocommerce_signature_valid(secret=store.woocommerce_secret, body=body, signature=signature):
        raise WebhookUnauthorized(
            _("The X-WC-Webhook-Signature header is missing or wrong.")
            if store.woocommerce_secret
            else _("This store has no WooCommerce webhook secret.")
        )
    if topic and not topic.startswith("order."):
        return 200, {"result": "ignored", "reason": "topic", "detail": _("Only order webhooks are used.")}
    delivery_id = delivery_id.strip()[:255]
    with transaction.atomic():  # the order's effects and the delivery's recorded response commit together
        claim = None
        if delivery_id:
            try:
                claim = idempotency_claim(
                    scope=f"wc:{store.pk}", key=delivery_id, request_hash=hashlib.sha256(body).hexdigest()
                )
            except IdempotencyConflict:
                pass  # the same delivery id with another body: a new delivery, handled (and not recorded)
            else:
                if claim.replay is not None:
                    status, first = claim.replay
                    return status, {**json.loads(first), "duplicate": True}
        order = _order_parse(body)
        status, response = 200, woocommerce_order_process(store=store, order=order).as_dict()
        if claim is not None:
            idempotency_record(claim, status=status, body=json.dumps(response).encode())
    return status, response


def _order_parse(body: bytes) -> dict[str, Any]:
    try:
        order = json_loads(body)
    except JsonTooDeep:
        raise WebhookInvalid(
            _("The JSON is nested more than %(depth)s levels deep.") % {"depth": MAX_JSON_DEPTH}
        ) from None
    except JsonInputError:
        raise WebhookInvalid(_("The body is not JSON.")) from None
    if not isinstance(order, dict):
        raise WebhookInvalid(_("The body is not a JSON object."))
    return order
