from django.urls import path

from campaigns.api.actions import ActionRuleDetailApi, ActionRuleListCreateApi, EventRecordApi
from campaigns.api.promotions import PromotionDetailApi, PromotionListCreateApi
from campaigns.api.referrals import MemberReferralsApi, MeReferralsApi

# Ids are matched as any segment and checked by the view, so unknown ones get the JSON 404.
urlpatterns = [
    path("promotions/", PromotionListCreateApi.as_view(), name="promotions"),
    path("promotions/<str:id>/", PromotionDetailApi.as_view(), name="promotion-detail"),
    path("events/", EventRecordApi.as_view(), name="events"),
    path("action-rules/", ActionRuleListCreateApi.as_view(), name="action-rules"),
    path("action-rules/<str:type>/", ActionRuleDetailApi.as_view(), name="action-rule-detail"),
    path("members/<str:loyalty_id>/referrals/", MemberReferralsApi.as_view(), name="member-referrals"),
    path("me/referrals/", MeReferralsApi.as_view(), name="me-referrals"),
]
