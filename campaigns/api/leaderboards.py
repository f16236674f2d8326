"""Leaderboards: the top places of this week, this month or all time (pos scope), and the signed-in member's
board with their own place (`/me/`)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from campaigns.api.challenges import TAGS_MEMBERS
from campaigns.models import LeaderboardPeriod
from campaigns.services.leaderboards import leaderboard_rank_get, leaderboard_top_get, period_get
from loyalty.api.base import MemberSessionApi, PosApi
from loyalty.api.errors import ErrorSerializer

MAX_LIMIT = 100


class LeaderboardQuerySerializer(serializers.Serializer):
    period = serializers.ChoiceField(
        choices=LeaderboardPeriod.choices, required=False, default=LeaderboardPeriod.WEEK,
        help_text="`week` (ISO week from Monday), `month` (calendar month) or `all`, in the site's time zone.",
    )
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, required=False, default=10)


class LeaderboardEntrySerializer(serializers.Serializer):
    rank = serializers.IntegerField(help_text="1 is first; ties go to whoever reached the score first.")
    nickname = serializers.CharField()
    points = serializers.IntegerField(help_text="Earn and bonus points less reversals in the period; prizes excluded.")


class LeaderboardSerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=LeaderboardPeriod.choices)
    starts_at = serializers.DateTimeField(allow_null=True, help_text="Null for all time.")
    ends_at = serializers.DateTimeField(allow_null=True, help_text="Null for all time.")
    results = LeaderboardEntrySerializer(many=True)


class LeaderboardPlaceSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    points = serializers.IntegerField()


class MeLeaderboardSerializer(LeaderboardSerializer):
    me = LeaderboardPlaceSerializer(
        allow_null=True,
        help_text="My place and points; null when I am not on this board (not opted in, no nickname, or no points "
                  "in the period).",
    )


BAD_QUERY = OpenApiResponse(ErrorSerializer, description=gettext_lazy(
    "`invalid` with `fields`: an unknown period, or a limit outside 1-100."
))


def _board(request) -> dict:
    query = LeaderboardQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    period = period_get(query.validated_data["period"])
    return {
        "period": period.kind,
        "starts_at": period.starts_at,
        "ends_at": period.ends_at,
        "results": leaderboard_top_get(period=period, limit=query.validated_data["limit"]),
        "_period": period,
    }


class LeaderboardApi(PosApi):
    @extend_schema(
        operation_id="leaderboard_retrieve", tags=TAGS_MEMBERS, summary="The leaderboard's top places",
        description="Active members who opted in and have a nickname, by points earned in the period.",
        parameters=[LeaderboardQuerySerializer],
        responses={200: LeaderboardSerializer, 422: BAD_QUERY},
    )
    def get(self, request):
        return Response(LeaderboardSerializer(_board(request)).data)


class MeLeaderboardApi(MemberSessionApi):
    @extend_schema(
        operation_id="me_leaderboard_retrieve", tags=["me"], summary="The leaderboard, with my own place",
        parameters=[LeaderboardQuerySerializer],
        responses={200: MeLeaderboardSerializer, 422: BAD_QUERY},
    )
    def get(self, request):
        board = _board(request)
        board["me"] = leaderboard_rank_get(member=self.member(), period=board["_period"])
        return Response(MeLeaderboardSerializer(board).data)
