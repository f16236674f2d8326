from django.urls import path

from campaigns.api.actions import ActionRuleDetailApi, ActionRuleListCreateApi, EventRecordApi
from campaigns.api.badges import BadgeDetailApi, BadgeListCreateApi, MeBadgeListApi, MemberBadgeListCreateApi
from campaigns.api.challenges import (
    ChallengeDetailApi,
    ChallengeListCreateApi,
    MeChallengeListApi,
    MemberChallengeListApi,
)
from campaigns.api.leaderboards import LeaderboardApi, MeLeaderboardApi
from campaigns.api.promotions import PromotionDetailApi, PromotionListCreateApi
from campaigns.api.referrals import MemberReferralsApi, MeReferralsApi

# Ids and codes are matched as any segment and checked by the view, so unknown ones get the JSON 404.
urlpatterns = [
    path("promotions/", PromotionListCreateApi.as_view(), name="promotions"),
    path("promotions/<str:id>/", PromotionDetailApi.as_view(), name="promotion-detail"),
    path("events/", EventRecordApi.as_view(), name="events"),
    path("action-rules/", ActionRuleListCreateApi.as_view(), name="action-rules"),
    path("action-rules/<str:type>/", ActionRuleDetailApi.as_view(), name="action-rule-detail"),
    path("members/<str:loyalty_id>/referrals/", MemberReferralsApi.as_view(), name="member-referrals"),
    path("me/referrals/", MeReferralsApi.as_view(), name="me-referrals"),
    path("challenges/", ChallengeListCreateApi.as_view(), name="challenges"),
    path("challenges/<str:code>/", ChallengeDetailApi.as_view(), name="challenge-detail"),
    path("badges/", BadgeListCreateApi.as_view(), name="badges"),
    path("badges/<str:code>/", BadgeDetailApi.as_view(), name="badge-detail"),
    path("members/<str:loyalty_id>/challenges/", MemberChallengeListApi.as_view(), name="member-challenges"),
    path("members/<str:loyalty_id>/badges/", MemberBadgeListCreateApi.as_view(), name="member-badges"),
    path("me/challenges/", MeChallengeListApi.as_view(), name="me-challenges"),
    path("me/badges/", MeBadgeListApi.as_view(), name="me-badges"),
    path("leaderboard/", LeaderboardApi.as_view(), name="leaderboard"),
    path("me/leaderboard/", MeLeaderboardApi.as_view(), name="me-leaderboard"),
]
