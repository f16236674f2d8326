"""Portal pages of the campaigns, included at the site root by loyalty/urls.py."""

from django.urls import path

from campaigns import views

app_name = "campaigns"
urlpatterns = [
    path("challenges/", views.challenges, name="challenges"),
    path("badges/", views.badges, name="badges"),
    path("leaderboard/", views.leaderboard, name="leaderboard"),
]
