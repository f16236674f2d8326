"""/api/v1/: each area keeps its routes in its own module."""

from django.urls import include, path

app_name = "api"
urlpatterns = [
    path("", include("loyalty.api.members_urls")),
    path("", include("loyalty.api.purchases_urls")),
    path("", include("loyalty.api.config_urls")),
    path("", include("loyalty.api.webhooks_urls")),
    path("", include("loyalty.api.tiers_urls")),
    path("", include("rewards.api_urls")),
    path("", include("campaigns.api.urls")),
]
