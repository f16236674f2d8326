"""Tiers: configuration (admin scope) and paid tier memberships bought at the till (pos scope)."""

import re
from datetime import timedelta
from decimal import Decimal

from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from loyalty.api.base import (
    LOYALTY_ID_PARAMETER,
    NUMBERED_PAGE_PARAMETERS,
    AdminApi,
    PosApi,
    member_by_loyalty_id,
    paginate,
    paginated,
)
from loyalty.api.errors import ErrorSerializer
from loyalty.api.fields import ApiDateTimeField, PlainDecimalField, PlainDecimalsModelSerializer
from loyalty.models import Tier, TierMembership
from loyalty.services.tiers import tier_create, tier_delete, tier_membership_record, tier_update

TAGS_CONFIG = ["configuration"]
TAGS_MEMBERS = ["members"]
CODE_PATTERN = r"^[-a-zA-Z0-9_]+$"
MAX_THRESHOLD = 1_000_000_000
MAX_PERIOD_MONTHS = 1_200
# A paid membership's start may be back- or forward-dated, within reason.
MAX_START_OFFSET = timedelta(days=3660)

CODE_PARAMETER = OpenApiParameter(
    "code", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=CODE_PATTERN, description="The tier's code."
)
TIER_NOT_FOUND = OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: no tier has this code."))


def tier_by_code(code: str) -> Tier:
    if not re.fullmatch(CODE_PATTERN, code or ""):
        raise Http404
    tier = Tier.objects.filter(code=code).first()
    if tier is None:
        raise Http404
    return tier


class TierSerializer(PlainDecimalsModelSerializer):
    """A tier as configured. `multiplier` and `price` are decimal strings ("1.50", "49.00")."""

    icon_url = serializers.SerializerMethodField()

    class Meta:
        model = Tier
        fields = ["code", "name", "rank", "threshold", "multiplier", "benefits", "colour", "price", "period_months",
                  "icon_url"]
        extra_kwargs = {
            "rank": {"help_text": "Higher is better; unique."},
            "threshold": {
                "max_value": MAX_THRESHOLD,
                "help_text": "Points earned (points metric) or currency units spent (spend metric) in the tier "
                             "window to reach the tier. A paid tier with threshold 0 can only be bought.",
            },
            "multiplier": {"min_value": Decimal("1.00"), "help_text": "Earn multiplier, e.g. \"1.50\"."},
            "colour": {"help_text": "Hex colour such as #c0c0c0."},
            "price": {"help_text": "Set (with period_months) for a paid tier; null otherwise."},
            "period_months": {"min_value": 1, "max_value": MAX_PERIOD_MONTHS,
                              "help_text": "How long a bought membership lasts."},
        }

    def get_icon_url(self, tier: Tier) -> str | None:
        if not tier.icon:
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(tier.icon.url) if request else tier.icon.url


class TierListCreateApi(AdminApi):
    @extend_schema(
        operation_id="tiers_list", tags=TAGS_CONFIG, summary="All tiers, lowest rank first",
        parameters=NUMBERED_PAGE_PARAMETERS,
        responses={
            200: paginated(TierSerializer, name="PaginatedTierList", counted=True),
            404: OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: no such page.")),
        },
    )
    def get(self, request):
        return paginate(self, Tier.objects.order_by("rank"), TierSerializer)

    @extend_schema(
        operation_id="tiers_create", tags=TAGS_CONFIG, summary="Add a tier",
        request=TierSerializer,
        responses={
            201: TierSerializer,
            422: OpenApiResponse(ErrorSerializer, description=gettext_lazy(
                "`invalid` with `fields`: e.g. the code or rank is taken, a paid tier lacks `period_months`."
            )),
        },
    )
    def post(self, request):
        serializer = TierSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tier = tier_create(**serializer.validated_data)
        return Response(TierSerializer(tier, context={"request": request}).data, status=status.HTTP_201_CREATED)


class TierDetailApi(AdminApi):
    @extend_schema(operation_id="tiers_retrieve", tags=TAGS_CONFIG, summary="A tier", parameters=[CODE_PARAMETER],
                   responses={200: TierSerializer, 404: TIER_NOT_FOUND})
    def get(self, request, code: str):
        return Response(TierSerializer(tier_by_code(code), context={"request": request}).data)

    @extend_schema(
        operation_id="tiers_partial_update", tags=TAGS_CONFIG, summary="Change a tier",
        description="A new threshold applies at the member's next upgrade check or at the next recalculation.",
        parameters=[CODE_PARAMETER], request=TierSerializer,
        responses={200: TierSerializer, 404: TIER_NOT_FOUND},
    )
    def patch(self, request, code: str):
        tier = tier_by_code(code)
        serializer = TierSerializer(tier, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        tier = tier_update(tier=tier, **serializer.validated_data)
        return Response(TierSerializer(tier, context={"request": request}).data)

    @extend_schema(
        operation_id="tiers_destroy", tags=TAGS_CONFIG, summary="Delete an unused tier",
        parameters=[CODE_PARAMETER],
        responses={
            204: None,
            404: TIER_NOT_FOUND,
            409: OpenApiResponse(ErrorSerializer, description=gettext_lazy(
                "`tier_in_use`: members, history, memberships, rewards or promotions refer to the tier; "
                "nothing was changed."
            )),
        },
    )
    def delete(self, request, code: str):
        tier_delete(tier=tier_by_code(code))  # TierError tier_in_use: 409
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberMembershipCreateApi(PosApi):
    class InputSerializer(serializers.Serializer):
        tier = serializers.CharField(max_length=30, help_text="Code of a paid tier.")
        order_id = serializers.CharField(max_length=100, help_text="Unique per store: a retry changes nothing.")
        price = PlainDecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0"))
        currency = serializers.CharField(min_length=3, max_length=3, help_text="ISO 4217; the program's currency.")
        starts_at = ApiDateTimeField(required=False, help_text="Default: now.")

        def validate_tier(self, value: str) -> Tier:
            tier = Tier.objects.filter(code=value.strip()).first()
            if tier is None:
                raise serializers.ValidationError(_("No tier has this code."))
            if not tier.is_paid:
                raise serializers.ValidationError(_("%(tier)s is not a paid tier.") % {"tier": tier.name})
            return tier

        def validate_order_id(self, value: str) -> str:
            if not value.strip():
                raise serializers.ValidationError(_("This field may not be blank."))
            return value.strip()

        def validate_starts_at(self, value):
            if abs(value - timezone.now()) > MAX_START_OFFSET:
                raise serializers.ValidationError(_("Give a start within ten years of today."))
            return value

    class OutputSerializer(serializers.Serializer):
        tier = serializers.CharField(source="tier.code", help_text="The paid tier's code.")
        starts_at = serializers.DateTimeField()
        ends_at = serializers.DateTimeField(help_text="starts_at plus the tier's period.")
        order_id = serializers.CharField()
        price = serializers.DecimalField(max_digits=10, decimal_places=2)
        currency = serializers.CharField()

    @extend_schema(
        operation_id="members_memberships_create", tags=TAGS_MEMBERS, summary="Record a bought paid tier",
        description="The member is lifted to the tier at once while the membership runs, and kept at least "
                    "there until `ends_at`. Idempotent by (store, order_id): the same order again answers 200 "
                    "with the first record.",
        parameters=[LOYALTY_ID_PARAMETER], request=InputSerializer,
        responses={
            201: OutputSerializer,
            200: OpenApiResponse(OutputSerializer, description=gettext_lazy("The order was recorded before.")),
            404: OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: no member has this "
                                                                           "loyalty ID.")),
            409: OpenApiResponse(ErrorSerializer, description=gettext_lazy(
                "`order_conflict`: this order id was recorded with other details; or `idempotency_conflict`."
            )),
            422: OpenApiResponse(ErrorSerializer, description=gettext_lazy(
                "`invalid` (with `fields`: unknown or unpaid tier, bad price...), `currency_mismatch`, "
                "`member_inactive`."
            )),
        },
    )
    def post(self, request, loyalty_id: str):
        member = member_by_loyalty_id(request, loyalty_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership, created = tier_membership_record(
            member=member, store=request.auth.store, **serializer.validated_data
        )
        membership = TierMembership.objects.select_related("tier").get(pk=membership.pk)
        return Response(
            self.OutputSerializer(membership).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )
