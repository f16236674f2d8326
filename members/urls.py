from django.urls import path

from members import views

app_name = "portal"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("history/", views.history, name="history"),
    path("profile/", views.profile, name="profile"),
    path("card/qr.svg", views.loyalty_qr, name="qr"),
]
