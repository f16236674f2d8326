from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI is served from drf-spectacular-sidecar's static files: no CDN.
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("loyalty.api.urls")),
    path("rewards/", include("rewards.urls")),
    path("", include("campaigns.urls")),
    path("", include("members.urls")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# JSON errors in the API's shape under /api/, the site's pages elsewhere.
handler400 = "loyalty.api.errors.bad_request"
handler404 = "loyalty.api.errors.page_not_found"
handler500 = "loyalty.api.errors.server_error"
