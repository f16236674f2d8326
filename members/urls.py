from django.urls import path, re_path

from members import views

app_name = "portal"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("history/", views.history, name="history"),
    path("history/points-history.csv", views.history_csv, name="history_csv"),
    path("card/", views.card, name="card"),
    path("card/qr.svg", views.loyalty_qr, name="qr"),
    path("profile/", views.profile, name="profile"),
    path("profile/my-data.json", views.data_download, name="data_download"),
    path("profile/close/", views.close_account, name="close_account"),
    # A member's invitation link: /r/<referral code> (with or without a trailing slash).
    re_path(r"^r/(?P<code>[A-Za-z0-9]{1,32})/?$", views.referral_link, name="referral_link"),
]
