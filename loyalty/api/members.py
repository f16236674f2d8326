"""Members: enrol, look up, history, and manual adjustments (admin scope)."""

import hashlib
import re
from datetime import date

from django.conf import settings
from django.db.models import Value
from django.db.models.functions import Lower
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from loyalty.api.auth import HasAdminScope
from loyalty.api.base import (
    CURSOR_PAGE_PARAMETERS,
    IDEMPOTENCY_HEADER,
    LOYALTY_ID_PARAMETER,
    LOYALTY_ID_PATTERN,
    NUMBERED_PAGE_PARAMETERS,
    AdminApi,
    NewestFirstPagination,
    PosApi,
    member_by_loyalty_id,
    paginate,
    paginated,
)
from loyalty.api.errors import ApiError, ErrorSerializer, MemberExistsErrorSerializer
from loyalty.api.misses import MEMBER_LOOKUP_LIMITED, MEMBER_LOOKUP_MISSES
from loyalty.api.serializers import MemberSerializer, TransactionSerializer
from loyalty.models import ApiKey, LedgerTransaction
from loyalty.selectors import member_balance_get, members_with_balances
from loyalty.services.ledger import points_adjust
from members.forms import PHONE_RE
from members.models import Member, MemberStatus
from members.services import NICKNAME_MAX, MemberExists, MemberInvalid, member_create, member_update

TAGS = ["members"]
# Far beyond any real adjustment, far below what a 64-bit balance column holds.
MAX_ADJUSTMENT_POINTS = 1_000_000_000
NOT_FOUND = OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: no member has this loyalty ID."))


def member_representation(member: Member) -> dict:
    """Re-read the member so balances and tier written during this request are current."""
    fresh = members_with_balances().get(pk=member.pk)
    return MemberSerializer(fresh).data


class MemberListCreateApi(PosApi):
    class FilterSerializer(serializers.Serializer):
        email = serializers.CharField(max_length=254, help_text="Exact email address, case-insensitive.")

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        first_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        last_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        birthday = serializers.DateField(required=False, allow_null=True, default=None)
        phone = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
        referral_code = serializers.CharField(
            max_length=32, required=False, allow_blank=True, allow_null=True, default=None,
            help_text="Another member's referral code: that member referred this one.",
        )
        marketing_consent = serializers.BooleanField(required=False, default=False)
        language = serializers.ChoiceField(
            choices=settings.LANGUAGES, required=False, default=settings.LANGUAGE_CODE,
            help_text="Language for the member's emails.",
        )

        def validate_birthday(self, value: date | None) -> date | None:
            if value is not None and not date(1900, 1, 1) <= value <= timezone.localdate():
                raise serializers.ValidationError(_("Enter a date of birth in the past."))
            return value

        def validate_referral_code(self, value: str | None) -> Member | None:
            code = (value or "").strip().upper()
            if not code:
                return None
            referrer = Member.objects.filter(referral_code=code).first()
            if referrer is None:
                raise serializers.ValidationError(_("No member has this referral code."))
            return referrer

    @extend_schema(
        operation_id="members_list",
        tags=TAGS,
        summary="Find members by email",
        parameters=[FilterSerializer, *NUMBERED_PAGE_PARAMETERS],
        responses={
            200: paginated(MemberSerializer, name="PaginatedMemberList", counted=True),
            404: OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: no such page.")),
            422: OpenApiResponse(ErrorSerializer, description=gettext_lazy("`invalid`: `email` is missing.")),
            429: MEMBER_LOOKUP_LIMITED,
        },
    )
    def get(self, request):
        """Members whose email matches exactly, ignoring case (at most one: emails are unique). An email that
        matches no member counts against the API key's limit of look-ups of unknown members."""
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        MEMBER_LOOKUP_MISSES.check(request.auth)
        email = filters.validated_data["email"].strip()
        # Lower() on both sides matches the member_email_unique_ci index, on every database.
        members = members_with_balances(
            Member.objects.alias(email_lower=Lower("email")).filter(email_lower=Lower(Value(email))).order_by("id")
        )
        response = paginate(self, members, MemberSerializer)
        if not response.data["count"]:
            MEMBER_LOOKUP_MISSES.record(request.auth)
        return response

    @extend_schema(
        operation_id="members_create",
        tags=TAGS,
        summary="Enrol a member",
        request=InputSerializer,
        responses={
            201: MemberSerializer,
            409: OpenApiResponse(
                MemberExistsErrorSerializer,
                description=gettext_lazy("`member_exists` (with the member's `loyalty_id`), or "
                                         "`idempotency_conflict`."),
            ),
        },
    )
    def post(self, request):
        """Enrol a member at this key's store. An email that is taken answers 409 `member_exists` with
        that member's `loyalty_id`; a `referral_code` records who referred the new member."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        referrer = data.pop("referral_code")
        try:
            member = member_create(**data, referred_by=referrer, store=request.auth.store)
        except MemberExists as exc:
            raise ApiError("member_exists", str(exc), status_code=409,
                           extra={"loyalty_id": exc.member.loyalty_id}) from None
        return Response(member_representation(member), status=status.HTTP_201_CREATED)


class MemberChangeSerializer(serializers.Serializer):
    """The profile fields a change may carry (all optional); the API views pick theirs."""

    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    phone = serializers.RegexField(PHONE_RE, max_length=30, required=False, allow_blank=True,
                                   help_text="Digits, spaces and an optional leading +.")
    nickname = serializers.CharField(
        max_length=NICKNAME_MAX, required=False, allow_blank=True,
        help_text="3 to 30 characters, unique whatever the case; shown on the leaderboard. Empty clears it.",
    )
    leaderboard_opt_in = serializers.BooleanField(required=False, help_text="Needs a nickname.")
    marketing_consent = serializers.BooleanField(required=False)

    def validate_birthday(self, value: date | None) -> date | None:
        if value is not None and not date(1900, 1, 1) <= value <= timezone.localdate():
            raise serializers.ValidationError(_("Enter a date of birth in the past."))
        return value


def member_change(member: Member, request, serializer_class) -> Member:
    """Validate a PATCH body with `serializer_class` and apply it through member_update; 422 with `fields`.
    An API key's change is made in its name (closing a membership is recorded in the audit log with it)."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    api_key = request.auth if isinstance(request.auth, ApiKey) else None
    try:
        return member_update(member=member, api_key=api_key, **serializer.validated_data)
    except MemberInvalid as error:
        raise ApiError(error.code, error.detail, fields=error.fields) from None


class MemberDetailApi(PosApi):
    class ChangeSerializer(MemberChangeSerializer):
        birthday = serializers.DateField(required=False, allow_null=True)
        status = serializers.ChoiceField(
            choices=MemberStatus.choices, required=False,
            help_text="Suspended and closed members earn nothing. Closing is final and anonymises the member "
            "(as closing in the portal: points forfeited, personal data erased, login removed).",
        )

    def get_permissions(self):
        if self.request is not None and self.request.method == "PATCH":
            return [HasAdminScope()]
        return super().get_permissions()

    @extend_schema(
        operation_id="members_partial_update",
        tags=TAGS,
        summary="Change a member's profile or status (admin scope)",
        parameters=[LOYALTY_ID_PARAMETER],
        request=ChangeSerializer,
        responses={200: MemberSerializer, 404: NOT_FOUND, 422: OpenApiResponse(
            ErrorSerializer, description=gettext_lazy(
                "`invalid` with `fields`: a nickname taken or not 3-30 characters, the leaderboard without a "
                "nickname, reopening a closed member or changing its profile, closing a staff login's membership, "
                "a bad phone number or birthday."))},
    )
    def patch(self, request, loyalty_id: str):
        """Only the fields sent change. `status` `closed` closes the membership as the member can in the portal
        (points forfeited, personal data anonymised, login removed; in the audit log with this API key); a
        closed member stays closed and its profile cannot change. A suspended or closed member earns nothing
        from purchases, actions or referrals."""
        member = member_change(member_by_loyalty_id(request, loyalty_id), request, self.ChangeSerializer)
        return Response(member_representation(member))

    @extend_schema(
        operation_id="members_retrieve",
        tags=TAGS,
        summary="A member with balances and tier progress",
        parameters=[LOYALTY_ID_PARAMETER],
        responses={200: MemberSerializer, 404: NOT_FOUND},
    )
    def get(self, request, loyalty_id: str):
        """Profile, status, tier, balances (available, pending, lifetime earned, next expiries) and
        progress to the next tier."""
        # One query for the member, its tier and both balances (plus the expiring lots): O(1) in history.
        # Otherwise as member_by_loyalty_id: malformed IDs 404 without a query, misses count against the key.
        MEMBER_LOOKUP_MISSES.check(request.auth)
        member = None
        if re.fullmatch(LOYALTY_ID_PATTERN, loyalty_id or ""):
            member = members_with_balances().filter(loyalty_id=loyalty_id).first()
        if member is None:
            MEMBER_LOOKUP_MISSES.record(request.auth)
            raise Http404
        return Response(MemberSerializer(member).data)


class MemberBalanceApi(PosApi):
    class OutputSerializer(serializers.Serializer):
        loyalty_id = serializers.CharField()
        status = serializers.ChoiceField(choices=MemberStatus.choices)
        available = serializers.IntegerField(help_text="Spendable now (negative while a refund left a debt).")
        pending = serializers.IntegerField(help_text="Earned, not yet released.")

    @extend_schema(
        operation_id="members_balance_retrieve",
        tags=TAGS,
        summary="A member's balance (the till's quick check)",
        parameters=[LOYALTY_ID_PARAMETER],
        responses={200: OutputSerializer, 404: NOT_FOUND},
    )
    def get(self, request, loyalty_id: str):
        """Available and pending points only: one indexed query, whatever the history length. Use the
        member endpoint for tier progress and expiring points."""
        MEMBER_LOOKUP_MISSES.check(request.auth)
        balance = None
        if re.fullmatch(LOYALTY_ID_PATTERN, loyalty_id or ""):
            balance = member_balance_get(loyalty_id=loyalty_id)
        if balance is None:
            MEMBER_LOOKUP_MISSES.record(request.auth)
            raise Http404
        return Response(balance)


class MemberTransactionListApi(PosApi):
    @extend_schema(
        operation_id="members_transactions_list",
        tags=TAGS,
        summary="A member's points history, newest first",
        parameters=[LOYALTY_ID_PARAMETER, *CURSOR_PAGE_PARAMETERS],
        responses={
            200: paginated(TransactionSerializer, name="PaginatedTransactionList"),
            404: OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: unknown member or cursor.")),
        },
    )
    def get(self, request, loyalty_id: str):
        """Every change to the member's points, newest first, with the balance after it (cursor pages)."""
        member = member_by_loyalty_id(request, loyalty_id)
        transactions = LedgerTransaction.objects.filter(member=member)
        return paginate(self, transactions, TransactionSerializer, NewestFirstPagination)


class MemberAdjustmentCreateApi(AdminApi):
    class InputSerializer(serializers.Serializer):
        points = serializers.IntegerField(
            min_value=-MAX_ADJUSTMENT_POINTS, max_value=MAX_ADJUSTMENT_POINTS,
            help_text="Non-zero: positive credits a new lot, negative debits FIFO.",
        )
        reason = serializers.CharField(max_length=255, help_text="Shown to the member in their history.")

        def validate_points(self, value: int) -> int:
            if value == 0:
                raise serializers.ValidationError(_("Enter a non-zero number of points."))
            return value

    @extend_schema(
        operation_id="members_adjustments_create",
        tags=TAGS,
        summary="Adjust a member's points by hand (admin scope)",
        parameters=[LOYALTY_ID_PARAMETER],
        request=InputSerializer,
        responses={
            201: TransactionSerializer,
            404: NOT_FOUND,
            422: OpenApiResponse(
                ErrorSerializer,
                description=gettext_lazy("`insufficient_points` for a debit beyond the available balance, "
                                         "or `invalid`."),
            ),
        },
    )
    def post(self, request, loyalty_id: str):
        """A manual correction with a reason: a credit into a new lot, or a debit (FIFO) that may not
        exceed the available balance (422 `insufficient_points`). Admin-scope keys only."""
        member = member_by_loyalty_id(request, loyalty_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        transaction = points_adjust(
            member=member,
            points=serializer.validated_data["points"],
            reason=serializer.validated_data["reason"],
            store=request.auth.store,
            idempotency_key=_ledger_key(request),
        )
        return Response(TransactionSerializer(transaction).data, status=status.HTTP_201_CREATED)


def _ledger_key(request) -> str:
    """The ledger's own idempotency key for a request with an Idempotency-Key (scoped to the API key)."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if not key:
        return ""
    return "api-adjust:" + hashlib.sha256(f"{request.auth.pk}:{key}".encode()).hexdigest()
