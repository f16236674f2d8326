from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from loyalty.admin.kpi import kpi_dashboard_view
from members import views as portal_views

urlpatterns = [
    # The KPI dashboard: an admin page (staff sign-in, the admin's layout) outside the admin's model URLs.
    path("admin/kpi/", admin.site.admin_view(kpi_dashboard_view), name="kpi_dashboard"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    # The footer's language switch also saves a signed-in member's language (Django's set_language + that).
    path("i18n/setlang/", portal_views.language_set, name="set_language"),
    path("terms/", portal_views.terms, name="terms"),
    path("closed/", portal_views.account_closed, name="account_closed"),
    path("branding.css", portal_views.branding_css, name="branding_css"),
    path("favicon.ico", portal_views.favicon, name="favicon"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI from drf-spectacular-sidecar's static files (no CDN), its script a separate request (the CSP);
    # it injects its own <style>, so this page alone (no personal data on it) allows inline styles.
    path(
        "api/docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="api-docs",
    ),
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
