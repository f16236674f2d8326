from django.urls import path

from loyalty.api.purchases import (
    EarningRuleDetailApi,
    EarningRuleListCreateApi,
    PurchaseDetailApi,
    PurchaseRecordApi,
    PurchaseRefundCreateApi,
)

# Order ids and rule ids are matched as any segment and checked by the view, so unknown ones get the JSON 404.
urlpatterns = [
    path("purchases/", PurchaseRecordApi.as_view(), name="purchases"),
    path("purchases/<str:order_id>/", PurchaseDetailApi.as_view(), name="purchase-detail"),
    path("purchases/<str:order_id>/refunds/", PurchaseRefundCreateApi.as_view(), name="purchase-refunds"),
    path("earning-rules/", EarningRuleListCreateApi.as_view(), name="earning-rules"),
    path("earning-rules/<str:id>/", EarningRuleDetailApi.as_view(), name="earning-rule-detail"),
]
