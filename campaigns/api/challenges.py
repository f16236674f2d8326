"""Challenges: configuration (admin scope), a member's open challenges with progress (pos scope) and the
signed-in member's own (`/me/`)."""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal

from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from campaigns.models import Badge, Challenge, ChallengeGoal
from campaigns.services.challenges import (
    challenge_create,
    challenge_delete,
    challenge_update,
    challenges_with_counts,
    member_challenges_get,
)
from campaigns.services.common import CampaignInvalid
from loyalty.api.base import (
    LOYALTY_ID_PARAMETER,
    NUMBERED_PAGE_PARAMETERS,
    SLUG_PATTERN,
    AdminApi,
    MemberSessionApi,
    PosApi,
    member_by_loyalty_id,
    paginate,
    paginated,
)
from loyalty.api.errors import ApiError, ErrorSerializer
from loyalty.api.fields import ApiDateTimeField
from loyalty.models import Tier
from rewards.models import Reward

TAGS_CONFIG = ["configuration"]
TAGS_MEMBERS = ["gamification"]
MAX_TARGET = 1_000_000_000

CODE_PARAMETER = OpenApiParameter(
    "code", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=SLUG_PATTERN, description="The challenge's code."
)
NOT_FOUND = OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: no challenge has this code."))
INVALID = OpenApiResponse(ErrorSerializer, description=gettext_lazy(
    "`invalid` with `fields`: e.g. the code is taken, the actions goal lacks `action_type`, the end is not after "
    "the start, there is no prize, or the goal of a challenge with progress was changed."
))
MEMBER_NOT_FOUND = OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: no member has this "
                                                                              "loyalty ID."))


def campaign_error(error: CampaignInvalid) -> ApiError:
    return ApiError(error.code, error.detail, status_code=error.status_code, fields=error.fields or None)


def _by_code(queryset, code: str):
    if not re.fullmatch(SLUG_PATTERN, code or "") or len(code) > 50:
        raise Http404
    found = queryset.filter(code=code).first()
    if found is None:
        raise Http404
    return found


# -- configuration -----------------------------------------------------------------------------------


class ChallengeSerializer(serializers.Serializer):
    """A challenge, or a milestone when it has no `ends_at`. Progress counts what members do inside
    [starts_at, ends_at); each member completes it once and gets the prize once."""

    code = serializers.SlugField(max_length=50)
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    goal = serializers.ChoiceField(
        choices=ChallengeGoal.choices,
        help_text="`points_earned` (earn and bonus points, less refunds), `purchases` (not fully refunded), "
                  "`amount_spent` (totals less refunds, in whole currency units), `distinct_categories`, "
                  "`actions` (of `action_type`), or `weekly_streak` (a purchase in each of `target` "
                  "consecutive ISO weeks).",
    )
    action_type = serializers.SlugField(
        max_length=50, required=False, allow_blank=True, default="",
        help_text="The action's type slug; required for the `actions` goal, empty otherwise.",
    )
    target = serializers.IntegerField(min_value=1, max_value=MAX_TARGET)
    starts_at = ApiDateTimeField(
        required=False, allow_null=True, default=None,
        help_text="Default: now. What members did from then on counts, also for a challenge created later.",
    )
    ends_at = ApiDateTimeField(required=False, allow_null=True, default=None,
                               help_text="Null: a milestone without an end.")
    tiers = serializers.SlugRelatedField(
        many=True, slug_field="code", queryset=Tier.objects.all(), required=False, default=list,  # type: ignore[arg-type]
        help_text="Tier codes of the members who take part; empty: everyone.",
    )
    prize_points = serializers.IntegerField(min_value=0, max_value=MAX_TARGET, help_text="Bonus points (0: none).")
    prize_badge = serializers.SlugRelatedField(
        slug_field="code", queryset=Badge.objects.all(), required=False, allow_null=True, default=None,
        help_text="Badge code given on completion.",
    )
    prize_reward = serializers.SlugRelatedField(
        slug_field="code", queryset=Reward.objects.all(), required=False, allow_null=True, default=None,
        help_text="Reward code: only members who completed the challenge may redeem it.",
    )
    active = serializers.BooleanField(required=False, default=True)
    closed_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When close_challenges closed the ended window; null while open."
    )
    started = serializers.IntegerField(read_only=True, help_text="Members with progress.")
    completed = serializers.IntegerField(read_only=True, help_text="Members who completed it.")


def _representation(challenge: Challenge) -> dict:
    return ChallengeSerializer(challenges_with_counts().prefetch_related("tiers").select_related(
        "prize_badge", "prize_reward").get(pk=challenge.pk)).data


class ChallengeListCreateApi(AdminApi):
    @extend_schema(
        operation_id="challenges_list", tags=TAGS_CONFIG, summary="Challenges and milestones, newest first",
        parameters=NUMBERED_PAGE_PARAMETERS,
        responses={
            200: paginated(ChallengeSerializer, name="PaginatedChallengeList", counted=True),
            404: OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: no such page.")),
        },
    )
    def get(self, request):
        challenges = (
            challenges_with_counts().prefetch_related("tiers").select_related("prize_badge", "prize_reward")
            .order_by("-id")
        )
        return paginate(self, challenges, ChallengeSerializer)

    @extend_schema(
        operation_id="challenges_create", tags=TAGS_CONFIG, summary="Add a challenge or milestone",
        request=ChallengeSerializer, responses={201: ChallengeSerializer, 422: INVALID},
    )
    def post(self, request):
        """Once created, every member's progress since `starts_at` is counted (in the background)."""
        serializer = ChallengeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            challenge = challenge_create(**serializer.validated_data)
        except CampaignInvalid as error:
            raise campaign_error(error) from None
        return Response(_representation(challenge), status=status.HTTP_201_CREATED)


class ChallengeDetailApi(AdminApi):
    @extend_schema(operation_id="challenges_retrieve", tags=TAGS_CONFIG, summary="A challenge",
                   parameters=[CODE_PARAMETER], responses={200: ChallengeSerializer, 404: NOT_FOUND})
    def get(self, request, code: str):
        return Response(_representation(_by_code(Challenge.objects, code)))

    @extend_schema(
        operation_id="challenges_partial_update", tags=TAGS_CONFIG, summary="Change a challenge",
        parameters=[CODE_PARAMETER], request=ChallengeSerializer,
        responses={200: ChallengeSerializer, 404: NOT_FOUND, 422: INVALID},
    )
    def patch(self, request, code: str):
        """A new target, window or tiers recounts the progress not completed yet; completed stays completed.
        The goal cannot change once members have progress."""
        challenge = _by_code(Challenge.objects, code)
        serializer = ChallengeSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = {name: value for name, value in serializer.validated_data.items() if name in request.data}
        if "code" in changes and Challenge.objects.filter(code=changes["code"]).exclude(pk=challenge.pk).exists():
            raise ApiError("invalid", _("The challenge is not valid."),
                           fields={"code": [_("Another challenge has this code.")]})
        try:
            challenge = challenge_update(challenge=challenge, **changes)
        except CampaignInvalid as error:
            raise campaign_error(error) from None
        return Response(_representation(challenge))

    @extend_schema(
        operation_id="challenges_destroy", tags=TAGS_CONFIG,
        summary="Delete a challenge; one with progress is deactivated instead",
        parameters=[CODE_PARAMETER],
        responses={
            204: OpenApiResponse(description=gettext_lazy("Deleted.")),
            200: OpenApiResponse(ChallengeSerializer, description=gettext_lazy(
                "Members have progress on it: deactivated (`active: false`) and kept for its history."
            )),
            404: NOT_FOUND,
        },
    )
    def delete(self, request, code: str):
        challenge = _by_code(Challenge.objects, code)
        if challenge_delete(challenge=challenge):
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(_representation(challenge))


# -- a member's challenges -----------------------------------------------------------------------------


class ChallengePrizeSerializer(serializers.Serializer):
    points = serializers.IntegerField(help_text="Bonus points.")
    badge = serializers.CharField(allow_null=True, help_text="Badge code, or null.")
    reward = serializers.CharField(allow_null=True, help_text="Code of the reward it unlocks, or null.")


class MemberChallengeSerializer(serializers.Serializer):
    code = serializers.CharField(source="challenge.code")
    name = serializers.CharField(source="challenge.name")
    description = serializers.CharField(source="challenge.description")
    goal = serializers.ChoiceField(source="challenge.goal", choices=ChallengeGoal.choices)
    action_type = serializers.CharField(source="challenge.action_type")
    target = serializers.IntegerField(source="challenge.target")
    progress = serializers.SerializerMethodField()
    progress_amount = serializers.SerializerMethodField()
    remaining = serializers.SerializerMethodField()
    completed_at = serializers.DateTimeField(allow_null=True)
    starts_at = serializers.DateTimeField(source="challenge.starts_at")
    ends_at = serializers.DateTimeField(source="challenge.ends_at", allow_null=True)
    prize = serializers.SerializerMethodField()

    @extend_schema_field(serializers.IntegerField(
        help_text="Counted so far (for `amount_spent`, whole currency units; see `progress_amount`). Frozen once "
                  "completed."
    ))
    def get_progress(self, item: dict) -> int:
        return int(item["progress"].to_integral_value(rounding=ROUND_DOWN))

    @extend_schema_field(serializers.DecimalField(
        max_digits=14, decimal_places=2, allow_null=True,
        help_text="`amount_spent` only: the amount spent so far, with cents; null for other goals.",
    ))
    def get_progress_amount(self, item: dict) -> str | None:
        if item["challenge"].goal != ChallengeGoal.AMOUNT_SPENT:
            return None
        return f"{item['progress']:.2f}"

    @extend_schema_field(serializers.IntegerField(help_text="Still needed (rounded up); 0 once completed."))
    def get_remaining(self, item: dict) -> int:
        return int(Decimal(item["remaining"]).to_integral_value(rounding="ROUND_CEILING"))

    @extend_schema_field(ChallengePrizeSerializer)
    def get_prize(self, item: dict) -> dict:
        challenge = item["challenge"]
        return {
            "points": challenge.prize_points,
            "badge": challenge.prize_badge.code if challenge.prize_badge else None,
            "reward": challenge.prize_reward.code if challenge.prize_reward else None,
        }


class MemberChallengeListSerializer(serializers.Serializer):
    results = MemberChallengeSerializer(many=True)


def _member_challenges(member) -> Response:
    return Response(MemberChallengeListSerializer({"results": member_challenges_get(member=member)}).data)


class MemberChallengeListApi(PosApi):
    @extend_schema(
        operation_id="members_challenges_list", tags=TAGS_MEMBERS,
        summary="The challenges open to a member, with their progress",
        description="Active challenges in their window for the member's tier (none for a suspended or closed member).",
        parameters=[LOYALTY_ID_PARAMETER],
        responses={200: MemberChallengeListSerializer, 404: MEMBER_NOT_FOUND},
    )
    def get(self, request, loyalty_id: str):
        return _member_challenges(member_by_loyalty_id(request, loyalty_id))


class MeChallengeListApi(MemberSessionApi):
    @extend_schema(
        operation_id="me_challenges_list", tags=["me"], summary="My open challenges, with my progress",
        responses={200: MemberChallengeListSerializer},
    )
    def get(self, request):
        return _member_challenges(self.member())
