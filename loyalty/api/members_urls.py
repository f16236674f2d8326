from django.urls import path

from loyalty.api.me import MeDetailApi, MeTransactionListApi
from loyalty.api.members import (
    MemberAdjustmentCreateApi,
    MemberBalanceApi,
    MemberDetailApi,
    MemberListCreateApi,
    MemberTransactionListApi,
)

# loyalty_id is matched as any segment and checked by the view, so a malformed one gets the JSON 404.
urlpatterns = [
    path("members/", MemberListCreateApi.as_view(), name="members"),
    path("members/<str:loyalty_id>/", MemberDetailApi.as_view(), name="member-detail"),
    path("members/<str:loyalty_id>/balance/", MemberBalanceApi.as_view(), name="member-balance"),
    path("members/<str:loyalty_id>/transactions/", MemberTransactionListApi.as_view(), name="member-transactions"),
    path("members/<str:loyalty_id>/adjustments/", MemberAdjustmentCreateApi.as_view(), name="member-adjustments"),
    path("me/", MeDetailApi.as_view(), name="me"),
    path("me/transactions/", MeTransactionListApi.as_view(), name="me-transactions"),
]
