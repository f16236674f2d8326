"""Request middleware of the loyalty app."""

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.http import urlencode
from django.utils.translation import gettext

from loyalty.services.program import config_memo


class ConfigMemoMiddleware:
    """Each request reads the cached configuration (program, tiers, rules, promotions) at most once per
    value: see loyalty.services.program."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with config_memo():
            return self.get_response(request)


class AdminMfaRequiredMiddleware:
    """With ADMIN_MFA_REQUIRED on, a signed-in staff user without an authenticator app (TOTP) is sent to set one
    up (allauth's /accounts/2fa/totp/activate/) before any admin page, the KPI dashboard included. Signing out
    stays possible."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.ADMIN_MFA_REQUIRED and self._blocked(request):
            messages.warning(request, gettext(
                "Set up two-factor sign-in with an authenticator app before you use the admin. Keep the recovery "
                "codes shown next somewhere safe."
            ))
            url = reverse("mfa_activate_totp")
            return HttpResponseRedirect(f"{url}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

    @staticmethod
    def _blocked(request) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active or not user.is_staff:
            return False
        admin_root = reverse("admin:index")
        if not request.path.startswith(admin_root) or request.path in (reverse("admin:logout"),):
            return False
        from allauth.mfa.models import Authenticator
        from allauth.mfa.utils import is_mfa_enabled

        return not is_mfa_enabled(user, [Authenticator.Type.TOTP])


class PrivatePagesMiddleware:
    """Pages for a signed-in person (the portal, the admin: coupon codes, balances, personal data) and every
    API answer are never stored by the browser or a shared cache: `Cache-Control: private, no-store`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if "Cache-Control" not in response and (
            (user is not None and user.is_authenticated) or request.path_info.startswith("/api/v1/")
        ):
            patch_cache_control(response, private=True, no_store=True)
        return response


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, which builds the policy for every response and only then looks at
    EXCLUDE_URL_PREFIXES; excluded paths (the JSON API) skip the building too."""

    def process_response(self, request, response):
        prefixes = tuple(settings.CONTENT_SECURITY_POLICY.get("EXCLUDE_URL_PREFIXES", ()))
        if prefixes and request.path_info.startswith(prefixes):
            return response
        return super().process_response(request, response)
