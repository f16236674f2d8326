"""Webhooks in: WooCommerce order webhooks, authenticated by their HMAC signature (no API key)."""

from django.http import Http404
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.api.base import SLUG_PATTERN, ApiAutoSchema
from loyalty.api.errors import ErrorSerializer
from loyalty.models import Store
from loyalty.services.woocommerce import woocommerce_delivery_receive

WebhookResultSerializer = inline_serializer(
    name="WooCommerceWebhookResult",
    fields={
        "result": serializers.ChoiceField(choices=["ping", "recorded", "updated", "ignored"]),
        "order_id": serializers.CharField(required=False),
        "reason": serializers.CharField(
            required=False,
            help_text="Why an order was ignored: `status`, `unknown_customer`, `member_inactive`, "
            "`currency_mismatch`, `invalid`, `order_conflict`, `not_an_order`, `topic`.",
        ),
        "detail": serializers.CharField(required=False),
        "purchase": inline_serializer(
            name="WooCommerceWebhookPurchase",
            fields={
                "member": serializers.CharField(),
                "points": serializers.IntegerField(),
                "refunded_total": serializers.CharField(),
                "points_reversed": serializers.IntegerField(),
            },
            required=False,
        ),
        "refunds": serializers.ListField(child=serializers.DictField(), required=False),
        "duplicate": serializers.BooleanField(required=False, help_text="A delivery seen before: nothing changed."),
    },
)


class WooCommerceWebhookApi(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    schema = ApiAutoSchema()

    @extend_schema(
        operation_id="webhooks_woocommerce",
        tags=["webhooks"],
        summary="WooCommerce order webhook (order.created, order.updated)",
        parameters=[
            OpenApiParameter("store_slug", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=SLUG_PATTERN),
            OpenApiParameter(
                "X-WC-Webhook-Signature",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="base64(HMAC-SHA256(raw body, the store's WooCommerce secret)).",
            ),
            OpenApiParameter(
                "X-WC-Webhook-Delivery-ID",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="A delivery seen before (same body) changes nothing.",
            ),
            OpenApiParameter(
                "X-WC-Webhook-Topic",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Only `order.*` topics are used; others are acknowledged and ignored.",
            ),
        ],
        request={"application/json": OpenApiTypes.OBJECT, "application/x-www-form-urlencoded": OpenApiTypes.OBJECT},
        responses={
            200: WebhookResultSerializer,
            401: OpenApiResponse(
                ErrorSerializer,
                description=gettext_lazy(
                    "`unauthorized`: the signature is missing or wrong, or the store has no secret."
                ),
            ),
            404: OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: no store has this slug.")),
            422: OpenApiResponse(
                ErrorSerializer,
                description=gettext_lazy("`invalid`: the body is not a JSON object or has unreadable amounts."),
            ),
        },
        auth=[],
    )
    def post(self, request, store_slug: str):
        """The order payload of WooCommerce REST API v3. Orders in `processing` or `completed` earn once
        (customer matched by billing email, enrolled if the store allows); the order's `refunds` are
        recorded; `cancelled`, `refunded` and `failed` orders reverse everything left. WooCommerce's ping
        (`webhook_id=<n>`, form-encoded) answers 200."""
        store = Store.objects.filter(slug=store_slug).first()
        if store is None:
            raise Http404
        status, body = woocommerce_delivery_receive(
            store=store,
            body=request.body,
            signature=request.headers.get("X-WC-Webhook-Signature", ""),
            delivery_id=request.headers.get("X-WC-Webhook-Delivery-ID", ""),
            topic=request.headers.get("X-WC-Webhook-Topic", ""),
        )
        return Response(body, status=status)
