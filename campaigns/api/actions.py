"""Actions: `POST /events/` (a review, share, survey or custom action of a member) and the action rules
(admin scope) that say what each type earns and how often."""

from django.http import Http404
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from campaigns.models import ActionEvent, ActionRule, CapPeriod
from campaigns.models.actions import ACTION_TYPE_PATTERN
from campaigns.services.actions import (
    ActionInvalid,
    action_event_record,
    action_rule_create,
    action_rule_delete,
    action_rule_update,
)
from loyalty.api.base import (
    LOYALTY_ID_PATTERN,
    NUMBERED_PAGE_PARAMETERS,
    AdminApi,
    PosApi,
    member_by_loyalty_id,
    paginate,
    paginated,
)
from loyalty.api.errors import ApiError, ErrorSerializer
from loyalty.api.fields import ApiDateTimeField

MAX_CAP = 1_000_000
MAX_POINTS = 1_000_000_000


def _invalid(error: ActionInvalid) -> ApiError:
    return ApiError(error.code, error.detail, status_code=error.status_code, fields=error.fields)


class EventResultSerializer(serializers.Serializer):
    points = serializers.IntegerField(help_text="Points credited (0 when a cap stopped the event).")
    transaction_id = serializers.IntegerField(allow_null=True, help_text="The ledger transaction; null when capped.")
    capped = serializers.BooleanField(help_text="A cap of the action rule stopped this event: it earned nothing.")
    cap = serializers.ChoiceField(
        choices=CapPeriod.choices, allow_null=True, help_text="Which cap stopped it (day, week, month, lifetime)."
    )
    id = serializers.IntegerField(help_text="The recorded event.")
    member = serializers.CharField(help_text="The member's loyalty ID.")
    type = serializers.CharField()
    reference = serializers.CharField(allow_blank=True)
    occurred_at = serializers.DateTimeField()


def event_representation(event: ActionEvent) -> dict:
    return {
        "points": event.points,
        "transaction_id": event.transaction_id,
        "capped": event.capped,
        "cap": event.cap or None,
        "id": event.pk,
        "member": event.member.loyalty_id,
        "type": event.type,
        "reference": event.reference,
        "occurred_at": event.occurred_at,
    }


class EventRecordApi(PosApi):
    class InputSerializer(serializers.Serializer):
        member = serializers.RegexField(LOYALTY_ID_PATTERN, help_text="The member's 16-digit loyalty ID.")
        type = serializers.CharField(
            max_length=40, help_text="`review`, `social_share`, `survey` or a custom slug with an action rule."
        )
        reference = serializers.CharField(
            max_length=255, required=False, allow_blank=True, allow_null=True, default="",
            help_text="What the action was about (a product SKU for a review, a survey id, a shared URL). The "
            "same (member, type, reference) counts once under a once-per-reference rule.",
        )
        occurred_at = ApiDateTimeField(required=False, allow_null=True, default=None,
                                       help_text="When the member did it (default now); caps count by it.")

    @extend_schema(
        operation_id="events_create",
        tags=["actions"],
        summary="Record an action of a member (review, share, survey, custom)",
        request=InputSerializer,
        responses={
            201: OpenApiResponse(EventResultSerializer, description=gettext_lazy(
                "Recorded: the points credited, or `capped` true with 0 points and no transaction.")),
            200: OpenApiResponse(EventResultSerializer, description=gettext_lazy(
                "A repeat of (member, type, reference): the first result again; nothing changed.")),
            404: OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: unknown loyalty ID.")),
            422: OpenApiResponse(ErrorSerializer, description=gettext_lazy(
                "`invalid` (an unknown or inactive type, a future `occurred_at`), or `member_inactive`.")),
        },
    )
    def post(self, request):
        """Credit the action rule's points to the member, within the rule's caps per calendar day, ISO week
        (Monday) and month in the site's time zone (judged by `occurred_at`) and its lifetime cap."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        member = member_by_loyalty_id(request, data["member"])
        try:
            result = action_event_record(member=member, type=data["type"], reference=data.get("reference") or "",
                                         occurred_at=data.get("occurred_at"), store=request.auth.store)
        except ActionInvalid as error:
            raise _invalid(error) from None
        result.event.member = member
        return Response(EventResultSerializer(event_representation(result.event)).data,
                        status=status.HTTP_200_OK if result.replayed else status.HTTP_201_CREATED)


# -- action rules (configuration) ------------------------------------------------------------------------


def _cap_field(label: str) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_CAP, required=False, allow_null=True, default=None,
                                    help_text=f"At most this many events earn per {label}; null: no cap.")


class ActionRuleSerializer(serializers.Serializer):
    type = serializers.RegexField(ACTION_TYPE_PATTERN, max_length=40,
                                  help_text="`review`, `social_share`, `survey` or your own slug; cannot change.")
    name = serializers.CharField(max_length=100)
    points = serializers.IntegerField(min_value=1, max_value=MAX_POINTS)
    active = serializers.BooleanField(required=False, default=True)
    once_per_reference = serializers.BooleanField(
        required=False, default=True,
        help_text="The same (member, type, reference) earns once; a repeat answers with the first result.",
    )
    per_day = _cap_field("calendar day")
    per_week = _cap_field("ISO week (from Monday)")
    per_month = _cap_field("calendar month")
    lifetime = _cap_field("member, ever")


TYPE_PARAMETER = OpenApiParameter("type", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=ACTION_TYPE_PATTERN)
TAGS = ["configuration"]
NOT_FOUND = OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: no rule for this type."))
INVALID = OpenApiResponse(ErrorSerializer, description=gettext_lazy(
    "`invalid` with `fields`: e.g. a type that has a rule already, or a change of type."))


def _rule_by_type(type: str) -> ActionRule:
    rule = ActionRule.objects.filter(type=type).first() if len(type) <= 40 else None
    if rule is None:
        raise Http404
    return rule


class ActionRuleListCreateApi(AdminApi):
    @extend_schema(
        operation_id="action_rules_list",
        tags=TAGS,
        summary="Action rules",
        parameters=NUMBERED_PAGE_PARAMETERS,
        responses={
            200: paginated(ActionRuleSerializer, name="PaginatedActionRuleList", counted=True),
            404: OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: no such page.")),
        },
    )
    def get(self, request):
        return paginate(self, ActionRule.objects.order_by("type"), ActionRuleSerializer)

    @extend_schema(operation_id="action_rules_create", tags=TAGS, summary="Add an action rule",
                   request=ActionRuleSerializer, responses={201: ActionRuleSerializer, 422: INVALID})
    def post(self, request):
        serializer = ActionRuleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            rule = action_rule_create(**serializer.validated_data)
        except ActionInvalid as error:
            raise _invalid(error) from None
        return Response(ActionRuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class ActionRuleDetailApi(AdminApi):
    @extend_schema(operation_id="action_rules_retrieve", tags=TAGS, summary="An action rule",
                   parameters=[TYPE_PARAMETER], responses={200: ActionRuleSerializer, 404: NOT_FOUND})
    def get(self, request, type: str):
        return Response(ActionRuleSerializer(_rule_by_type(type)).data)

    @extend_schema(operation_id="action_rules_partial_update", tags=TAGS, summary="Change an action rule",
                   parameters=[TYPE_PARAMETER], request=ActionRuleSerializer,
                   responses={200: ActionRuleSerializer, 404: NOT_FOUND, 422: INVALID})
    def patch(self, request, type: str):
        """Events already recorded keep their points; the caps count every event of the type."""
        rule = _rule_by_type(type)
        serializer = ActionRuleSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = {name: value for name, value in serializer.validated_data.items() if name in request.data}
        try:
            rule = action_rule_update(rule=rule, **changes)
        except ActionInvalid as error:
            raise _invalid(error) from None
        return Response(ActionRuleSerializer(rule).data)

    @extend_schema(operation_id="action_rules_destroy", tags=TAGS, summary="Delete an action rule",
                   parameters=[TYPE_PARAMETER], responses={204: None, 404: NOT_FOUND})
    def delete(self, request, type: str):
        """Events of this type keep their points; new ones are refused as an unknown type."""
        action_rule_delete(rule=_rule_by_type(type))
        return Response(status=status.HTTP_204_NO_CONTENT)


