from django.urls import path

from campaigns.api.promotions import PromotionDetailApi, PromotionListCreateApi

# Ids are matched as any segment and checked by the view, so unknown ones get the JSON 404.
urlpatterns = [
    path("promotions/", PromotionListCreateApi.as_view(), name="promotions"),
    path("promotions/<str:id>/", PromotionDetailApi.as_view(), name="promotion-detail"),
]
