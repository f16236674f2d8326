"""Promotions (admin scope): time-limited multipliers and bonuses that the earning pipeline adds."""

from decimal import Decimal

from django.http import Http404
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from campaigns.models import Promotion, PromotionKind
from campaigns.services.promotions import promotion_create, promotion_delete, promotion_update
from loyalty.api.base import NUMBERED_PAGE_PARAMETERS, AdminApi, paginate, paginated
from loyalty.api.errors import ErrorSerializer
from loyalty.api.fields import ApiDateTimeField, PlainDecimalField, money_field

TAGS = ["configuration"]


@extend_schema_field({"type": "string", "enum": list(PromotionKind.values)})
class PromotionKindField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=PromotionKind.choices, **kwargs)


def _codes(**kwargs) -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=200, **kwargs)


class PromotionSerializer(serializers.Serializer):
    """A promotion. Which fields a kind needs: `multiplier` (multiplier), `points` (flat),
    `min_total` plus `points` and/or `multiplier` (threshold), `points` and/or `multiplier` (first_purchase)."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=100, help_text="Shown to members in the purchase breakdown.")
    kind = PromotionKindField()
    multiplier = PlainDecimalField(
        max_digits=6,
        decimal_places=2,
        min_value=Decimal("1.01"),
        required=False,
        allow_null=True,
        default=None,
        help_text='"2.00" doubles the base points: the bonus is base x (multiplier - 1).',
    )
    points = serializers.IntegerField(
        min_value=1,
        max_value=1_000_000_000,
        required=False,
        allow_null=True,
        default=None,
        help_text="Bonus points (flat, threshold and first-purchase kinds).",
    )
    min_total = money_field(
        required=False,
        allow_null=True,
        default=None,
        help_text="Threshold kind: orders with at least this total qualify.",
    )
    skus = _codes(default=list, help_text="Only lines with these SKUs (a multiplier then multiplies only them).")
    categories = _codes(default=list, help_text="Only lines in these categories.")
    tiers = _codes(default=list, help_text="Only members in these tiers (tier codes); empty means everyone.")
    starts_at = ApiDateTimeField(required=False, allow_null=True, default=None)
    ends_at = ApiDateTimeField(required=False, allow_null=True, default=None)
    exclusive = serializers.BooleanField(
        required=False,
        default=False,
        help_text="When an exclusive promotion applies, only the largest exclusive one counts and "
        "non-exclusive promotions are dropped for that purchase.",
    )
    active = serializers.BooleanField(required=False, default=True)


ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)
NOT_FOUND = OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: no such promotion."))
INVALID = OpenApiResponse(
    ErrorSerializer,
    description=gettext_lazy(
        "`invalid` with `fields`: e.g. a multiplier promotion without a multiplier, an unknown tier code, or an end "
        "before the start."
    ),
)


def _promotion_by_id(promotion_id: str) -> Promotion:
    promotion = None
    if promotion_id.isdigit() and len(promotion_id) < 19:
        promotion = Promotion.objects.filter(pk=promotion_id).first()
    if promotion is None:
        raise Http404
    return promotion


class PromotionListCreateApi(AdminApi):
    @extend_schema(
        operation_id="promotions_list",
        tags=TAGS,
        summary="Promotions, newest first",
        parameters=NUMBERED_PAGE_PARAMETERS,
        responses={
            200: paginated(PromotionSerializer, name="PaginatedPromotionList", counted=True),
            404: OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: no such page.")),
        },
    )
    def get(self, request):
        return paginate(self, Promotion.objects.order_by("-id"), PromotionSerializer)

    @extend_schema(
        operation_id="promotions_create",
        tags=TAGS,
        summary="Add a promotion",
        request=PromotionSerializer,
        responses={201: PromotionSerializer, 422: INVALID},
    )
    def post(self, request):
        """Promotions stack additively on top of the base and tier points, each rounded with the program's
        rounding; they apply to purchases whose `occurred_at` is inside [starts_at, ends_at)."""
        serializer = PromotionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        promotion = promotion_create(**serializer.validated_data)  # PromotionInvalid: 422 with fields
        return Response(PromotionSerializer(promotion).data, status=status.HTTP_201_CREATED)


class PromotionDetailApi(AdminApi):
    @extend_schema(
        operation_id="promotions_retrieve",
        tags=TAGS,
        summary="A promotion",
        parameters=[ID_PARAMETER],
        responses={200: PromotionSerializer, 404: NOT_FOUND},
    )
    def get(self, request, id: str):
        return Response(PromotionSerializer(_promotion_by_id(id)).data)

    @extend_schema(
        operation_id="promotions_partial_update",
        tags=TAGS,
        summary="Change a promotion",
        parameters=[ID_PARAMETER],
        request=PromotionSerializer,
        responses={200: PromotionSerializer, 404: NOT_FOUND, 422: INVALID},
    )
    def patch(self, request, id: str):
        """Only purchases recorded after the change are affected."""
        promotion = _promotion_by_id(id)
        serializer = PromotionSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = {name: value for name, value in serializer.validated_data.items() if name in request.data}
        promotion = promotion_update(promotion=promotion, **changes)
        return Response(PromotionSerializer(promotion).data)

    @extend_schema(
        operation_id="promotions_destroy",
        tags=TAGS,
        summary="Delete a promotion",
        parameters=[ID_PARAMETER],
        responses={204: None, 404: NOT_FOUND},
    )
    def delete(self, request, id: str):
        """Purchases that already earned the promotion keep their points and breakdown."""
        promotion_delete(promotion=_promotion_by_id(id))
        return Response(status=status.HTTP_204_NO_CONTENT)
