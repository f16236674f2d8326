from django.urls import path, re_path

from members import views

app_name = "portal"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("history/", views.history, name="history"),
    path("profile/", views.profile, name="profile"),
    path("card/qr.svg", views.loyalty_qr, name="qr"),
    # A member's invitation link: /r/<referral code> (with or without a trailing slash).
    re_path(r"^r/(?P<code>[A-Za-z0-9]{1,32})/?$", views.referral_link, name="referral_link"),
]
