"""Member self-service: the signed-in member's own data, by session cookie (CSRF-checked for writes).

There is deliberately no loyalty ID in these URLs: the member is always `request.user.member`.
"""

from django.conf import settings
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from loyalty.api.base import CURSOR_PAGE_PARAMETERS, MemberSessionApi, NewestFirstPagination, paginate, paginated
from loyalty.api.errors import ErrorSerializer
from loyalty.api.members import MemberChangeSerializer, member_change
from loyalty.api.serializers import MemberSerializer, TransactionSerializer
from loyalty.models import LedgerTransaction

TAGS = ["me"]


class MeDetailApi(MemberSessionApi):
    class ChangeSerializer(MemberChangeSerializer):
        language = serializers.ChoiceField(choices=settings.LANGUAGES, required=False,
                                           help_text="The portal's and the emails' language.")

    @extend_schema(operation_id="me_retrieve", tags=TAGS, summary="The signed-in member",
                   responses={200: MemberSerializer})
    def get(self, request):
        """The signed-in member, as in the Member representation of the API."""
        return Response(MemberSerializer(self.member()).data)

    @extend_schema(
        operation_id="me_partial_update",
        tags=TAGS,
        summary="Change the signed-in member's profile",
        request=ChangeSerializer,
        responses={200: MemberSerializer, 422: OpenApiResponse(ErrorSerializer, description=gettext_lazy(
            "`invalid` with `fields`: a nickname taken or not 3-30 characters, the leaderboard without a "
            "nickname, a bad phone number."))},
    )
    def patch(self, request):
        """Only the fields sent change."""
        member_change(self.member(), request, self.ChangeSerializer)
        return Response(MemberSerializer(self.member()).data)


class MeTransactionListApi(MemberSessionApi):
    @extend_schema(
        operation_id="me_transactions_list",
        tags=TAGS,
        summary="The signed-in member's points history, newest first",
        parameters=CURSOR_PAGE_PARAMETERS,
        responses={
            200: paginated(TransactionSerializer, name="PaginatedTransactionList"),
            404: OpenApiResponse(ErrorSerializer, description=gettext_lazy("`not_found`: the cursor is not valid.")),
        },
    )
    def get(self, request):
        """The signed-in member's points history, newest first (cursor pages)."""
        transactions = LedgerTransaction.objects.filter(member=self.member())
        return paginate(self, transactions, TransactionSerializer, NewestFirstPagination)
