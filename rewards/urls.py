"""Portal pages for rewards, included at /rewards/ by loyalty/urls.py."""

from django.urls import path

from rewards import views

app_name = "rewards"
urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("coupons/", views.my_coupons, name="my_coupons"),
    path("<slug:code>/redeem/", views.redeem, name="redeem"),
]
