"""Portal pages of the campaigns (mounted at the site's root by loyalty/urls.py)."""

from django.urls import path

from campaigns.views import referrals

app_name = "campaigns"
urlpatterns = [
    path("refer/", referrals.referrals, name="referrals"),
]
