"""Redemption API: quote and redeem points, cancel redemptions, use coupons, the reward catalogue.

Which key may touch which redemption (the spec is silent; chosen so a till can only undo its own work):
- any key may redeem for any member (by loyalty ID), as any till can enrol or credit any member;
- a `pos` key may cancel only redemptions issued through its own store; an `admin` key any;
- a coupon from the catalogue may be used at any store; a pay-with-points coupon (a discount on one
  store's cart) only through the store that issued it. An `admin` key may use any coupon.
A redemption the key may not touch answers 404, exactly as if it did not exist.
"""

from typing import TYPE_CHECKING

from django.db import IntegrityError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from campaigns.models import Badge
from loyalty.api.auth import HasAdminScope
from loyalty.api.base import (
    LOYALTY_ID_PATTERN,
    NUMBERED_PAGE_PARAMETERS,
    MemberSessionApi,
    NewestFirstPagination,
    PagePagination,
    PosApi,
    member_by_loyalty_id,
    paginate,
    paginated,
)
from loyalty.api.errors import ErrorSerializer
from loyalty.api.fields import ApiDateTimeField, money_field
from loyalty.api.misses import MEMBER_LOOKUP_LIMITED, MissLimit
from loyalty.api.parsers import JSONParser
from loyalty.models import ApiKey, ApiKeyScope, Tier
from loyalty.selectors import member_points_get
from rewards.models import (
    PAY_WITH_POINTS,
    REDEMPTION_KIND_CHOICES,
    Redemption,
    RedemptionStatus,
    Reward,
    RewardKind,
)
from rewards.selectors import redemption_list_for_member, reward_list, reward_stock_left
from rewards.services import (
    CouponNotFound,
    coupon_code_normalize,
    coupon_use,
    points_redeem_for_discount,
    redemption_cancel,
    redemption_quote,
    reward_create,
    reward_delete,
    reward_redeem,
    reward_update,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

REDEMPTION_TAGS = ["redemption"]
REWARD_TAGS = ["rewards"]
MAX_POINTS = 1_000_000_000
# Unknown coupon codes one API key may try per minute before it gets 429 rate_limited.
COUPON_MISSES = MissLimit(
    name="coupon",
    setting="REWARDS_COUPON_MISSES_PER_MINUTE",
    default=10,
    detail=gettext_lazy("Too many unknown coupon codes from this API key."),
)


def _error(description: "str | StrPromise") -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


# -- output serializers --------------------------------------------------------------------------------


class RedemptionPointsSerializer(serializers.Serializer):
    available = serializers.IntegerField(help_text="Spendable points after this operation.")
    pending = serializers.IntegerField()


class RedemptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    member = serializers.CharField(source="member.loyalty_id", help_text="The member's loyalty ID.")
    reward = serializers.CharField(
        source="reward.code", allow_null=True, help_text="The reward's code; null for pay with points."
    )
    kind = serializers.ChoiceField(choices=REDEMPTION_KIND_CHOICES)
    points = serializers.IntegerField()
    value = serializers.DecimalField(
        max_digits=12, decimal_places=2,
        help_text="Currency value (the discount, donation or credit); the percentage for a percentage discount.",
    )
    currency = serializers.CharField()
    code = serializers.CharField(help_text="One-time coupon code (80 random bits, base32, dashed groups of 4).")
    status = serializers.SerializerMethodField()
    issued_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    used_at = serializers.DateTimeField(allow_null=True)
    member_points = serializers.SerializerMethodField()
    voucher_code = serializers.SerializerMethodField()
    order_id = serializers.CharField(help_text="Pay with points: the order the discount is for (may be empty).")
    used_order_id = serializers.CharField()
    cancelled_at = serializers.DateTimeField(allow_null=True)
    charity_name = serializers.CharField(help_text="Charity donations: the receiving charity.")

    @extend_schema_field(serializers.ChoiceField(choices=RedemptionStatus.choices))
    def get_status(self, redemption: Redemption) -> str:
        return redemption.status_at()

    @extend_schema_field(RedemptionPointsSerializer)
    def get_member_points(self, redemption: Redemption) -> dict:
        points = member_points_get(member=redemption.member)
        return {"available": points["available"], "pending": points["pending"]}

    @extend_schema_field(serializers.CharField(allow_null=True, help_text="Partner vouchers: the partner's code."))
    def get_voucher_code(self, redemption: Redemption) -> str | None:
        voucher = getattr(redemption, "voucher", None)
        return voucher.code if voucher is not None else None


class MemberRedemptionSerializer(RedemptionSerializer):
    """In the member's own list the balance is not repeated per row."""

    member_points = None  # type: ignore[assignment]  # DRF: None removes the inherited field


def redemption_response(redemption: Redemption, status_code: int = status.HTTP_200_OK) -> Response:
    fresh = Redemption.objects.select_related("member", "reward", "voucher").get(pk=redemption.pk)
    return Response(RedemptionSerializer(fresh).data, status=status_code)


class RewardSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=RewardKind.choices)
    cost_points = serializers.IntegerField()
    value = serializers.DecimalField(max_digits=12, decimal_places=2)
    stock = serializers.SerializerMethodField()
    min_tier = serializers.CharField(source="min_tier.code", allow_null=True, help_text="Tier code, or null.")
    required_badge = serializers.CharField(
        source="required_badge.code", allow_null=True,
        help_text="Badge code: only members who hold it may redeem the reward (`badge_required`); or null.",
    )
    unlocked_by = serializers.SerializerMethodField()
    image_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    available_from = serializers.DateTimeField(allow_null=True)
    available_until = serializers.DateTimeField(allow_null=True)
    description = serializers.CharField()
    per_member_limit = serializers.IntegerField(allow_null=True)
    active = serializers.BooleanField()
    charity_name = serializers.CharField()
    partner_name = serializers.CharField()
    sku = serializers.CharField()
    how_to_use = serializers.CharField(help_text="What the member does with the coupon (empty: a text for the kind).")

    @extend_schema_field(serializers.IntegerField(
        allow_null=True,
        help_text="Redemptions still possible (partner vouchers: also bounded by the codes left); null = unlimited.",
    ))
    def get_stock(self, reward: Reward) -> int | None:
        return reward_stock_left(reward)

    @extend_schema_field(serializers.ListField(
        child=serializers.CharField(),
        help_text="Codes of the challenges whose prize this reward is: only members who completed one of them may "
                  "redeem it (`challenge_required`). Empty: no such lock.",
    ))
    def get_unlocked_by(self, reward: Reward) -> list[str]:
        return [challenge.code for challenge in reward.unlocking_challenges.all()]  # type: ignore[attr-defined]

    def _url(self, image) -> str | None:
        if not image:
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(image.url) if request is not None else image.url

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_image_url(self, reward: Reward) -> str | None:
        return self._url(reward.image)

    @extend_schema_field(serializers.URLField(allow_null=True, help_text="At most 400 px."))
    def get_thumbnail_url(self, reward: Reward) -> str | None:
        return self._url(reward.thumbnail)


def reward_response(request, reward: Reward, status_code: int = status.HTTP_200_OK) -> Response:
    fresh = reward_list(active_only=False).get(pk=reward.pk)
    return Response(RewardSerializer(fresh, context={"request": request}).data, status=status_code)


# -- access rules ---------------------------------------------------------------------------------------


def _is_admin(api_key: ApiKey) -> bool:
    return api_key.scope == ApiKeyScope.ADMIN


def _may_cancel(api_key: ApiKey, redemption: Redemption) -> bool:
    return _is_admin(api_key) or (redemption.store_id is not None and redemption.store_id == api_key.store_id)


def _may_use(api_key: ApiKey, redemption: Redemption) -> bool:
    if _is_admin(api_key) or redemption.kind != PAY_WITH_POINTS or redemption.store_id is None:
        return True
    return redemption.store_id == api_key.store_id


# -- redemption -----------------------------------------------------------------------------------------


class RedemptionQuoteApi(PosApi):
    class InputSerializer(serializers.Serializer):
        member = serializers.RegexField(LOYALTY_ID_PATTERN, help_text="The member's 16-digit loyalty ID.")
        subtotal = money_field()
        currency = serializers.RegexField(r"^[A-Za-z]{3}$", help_text="ISO 4217 code, e.g. EUR.")

    class OutputSerializer(serializers.Serializer):
        available_points = serializers.IntegerField()
        max_points = serializers.IntegerField(help_text="0 when the program's minimum cannot be met.")
        max_discount = serializers.DecimalField(max_digits=12, decimal_places=2)
        point_value = serializers.DecimalField(max_digits=8, decimal_places=4, help_text="Currency per point.")
        min_points = serializers.IntegerField()

    @extend_schema(
        operation_id="redemptions_quote",
        tags=REDEMPTION_TAGS,
        summary="The most points usable on a cart",
        description=(
            "max_points = min(available points, ceil(cap / point_value)) where cap = the program's maximum "
            "discount percentage of the subtotal (rounded down to the cent), and never more than the subtotal. "
            "max_points is 0 when it is below min_points. Changes nothing."
        ),
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            404: _error(gettext_lazy("`not_found`: no member has this loyalty ID.")),
            422: _error(gettext_lazy("`invalid`, `currency_mismatch` or `member_inactive`.")),
            429: MEMBER_LOOKUP_LIMITED,
        },
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        member = member_by_loyalty_id(request, data["member"])
        quote = redemption_quote(member=member, subtotal=data["subtotal"], currency=data["currency"])
        return Response(self.OutputSerializer(quote).data)


class RedemptionCreateApi(PosApi):
    class InputSerializer(serializers.Serializer):
        member = serializers.RegexField(LOYALTY_ID_PATTERN, help_text="The member's 16-digit loyalty ID.")
        reward = serializers.SlugField(
            max_length=50, required=False, help_text="Catalogue: the reward's code. Either this or `points`."
        )
        points = serializers.IntegerField(
            min_value=1, max_value=MAX_POINTS, required=False, help_text="Pay with points: points to spend."
        )
        order_id = serializers.CharField(
            max_length=100, required=False, allow_blank=True, help_text="Pay with points: the order."
        )
        subtotal = money_field(
            required=False, allow_null=True,
            help_text="Pay with points: the cart subtotal; the points may not exceed what it allows.",
        )

        def validate(self, attrs):
            has_reward, has_points = "reward" in attrs, "points" in attrs
            if has_reward == has_points:
                raise serializers.ValidationError(_("Send either `reward` or `points`, not both."))
            if has_reward and ({"order_id", "subtotal"} & set(attrs)):
                raise serializers.ValidationError(_("`order_id` and `subtotal` go with `points` only."))
            if has_reward:
                reward = Reward.objects.select_related("min_tier").filter(code=attrs["reward"]).first()
                if reward is None:
                    raise serializers.ValidationError({"reward": [_("No reward has this code.")]})
                attrs["reward"] = reward
            return attrs

    @extend_schema(
        operation_id="redemptions_create",
        tags=REDEMPTION_TAGS,
        summary="Redeem a catalogue reward or pay with points",
        description=(
            "`{member, reward}` buys a reward; `{member, points, order_id?, subtotal?}` turns points into a "
            "discount worth points x point_value. Either way the member gets a one-time coupon `code`."
        ),
        request=InputSerializer,
        responses={
            201: RedemptionSerializer,
            403: _error(gettext_lazy(
                "`tier_required`: the reward needs a higher tier; `badge_required`: a badge the member does not "
                "hold; `challenge_required`: it is the prize of a challenge the member has not completed."
            )),
            404: _error(gettext_lazy("`not_found`: no member has this loyalty ID.")),
            409: _error(gettext_lazy("`out_of_stock`, `limit_reached` or `idempotency_conflict`.")),
            429: MEMBER_LOOKUP_LIMITED,
            422: _error(gettext_lazy(
                "`insufficient_points`, `below_minimum`, `reward_unavailable` (inactive or outside its window), "
                "`member_inactive`, or `invalid` (also: more points than the subtotal allows)."
            )),
        },
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        member = member_by_loyalty_id(request, data["member"])
        store = request.auth.store
        if "reward" in data:
            redemption = reward_redeem(member=member, reward=data["reward"], store=store)
        else:
            redemption = points_redeem_for_discount(
                member=member, points=data["points"], order_id=data.get("order_id"),
                subtotal=data.get("subtotal"), store=store,
            )
        return redemption_response(redemption, status.HTTP_201_CREATED)


REDEMPTION_ID_PARAMETER = OpenApiParameter(
    "redemption_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The redemption's `id`."
)
COUPON_CODE_PARAMETER = OpenApiParameter(
    "code", OpenApiTypes.STR, OpenApiParameter.PATH,
    description="The coupon code; case, spaces and dashes do not matter.",
)


class RedemptionCancelApi(PosApi):
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=255, required=False, allow_blank=True)

    @extend_schema(
        operation_id="redemptions_cancel",
        tags=REDEMPTION_TAGS,
        summary="Cancel a redemption: points back to the lots they came from, stock back",
        description="A `pos` key may cancel only redemptions issued through its own store.",
        parameters=[REDEMPTION_ID_PARAMETER],
        request=InputSerializer,
        responses={
            200: RedemptionSerializer,
            404: _error(gettext_lazy("`not_found`: no such redemption (for this key).")),
            409: _error(gettext_lazy("`already_cancelled`, `coupon_used` or `idempotency_conflict`.")),
        },
    )
    def post(self, request, redemption_id: int):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        redemption = get_object_or_404(Redemption, pk=redemption_id)
        if not _may_cancel(request.auth, redemption):
            raise exceptions.NotFound
        redemption = redemption_cancel(
            redemption=redemption, reason=serializer.validated_data.get("reason", ""), store=request.auth.store
        )
        return redemption_response(redemption)


class CouponUseApi(PosApi):
    class InputSerializer(serializers.Serializer):
        order_id = serializers.CharField(max_length=100)

    @extend_schema(
        operation_id="coupons_use",
        tags=REDEMPTION_TAGS,
        summary="Use a coupon on an order (once)",
        description=(
            "Pay-with-points coupons only at the store that issued them (admin keys: anywhere). "
            f"After {COUPON_MISSES.per_minute} unknown codes in a minute an API key gets 429 `rate_limited` "
            "until the minute is over."
        ),
        parameters=[COUPON_CODE_PARAMETER],
        request=InputSerializer,
        responses={
            200: RedemptionSerializer,
            404: _error(gettext_lazy("`not_found`: no coupon has this code.")),
            409: _error(gettext_lazy(
                "`coupon_used`, `coupon_expired`, `already_cancelled` (the redemption was cancelled) or "
                "`idempotency_conflict`."
            )),
            422: _error(gettext_lazy(
                "`member_inactive`: the coupon's member closed their membership, or `invalid`."
            )),
            429: _error(gettext_lazy("`rate_limited`: too many unknown codes from this key.")),
        },
    )
    def post(self, request, code: str):
        api_key = request.auth
        COUPON_MISSES.check(api_key)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        normalized = coupon_code_normalize(code)
        redemption = Redemption.objects.filter(code=normalized).first() if normalized else None
        if redemption is None or not _may_use(api_key, redemption):
            COUPON_MISSES.record(api_key)
            raise CouponNotFound(_("No coupon has this code."))
        redemption = coupon_use(code=normalized, order_id=serializer.validated_data["order_id"], store=api_key.store)
        return redemption_response(redemption)


# -- rewards: catalogue (pos) and configuration (admin) ------------------------------------------------


class RewardInputSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=50)
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=RewardKind.choices)
    cost_points = serializers.IntegerField(min_value=1, max_value=MAX_POINTS)
    value = money_field(required=False)
    stock = serializers.IntegerField(min_value=0, max_value=MAX_POINTS, required=False, allow_null=True)
    per_member_limit = serializers.IntegerField(min_value=1, max_value=MAX_POINTS, required=False, allow_null=True)
    min_tier = serializers.SlugRelatedField(
        slug_field="code", queryset=Tier.objects.all(), required=False, allow_null=True, help_text="Tier code."
    )
    required_badge = serializers.SlugRelatedField(
        slug_field="code", queryset=Badge.objects.all(), required=False, allow_null=True,
        help_text="Badge code: only members who hold this badge may redeem the reward.",
    )
    available_from = ApiDateTimeField(required=False, allow_null=True)
    available_until = ApiDateTimeField(required=False, allow_null=True)
    image = serializers.ImageField(
        required=False, allow_null=True, help_text="multipart/form-data only; a 400 px thumbnail is made."
    )
    active = serializers.BooleanField(required=False)
    charity_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    partner_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    sku = serializers.CharField(max_length=100, required=False, allow_blank=True)
    how_to_use = serializers.CharField(
        required=False, allow_blank=True, help_text="Shown with the member's coupon; empty: a text for the kind."
    )

    def validate_code(self, value: str) -> str:
        taken = Reward.objects.filter(code=value)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError(_("Another reward has this code."))
        return value

    def validated_fields(self) -> dict:
        data = dict(self.validated_data)
        if "image" in data and data["image"] is None:
            data["image"] = ""
        return data


def _reward_save(action, **kwargs) -> Reward:
    """Model validation errors (django ValidationError) become 422 `invalid` in the shared handler."""
    try:
        return action(**kwargs)
    except IntegrityError:  # the same code taken by a concurrent request
        raise exceptions.ValidationError({"code": [_("Another reward has this code.")]}) from None


class RewardListCreateApi(PosApi):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    class FilterSerializer(serializers.Serializer):
        active = serializers.BooleanField(
            required=False, allow_null=True, default=None,
            help_text="Admin keys only: filter on the active flag (default: all rewards).",
        )

    def get_permissions(self):
        if self.request.method == "POST":
            return [HasAdminScope()]
        return super().get_permissions()

    @extend_schema(
        operation_id="rewards_list",
        tags=REWARD_TAGS,
        summary="The reward catalogue",
        description=(
            "`pos` keys see the active rewards not past their window (ones opening later included). "
            "`admin` keys see every reward, optionally filtered with `?active=`."
        ),
        parameters=[FilterSerializer, *NUMBERED_PAGE_PARAMETERS],
        responses={
            200: paginated(RewardSerializer, name="PaginatedRewardList", counted=True),
            404: _error(gettext_lazy("`not_found`: no such page.")),
        },
    )
    def get(self, request):
        if _is_admin(request.auth):
            filters = self.FilterSerializer(data=request.query_params)
            filters.is_valid(raise_exception=True)
            rewards = reward_list(active_only=False)
            if filters.validated_data["active"] is not None:
                rewards = rewards.filter(active=filters.validated_data["active"])
        else:
            rewards = reward_list(active_only=True)
        paginator = PagePagination()
        page = paginator.paginate_queryset(rewards, request, view=self)
        return paginator.get_paginated_response(RewardSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        operation_id="rewards_create",
        tags=REWARD_TAGS,
        summary="Add a reward (admin scope)",
        request={"application/json": RewardInputSerializer, "multipart/form-data": RewardInputSerializer},
        responses={201: RewardSerializer},
    )
    def post(self, request):
        serializer = RewardInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reward = _reward_save(reward_create, **serializer.validated_fields())
        return reward_response(request, reward, status.HTTP_201_CREATED)


REWARD_CODE_PARAMETER = OpenApiParameter("code", OpenApiTypes.STR, OpenApiParameter.PATH, description="Reward code.")


class RewardDetailApi(PosApi):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_permissions(self):
        if self.request.method in ("PATCH", "DELETE"):
            return [HasAdminScope()]
        return super().get_permissions()

    def _reward(self, request, code: str) -> Reward:
        rewards = reward_list(active_only=not _is_admin(request.auth))
        return get_object_or_404(rewards, code=code)

    @extend_schema(
        operation_id="rewards_retrieve",
        tags=REWARD_TAGS,
        summary="One reward (pos keys: active ones only)",
        parameters=[REWARD_CODE_PARAMETER],
        responses={200: RewardSerializer, 404: _error(gettext_lazy("`not_found`: no such reward."))},
    )
    def get(self, request, code: str):
        return reward_response(request, self._reward(request, code))

    @extend_schema(
        operation_id="rewards_partial_update",
        tags=REWARD_TAGS,
        summary="Change a reward (admin scope)",
        parameters=[REWARD_CODE_PARAMETER],
        request={"application/json": RewardInputSerializer, "multipart/form-data": RewardInputSerializer},
        responses={200: RewardSerializer, 404: _error(gettext_lazy("`not_found`: no such reward."))},
    )
    def patch(self, request, code: str):
        reward = self._reward(request, code)
        serializer = RewardInputSerializer(reward, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        reward = _reward_save(reward_update, reward=reward, **serializer.validated_fields())
        return reward_response(request, reward)

    @extend_schema(
        operation_id="rewards_destroy",
        tags=REWARD_TAGS,
        summary="Delete a reward (admin scope); one with redemptions is deactivated instead",
        parameters=[REWARD_CODE_PARAMETER],
        responses={
            200: OpenApiResponse(RewardSerializer, description=gettext_lazy(
                "It has redemptions: deactivated (`active: false`) and kept for its history."
            )),
            204: OpenApiResponse(description=gettext_lazy("Deleted, with its voucher pool.")),
            404: _error(gettext_lazy("`not_found`: no such reward.")),
        },
    )
    def delete(self, request, code: str):
        reward = self._reward(request, code)
        if reward_delete(reward=reward):
            return Response(status=status.HTTP_204_NO_CONTENT)
        return reward_response(request, reward)


# -- member self-service ---------------------------------------------------------------------------------


class MeRedemptionListCreateApi(MemberSessionApi):
    class InputSerializer(serializers.Serializer):
        reward = serializers.SlugField(max_length=50, help_text="The reward's code.")

    @extend_schema(
        operation_id="me_redemptions_list",
        tags=["me"],
        summary="My redemptions and coupons, newest first",
        responses={200: paginated(MemberRedemptionSerializer, name="PaginatedMemberRedemptionList")},
    )
    def get(self, request):
        return paginate(self, redemption_list_for_member(member=self.member()), MemberRedemptionSerializer,
                        _IssuedFirstPagination)

    @extend_schema(
        operation_id="me_redemptions_create",
        tags=["me"],
        summary="Redeem a catalogue reward for myself",
        request=InputSerializer,
        responses={
            201: RedemptionSerializer,
            403: _error(gettext_lazy(
                "`tier_required`, `badge_required`, `challenge_required`, or `forbidden` (no CSRF token)."
            )),
            409: _error(gettext_lazy("`out_of_stock`, `limit_reached` or `idempotency_conflict`.")),
            422: _error(gettext_lazy(
                "`insufficient_points`, `reward_unavailable`, `member_inactive` or `invalid` (unknown reward)."
            )),
        },
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reward = Reward.objects.filter(code=serializer.validated_data["reward"]).first()
        if reward is None:
            raise exceptions.ValidationError({"reward": [_("No reward has this code.")]})
        redemption = reward_redeem(member=self.member(), reward=reward)
        return redemption_response(redemption, status.HTTP_201_CREATED)


class _IssuedFirstPagination(NewestFirstPagination):
    ordering = ("-issued_at", "-id")
