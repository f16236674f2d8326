"""Redemption, coupons, the reward catalogue and its configuration, and the member's own redemptions."""

from django.urls import path

from rewards import api

urlpatterns = [
    path("redemptions/quote/", api.RedemptionQuoteApi.as_view(), name="redemption-quote"),
    path("redemptions/", api.RedemptionCreateApi.as_view(), name="redemption-list"),
    path("redemptions/<int:redemption_id>/cancel/", api.RedemptionCancelApi.as_view(), name="redemption-cancel"),
    path("coupons/<str:code>/use/", api.CouponUseApi.as_view(), name="coupon-use"),
    path("rewards/", api.RewardListCreateApi.as_view(), name="reward-list"),
    path("rewards/<slug:code>/", api.RewardDetailApi.as_view(), name="reward-detail"),
    path("me/redemptions/", api.MeRedemptionListCreateApi.as_view(), name="me-redemption-list"),
]
