"""Purchases and refunds (any key), and the SKU/category earning rules (admin scope)."""

import re
from decimal import Decimal

from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from loyalty.api.base import (
    LOYALTY_ID_PATTERN,
    NUMBERED_PAGE_PARAMETERS,
    AdminApi,
    PosApi,
    paginate,
    paginated,
)
from loyalty.api.errors import ErrorSerializer
from loyalty.api.fields import ApiDateTimeField, PlainDecimalField, money_field
from loyalty.api.misses import MEMBER_LOOKUP_LIMITED, MEMBER_LOOKUP_MISSES
from loyalty.models import EarningRule, Purchase
from loyalty.selectors import member_points_get
from loyalty.services.earning import (
    breakdown_localize,
    earning_rule_create,
    earning_rule_delete,
    earning_rule_update,
)
from loyalty.services.purchases import (
    CENT,
    MAX_QUANTITY,
    MemberNotFound,
    purchase_get,
    purchase_record,
    purchase_status,
    refund_record,
)

TAGS = ["purchases"]
TAGS_CONFIG = ["configuration"]
MAX_LINES = 500
ZERO = Decimal("0")


# -- the Purchase shape ----------------------------------------------------------------------------


class PurchasePointsSerializer(serializers.Serializer):
    base = serializers.IntegerField(help_text="Eligible amount x earn rate (with SKU/category rules), rounded once.")
    bonus = serializers.IntegerField(help_text="Tier and promotion bonuses.")
    total = serializers.IntegerField()


class BreakdownLineSerializer(serializers.Serializer):
    rule = serializers.CharField(help_text="`base`, `tier:<code>` or `promotion:<id>`.")
    description = serializers.CharField(help_text="Readable by the member, in the request's language.")
    points = serializers.IntegerField()


class MemberBalanceSerializer(serializers.Serializer):
    available = serializers.IntegerField()
    pending = serializers.IntegerField()


@extend_schema_field({"type": "string", "enum": ["pending", "available"]})
class PurchaseStatusField(serializers.CharField):
    """A CharField whose schema names the two statuses."""


class PurchaseSerializer(serializers.Serializer):
    """A recorded purchase and the points it earned."""

    order_id = serializers.CharField()
    member = serializers.CharField(help_text="The member's loyalty ID.")
    total = money_field()
    currency = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    eligible_amount = money_field(help_text="The part of the total that earned points.")
    points = PurchasePointsSerializer()
    breakdown = BreakdownLineSerializer(many=True, help_text="The base line first, then each bonus.")
    status = PurchaseStatusField(help_text="`pending` until `available_at` (the program's pending days).")
    available_at = serializers.DateTimeField()
    refunded_total = money_field()
    points_reversed = serializers.IntegerField()
    member_points = MemberBalanceSerializer(help_text="The member's balances after this request.")


# The response is built by hand from single fields (the shape of PurchaseSerializer, which documents it):
# DRF's nested to_representation cost more than the rest of the conversion on every purchase.
# tests/loyalty/test_api_purchases.py checks that both give the same body.
_MONEY_OUTPUT = money_field()
_TIME_OUTPUT = serializers.DateTimeField()


def purchase_representation(purchase: Purchase, balances: dict | None = None) -> dict:
    """`balances` ({available, pending}) when the caller has them already (read under the member's lock)."""
    points = balances or member_points_get(member=purchase.member)
    money, time = _MONEY_OUTPUT.to_representation, _TIME_OUTPUT.to_representation
    return {
        "order_id": purchase.order_id,
        "member": purchase.member.loyalty_id,
        "total": money(purchase.total),
        "currency": purchase.currency,
        "occurred_at": time(purchase.occurred_at),
        "eligible_amount": money(purchase.eligible_amount),
        "points": {"base": purchase.points_base, "bonus": purchase.points_bonus, "total": purchase.points_total},
        "breakdown": breakdown_localize(purchase.breakdown),
        "status": purchase_status(purchase),
        "available_at": time(purchase.available_at or purchase.occurred_at),
        "refunded_total": money(purchase.refunded_total),
        "points_reversed": purchase.points_reversed,
        "member_points": {"available": points["available"], "pending": points["pending"]},
    }


ORDER_ID_PARAMETER = OpenApiParameter(
    "order_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The order id the purchase was recorded with."
)
ORDER_NOT_FOUND = OpenApiResponse(
    ErrorSerializer, description=gettext_lazy("`not_found`: this store has no purchase with this order id.")
)


def _purchase_for(request, order_id: str) -> Purchase:
    return purchase_get(store=request.auth.store, order_id=order_id)  # PurchaseNotFound: 404 not_found


# -- purchases -------------------------------------------------------------------------------------


class PurchaseLineSerializer(serializers.Serializer):
    """One order line."""

    sku = serializers.CharField(max_length=100, allow_blank=True)
    category = serializers.CharField(max_length=100, required=False, allow_blank=True)
    categories = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        max_length=20,
        help_text="More categories of the product (the highest category rule wins).",
    )
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
    amount = money_field(help_text="The line total after line discounts (not the unit price).")


# -- the common case of a purchase body, read without DRF's field machinery --------------------------
# DRF's nested serializer validation cost about a millisecond per purchase, a tenth of the request. A
# well-formed body (the common case: amounts as "12.50" strings, plain ids) is read by these few checks
# instead; anything else, including every input DRF would refuse, goes through the InputSerializer, so
# errors keep their shape. tests/loyalty/test_api_purchases_input.py checks with Hypothesis that whatever
# the short cut accepts, the serializer accepts with the same result.

_MONEY_TEXT = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,2})?")
_LOYALTY_ID = re.compile(LOYALTY_ID_PATTERN)
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_OCCURRED_AT = ApiDateTimeField()
_LINE_KEYS = ("sku", "category", "categories", "quantity", "amount")
_MISSING = object()


def _money_text(value) -> Decimal | None:
    if type(value) is str and _MONEY_TEXT.fullmatch(value):
        return Decimal(value).quantize(CENT)
    return None


def _plain_text(value, *, max_length: int = 100, blank: bool = False) -> str | None:
    """A string DRF's CharField keeps as it is: no surrounding spaces, printable, within the length."""
    if type(value) is not str or len(value) > max_length or value.strip() != value:
        return None
    if not value:
        return value if blank else None
    return value if value.isprintable() else None


def _line_fast(raw) -> dict | None:
    if type(raw) is not dict:
        return None
    line: dict = {}
    sku = _plain_text(raw.get("sku", _MISSING), blank=True)
    quantity, amount = raw.get("quantity"), _money_text(raw.get("amount"))
    if sku is None or type(quantity) is not int or not 1 <= quantity <= MAX_QUANTITY or amount is None:
        return None
    line.update(sku=sku, quantity=quantity, amount=amount)
    if "category" in raw:
        if (category := _plain_text(raw["category"], blank=True)) is None:
            return None
        line["category"] = category
    if "categories" in raw:
        categories = raw["categories"]
        if type(categories) is not list or len(categories) > 20:
            return None
        cleaned = [_plain_text(item) for item in categories]
        if any(item is None for item in cleaned):
            return None
        line["categories"] = cleaned
    return {key: line[key] for key in _LINE_KEYS if key in line}


def purchase_input_fast(data) -> dict | None:
    """The InputSerializer's validated_data for a well-formed body, or None (then the serializer decides)."""
    if type(data) is not dict:
        return None
    member, order_id, currency = data.get("member"), _plain_text(data.get("order_id")), data.get("currency")
    total = _money_text(data.get("total"))
    if type(member) is not str or not _LOYALTY_ID.fullmatch(member) or order_id is None or total is None:
        return None
    if type(currency) is not str or not _CURRENCY.fullmatch(currency):
        return None
    result: dict = {"member": member, "order_id": order_id, "total": total, "currency": currency}
    for name in ("shipping", "tax"):
        value = _money_text(data[name]) if name in data else ZERO
        if value is None:
            return None
        result[name] = value
    if "occurred_at" in data:
        try:
            result["occurred_at"] = _OCCURRED_AT.run_validation(data["occurred_at"])
        except serializers.ValidationError:
            return None
        if result["occurred_at"] > timezone.now():
            return None
    if "lines" in data:
        lines = data["lines"]
        if type(lines) is not list or len(lines) > MAX_LINES:
            return None
        result["lines"] = [_line_fast(line) for line in lines]
        if any(line is None for line in result["lines"]):
            return None
        if sum((line["amount"] for line in result["lines"]), ZERO) > total:
            return None
    if result["shipping"] + result["tax"] > total:
        return None
    return result


class PurchaseRecordApi(PosApi):
    class InputSerializer(serializers.Serializer):
        member = serializers.RegexField(LOYALTY_ID_PATTERN, help_text="The member's 16-digit loyalty ID.")
        order_id = serializers.CharField(max_length=100, help_text="Unique per store; a retry is safe.")
        total = money_field(help_text='Order total, e.g. "59.90".')
        currency = serializers.RegexField(r"^[A-Za-z]{3}$", help_text="ISO 4217; must be the program's currency.")
        occurred_at = ApiDateTimeField(required=False, help_text="When the order was placed (default now).")
        shipping = money_field(required=False, default=ZERO)
        tax = money_field(required=False, default=ZERO)
        lines = PurchaseLineSerializer(  # type: ignore[call-arg]  # drf-stubs lack ListSerializer's max_length
            many=True, required=False, max_length=MAX_LINES)

        def validate_occurred_at(self, value):
            if value > timezone.now():
                raise serializers.ValidationError(_("The purchase cannot be in the future."))
            return value

        def validate(self, data):
            lines_sum = sum((line["amount"] for line in data.get("lines") or []), ZERO)
            if lines_sum > data["total"]:
                raise serializers.ValidationError({"lines": [_("The lines add up to more than the total.")]})
            if data["shipping"] + data["tax"] > data["total"]:
                raise serializers.ValidationError({"total": [_("The total is less than shipping plus tax.")]})
            return data

    @extend_schema(
        operation_id="purchases_create",
        tags=TAGS,
        summary="Record a purchase and award its points",
        request=InputSerializer,
        responses={
            201: PurchaseSerializer,
            200: OpenApiResponse(
                PurchaseSerializer,
                description=gettext_lazy(
                    "An identical replay of an order already recorded: the purchase as it is now."
                ),
            ),
            404: OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: unknown loyalty ID.")),
            409: OpenApiResponse(
                ErrorSerializer,
                description=gettext_lazy(
                    "`order_conflict`: this order id was recorded with other details; or `idempotency_conflict`."
                ),
            ),
            422: OpenApiResponse(
                ErrorSerializer,
                description=gettext_lazy(
                    "`invalid` (with `fields`: negative amounts, more than 2 decimals, quantity < 1, lines above the "
                    "total, a future `occurred_at`), `member_inactive`, `currency_mismatch`."
                ),
            ),
            429: MEMBER_LOOKUP_LIMITED,
        },
    )
    def post(self, request):
        """Earn points for an order: base points from the eligible amount (lines net of discounts, or
        total - shipping - tax), SKU/category rules, then tier and promotion bonuses. Idempotent by
        (store, order_id): the same order again answers 200 with the purchase; other details 409."""
        data = purchase_input_fast(request.data)
        if data is None:
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
        MEMBER_LOOKUP_MISSES.check(request.auth)
        try:  # the service reads the member once, locked (no read here first); PurchaseInvalid: 422 with fields
            purchase, created = purchase_record(
                store=request.auth.store,
                loyalty_id=data["member"],
                order_id=data["order_id"],
                total=data["total"],
                currency=data["currency"],
                occurred_at=data.get("occurred_at"),
                shipping=data["shipping"],
                tax=data["tax"],
                lines=[dict(line) for line in data.get("lines") or []],
            )
        except MemberNotFound:
            MEMBER_LOOKUP_MISSES.record(request.auth)
            raise Http404 from None
        if not created:  # the recorded purchase as it is now (refunds, release since)
            purchase = purchase_get(store=request.auth.store, order_id=purchase.order_id)
        # A new purchase's credit knows the balances it left (nothing else posts before the commit).
        balances = getattr(purchase.transaction, "member_balances", None) if created else None
        return Response(
            purchase_representation(purchase, balances),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class PurchaseDetailApi(PosApi):
    @extend_schema(
        operation_id="purchases_retrieve",
        tags=TAGS,
        summary="A purchase recorded by this store",
        parameters=[ORDER_ID_PARAMETER],
        responses={200: PurchaseSerializer, 404: ORDER_NOT_FOUND},
    )
    def get(self, request, order_id: str):
        """The purchase with its points, status and refunds so far (only this key's store's orders)."""
        return Response(purchase_representation(_purchase_for(request, order_id)))


class PurchaseRefundCreateApi(PosApi):
    class InputSerializer(serializers.Serializer):
        refund_id = serializers.CharField(max_length=100, help_text="Unique per order; a retry is safe.")
        amount = money_field(min_value=Decimal("0.01"), help_text="The amount refunded by this refund.")

    class OutputSerializer(serializers.Serializer):
        refund_id = serializers.CharField()
        amount = money_field()
        points_reversed = serializers.IntegerField(help_text="Points this refund took back.")
        purchase = PurchaseSerializer()

    @extend_schema(
        operation_id="purchases_refunds_create",
        tags=TAGS,
        summary="Record a refund and take back its share of the points",
        parameters=[ORDER_ID_PARAMETER],
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            200: OpenApiResponse(
                OutputSerializer,
                description=gettext_lazy("A replay of a refund already recorded (same refund_id and amount)."),
            ),
            404: ORDER_NOT_FOUND,
            409: OpenApiResponse(
                ErrorSerializer,
                description=gettext_lazy(
                    "`order_conflict`: this refund_id was recorded with another amount; or `idempotency_conflict`."
                ),
            ),
            422: OpenApiResponse(
                ErrorSerializer,
                description=gettext_lazy(
                    "`refund_exceeds_purchase`: refunds would add up to more than the purchase total; or `invalid`."
                ),
            ),
        },
    )
    def post(self, request, order_id: str):
        """Refunds reverse points in proportion, cumulatively: after refunds totalling R of a purchase
        worth T that earned P points, exactly round(P x R / T) points are reversed in total (all P when
        R = T). Points come from the purchase's own lot first; if spent already, the balance may go
        negative. A full refund also cancels pay-with-points redemptions of the order."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        purchase = _purchase_for(request, order_id)
        refund, created = refund_record(
            store=request.auth.store,
            purchase=purchase,
            refund_id=serializer.validated_data["refund_id"],
            amount=serializer.validated_data["amount"],
        )
        body = self.OutputSerializer(
            {
                "refund_id": refund.refund_id,
                "amount": refund.amount,
                "points_reversed": refund.points_reversed,
                "purchase": purchase_representation(_purchase_for(request, order_id)),
            }
        ).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


# -- earning rules (admin scope) -------------------------------------------------------------------


class EarningRuleSerializer(serializers.Serializer):
    """A SKU or category override of the earn rate: fixed points per unit, a multiplier, or excluded."""

    id = serializers.IntegerField(read_only=True)
    sku = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    category = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    points_per_unit = PlainDecimalField(
        max_digits=10,
        decimal_places=2,
        min_value=ZERO,
        required=False,
        allow_null=True,
        default=None,
        help_text="Fixed points per unit, whatever the price.",
    )
    multiplier = PlainDecimalField(
        max_digits=6,
        decimal_places=2,
        min_value=ZERO,
        required=False,
        allow_null=True,
        default=None,
        help_text='Times the earn rate, e.g. "2.00".',
    )
    excluded = serializers.BooleanField(required=False, default=False, help_text="The line earns nothing.")
    active = serializers.BooleanField(required=False, default=True)


RULE_ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)
RULE_NOT_FOUND = OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: no such earning rule."))
RULE_INVALID = OpenApiResponse(
    ErrorSerializer,
    description=gettext_lazy(
        "`invalid` with `fields`: both or neither of sku and category, both points_per_unit and multiplier, "
        "or a second active rule for a SKU."
    ),
)


def _rule_by_id(rule_id: str) -> EarningRule:
    rule = EarningRule.objects.filter(pk=rule_id).first() if rule_id.isdigit() and len(rule_id) < 19 else None
    if rule is None:
        raise Http404
    return rule


class EarningRuleListCreateApi(AdminApi):
    @extend_schema(
        operation_id="earning_rules_list",
        tags=TAGS_CONFIG,
        summary="SKU and category earning rules",
        parameters=NUMBERED_PAGE_PARAMETERS,
        responses={
            200: paginated(EarningRuleSerializer, name="PaginatedEarningRuleList", counted=True),
            404: OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: no such page.")),
        },
    )
    def get(self, request):
        return paginate(self, EarningRule.objects.order_by("id"), EarningRuleSerializer)

    @extend_schema(
        operation_id="earning_rules_create",
        tags=TAGS_CONFIG,
        summary="Add an earning rule",
        request=EarningRuleSerializer,
        responses={201: EarningRuleSerializer, 422: RULE_INVALID},
    )
    def post(self, request):
        """A SKU rule wins over category rules; among category rules an exclusion wins, otherwise the
        rule giving the most points."""
        serializer = EarningRuleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rule = earning_rule_create(**serializer.validated_data)  # EarningRuleInvalid: 422 with fields
        return Response(EarningRuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class EarningRuleDetailApi(AdminApi):
    @extend_schema(
        operation_id="earning_rules_retrieve",
        tags=TAGS_CONFIG,
        summary="An earning rule",
        parameters=[RULE_ID_PARAMETER],
        responses={200: EarningRuleSerializer, 404: RULE_NOT_FOUND},
    )
    def get(self, request, id: str):
        return Response(EarningRuleSerializer(_rule_by_id(id)).data)

    @extend_schema(
        operation_id="earning_rules_partial_update",
        tags=TAGS_CONFIG,
        summary="Change an earning rule",
        parameters=[RULE_ID_PARAMETER],
        request=EarningRuleSerializer,
        responses={200: EarningRuleSerializer, 404: RULE_NOT_FOUND, 422: RULE_INVALID},
    )
    def patch(self, request, id: str):
        rule = _rule_by_id(id)
        serializer = EarningRuleSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = {name: value for name, value in serializer.validated_data.items() if name in request.data}
        rule = earning_rule_update(rule=rule, **changes)
        return Response(EarningRuleSerializer(rule).data)

    @extend_schema(
        operation_id="earning_rules_destroy",
        tags=TAGS_CONFIG,
        summary="Delete an earning rule",
        parameters=[RULE_ID_PARAMETER],
        responses={204: None, 404: RULE_NOT_FOUND},
    )
    def delete(self, request, id: str):
        earning_rule_delete(rule=_rule_by_id(id))
        return Response(status=status.HTTP_204_NO_CONTENT)
