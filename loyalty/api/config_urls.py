from django.urls import path

from loyalty.api.config import ProgramDetailApi, StoreDetailApi, StoreListCreateApi

urlpatterns = [
    path("program/", ProgramDetailApi.as_view(), name="program"),
    path("stores/", StoreListCreateApi.as_view(), name="stores"),
    path("stores/<str:slug>/", StoreDetailApi.as_view(), name="store-detail"),
]
