"""Configuration (admin scope): the program settings and the stores."""

import re
from decimal import Decimal

from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from loyalty.api.base import NUMBERED_PAGE_PARAMETERS, SLUG_PATTERN, AdminApi, paginate, paginated
from loyalty.api.errors import ErrorSerializer
from loyalty.api.fields import PlainDecimalField, PlainDecimalsModelSerializer
from loyalty.models import Program, Store
from loyalty.services.config import program_update, store_create, store_update
from loyalty.services.program import program_get

TAGS = ["configuration"]
# Generous limits that keep every later date computation (now + N days/months) far from overflowing.
MAX_DAYS = 36_500
MAX_MONTHS = 1_200
MAX_POINTS = 1_000_000_000


class PointValueField(PlainDecimalField):
    """A decimal string with at least 2 decimals and no needless trailing zeros: "0.01", "0.0125"."""

    def to_representation(self, value):
        value = Decimal(value)
        decimals = max(2, -value.normalize().as_tuple().exponent)
        return f"{value:.{decimals}f}"


class ProgramSerializer(PlainDecimalsModelSerializer):
    currency = serializers.CharField(min_length=3, max_length=3, help_text="ISO 4217 code, e.g. EUR.")
    point_value = PointValueField(
        max_digits=8, decimal_places=4, min_value=Decimal("0.0001"), help_text="Currency value of one point."
    )

    class Meta:
        model = Program
        fields = [
            "name", "currency", "earn_rate", "rounding", "include_tax", "point_value", "min_redeem_points",
            "max_discount_percent", "pending_days", "points_valid_days", "expiry_extends_to",
            "expiry_warning_days", "tier_metric", "tier_window", "tier_window_months", "tier_hold_months",
            "signup_bonus", "birthday_bonus", "referral_referrer_bonus", "referral_referee_bonus",
            "referral_cap", "coupon_valid_days",
        ]
        extra_kwargs = {
            "earn_rate": {"min_value": Decimal("0"), "help_text": "Points per currency unit."},
            "min_redeem_points": {"max_value": MAX_POINTS},
            "max_discount_percent": {"min_value": 0, "max_value": 100},
            "pending_days": {"max_value": MAX_DAYS},
            "points_valid_days": {"min_value": 1, "max_value": MAX_DAYS, "help_text": "null: never expire."},
            "expiry_warning_days": {"max_value": MAX_DAYS},
            "tier_window_months": {"min_value": 1, "max_value": MAX_MONTHS, "help_text": "null: lifetime."},
            "tier_hold_months": {"max_value": MAX_MONTHS},
            "signup_bonus": {"max_value": MAX_POINTS},
            "birthday_bonus": {"max_value": MAX_POINTS},
            "referral_referrer_bonus": {"max_value": MAX_POINTS},
            "referral_referee_bonus": {"max_value": MAX_POINTS},
            "referral_cap": {"max_value": MAX_POINTS, "help_text": "null: no cap."},
            "coupon_valid_days": {"min_value": 1, "max_value": MAX_DAYS},
        }

    def validate_currency(self, value: str) -> str:
        value = value.strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise serializers.ValidationError(_("Use a three-letter ISO 4217 code such as EUR."))
        return value


class ProgramDetailApi(AdminApi):
    @extend_schema(operation_id="program_retrieve", tags=TAGS, summary="The program settings",
                   responses={200: ProgramSerializer})
    def get(self, request):
        """Every program setting: earning, redemption, expiry, tiers, bonuses."""
        return Response(ProgramSerializer(program_get()).data)

    @extend_schema(operation_id="program_partial_update", tags=TAGS, summary="Change program settings",
                   request=ProgramSerializer, responses={200: ProgramSerializer})
    def patch(self, request):
        """Change some settings; the others keep their values. Invalid values change nothing (422)."""
        serializer = ProgramSerializer(program_get(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        program = program_update(**serializer.validated_data)
        return Response(ProgramSerializer(program).data)


class StoreSerializer(serializers.ModelSerializer):
    has_woocommerce_secret = serializers.SerializerMethodField()

    class Meta:
        model = Store
        fields = ["slug", "name", "woocommerce_secret", "has_woocommerce_secret", "auto_enroll", "created_at"]
        read_only_fields = ["created_at"]
        extra_kwargs = {
            "woocommerce_secret": {"write_only": True, "help_text": "Write-only: the webhook signing secret."},
            "auto_enroll": {"help_text": "Webhook orders from unknown emails enrol a new member."},
        }

    def get_has_woocommerce_secret(self, store: Store) -> bool:
        return bool(store.woocommerce_secret)


SLUG_PARAMETER = OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=SLUG_PATTERN)
STORE_NOT_FOUND = OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: no store has this slug."))


def store_by_slug(slug: str) -> Store:
    if not re.fullmatch(SLUG_PATTERN, slug or ""):
        raise Http404
    store = Store.objects.filter(slug=slug).first()
    if store is None:
        raise Http404
    return store


class StoreListCreateApi(AdminApi):
    @extend_schema(
        operation_id="stores_list", tags=TAGS, summary="All stores", parameters=NUMBERED_PAGE_PARAMETERS,
        responses={
            200: paginated(StoreSerializer, name="PaginatedStoreList", counted=True),
            404: OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: no such page.")),
        },
    )
    def get(self, request):
        """Stores (tills and webshops) by name. The WooCommerce secret is never shown."""
        return paginate(self, Store.objects.order_by("name", "id"), StoreSerializer)

    @extend_schema(operation_id="stores_create", tags=TAGS, summary="Add a store",
                   request=StoreSerializer, responses={201: StoreSerializer})
    def post(self, request):
        """Add a store; its slug names it in webhook URLs and must be unique."""
        serializer = StoreSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        store = store_create(**serializer.validated_data)
        return Response(StoreSerializer(store).data, status=status.HTTP_201_CREATED)


class StoreDetailApi(AdminApi):
    @extend_schema(operation_id="stores_retrieve", tags=TAGS, summary="A store", parameters=[SLUG_PARAMETER],
                   responses={200: StoreSerializer, 404: STORE_NOT_FOUND})
    def get(self, request, slug: str):
        """A store by slug."""
        return Response(StoreSerializer(store_by_slug(slug)).data)

    @extend_schema(operation_id="stores_partial_update", tags=TAGS, summary="Change a store",
                   parameters=[SLUG_PARAMETER], request=StoreSerializer,
                   responses={200: StoreSerializer, 404: STORE_NOT_FOUND})
    def patch(self, request, slug: str):
        """Change a store's name, slug, WooCommerce secret (write-only) or auto-enrolment."""
        store = store_by_slug(slug)
        serializer = StoreSerializer(store, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        store = store_update(store=store, **serializer.validated_data)
        return Response(StoreSerializer(store).data)
