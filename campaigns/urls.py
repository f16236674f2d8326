"""Portal pages of the campaigns (mounted at the site's root by loyalty/urls.py)."""

from django.urls import path

from campaigns.views import badges, challenges, leaderboards, referrals

app_name = "campaigns"
urlpatterns = [
    path("refer/", referrals.referrals, name="referrals"),
    path("challenges/", challenges.challenges, name="challenges"),
    path("badges/", badges.badges, name="badges"),
    path("leaderboard/", leaderboards.leaderboard, name="leaderboard"),
]
