from django.urls import path

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
]
