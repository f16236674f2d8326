from django.urls import path

from loyalty.api.tiers import MemberMembershipCreateApi, TierDetailApi, TierListCreateApi

# Codes and loyalty IDs are matched as any segment and checked by the view, so malformed ones get the JSON 404.
urlpatterns = [
    path("tiers/", TierListCreateApi.as_view(), name="tiers"),
    path("tiers/<str:code>/", TierDetailApi.as_view(), name="tier-detail"),
    path("members/<str:loyalty_id>/memberships/", MemberMembershipCreateApi.as_view(), name="member-memberships"),
]
