"""Portal pages for rewards, included at /rewards/ by loyalty/urls.py."""

from django.urls import path

from rewards import views

app_name = "rewards"
urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("coupons/", views.my_coupons, name="my_coupons"),
    path("coupons/<int:pk>/", views.coupon, name="coupon"),
    path("coupons/<int:pk>/qr.svg", views.coupon_qr, name="coupon_qr"),
    path("coupons/<int:pk>/cancel/", views.coupon_cancel, name="coupon_cancel"),
    path("<slug:code>/", views.reward_detail, name="reward"),
    path("<slug:code>/redeem/", views.redeem, name="redeem"),
]
