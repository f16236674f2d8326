"""Referrals: a member's referral link and the friends they brought (`/members/{loyalty_id}/referrals/`
for tills and shops, `/me/referrals/` for the signed-in member)."""

from django.urls import reverse
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from campaigns.models import BlockReason, ReferralStatus
from campaigns.services.referrals import member_display_name, member_referrals_get
from loyalty.api.base import LOYALTY_ID_PARAMETER, MemberSessionApi, PosApi, member_by_loyalty_id
from loyalty.api.errors import ErrorSerializer
from members.models import Member


class ReferralItemSerializer(serializers.Serializer):
    referee = serializers.CharField(help_text="The friend's first name and last-name initial (never the email).")
    status = serializers.ChoiceField(choices=ReferralStatus.choices)
    reason = serializers.ChoiceField(choices=BlockReason.choices, allow_null=True,
                                     help_text="Why a `blocked` referral was refused; null otherwise.")
    created_at = serializers.DateTimeField()
    rewarded_at = serializers.DateTimeField(allow_null=True)
    points = serializers.IntegerField(help_text="Points the referrer earned from this referral.")


class ReferralsSerializer(serializers.Serializer):
    referral_code = serializers.CharField()
    referral_url = serializers.URLField(help_text="The member's invitation link: the portal's sign-up, code filled in.")
    rewarded_count = serializers.IntegerField(help_text="Referrals that paid the referrer.")
    count = serializers.IntegerField(help_text="Referrals in all (`results` holds the newest 100).")
    results = ReferralItemSerializer(many=True)


def referrals_representation(request, member: Member) -> dict:
    summary = member_referrals_get(member=member)
    return {
        "referral_code": summary["referral_code"],
        "referral_url": request.build_absolute_uri(reverse("portal:referral_link", args=[member.referral_code])),
        "rewarded_count": summary["rewarded_count"],
        "count": summary["count"],
        "results": [
            {
                "referee": member_display_name(referral.referee),
                "status": referral.status,
                "reason": referral.block_reason or None,
                "created_at": referral.created_at,
                "rewarded_at": referral.rewarded_at,
                "points": referral.referrer_points,
            }
            for referral in summary["results"]
        ],
    }


class MemberReferralsApi(PosApi):
    @extend_schema(
        operation_id="members_referrals_retrieve",
        tags=["members"],
        summary="A member's referral link and referrals",
        parameters=[LOYALTY_ID_PARAMETER],
        responses={200: ReferralsSerializer, 404: OpenApiResponse(
            ErrorSerializer, description=gettext_lazy("`not_found`: no member has this loyalty ID."))},
    )
    def get(self, request, loyalty_id: str):
        """The member's referral code and link, and the friends they referred, newest first."""
        member = member_by_loyalty_id(request, loyalty_id)
        return Response(ReferralsSerializer(referrals_representation(request, member)).data)


class MeReferralsApi(MemberSessionApi):
    @extend_schema(operation_id="me_referrals_retrieve", tags=["me"],
                   summary="The signed-in member's referral link and referrals", responses={200: ReferralsSerializer})
    def get(self, request):
        """Only the signed-in member's own referrals."""
        return Response(ReferralsSerializer(referrals_representation(request, self.member())).data)
