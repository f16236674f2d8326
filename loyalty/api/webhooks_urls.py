from django.urls import path

from loyalty.api.webhooks import WooCommerceWebhookApi

urlpatterns = [
    path("webhooks/woocommerce/<str:store_slug>/", WooCommerceWebhookApi.as_view(), name="webhook-woocommerce"),
]
