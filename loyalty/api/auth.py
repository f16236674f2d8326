from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from loyalty.models import ApiKey, ApiKeyScope
from loyalty.services.api_keys import api_key_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <key>`; request.auth is the ApiKey (and its .store)."""

    keyword = "Api-Key"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower():  # auth schemes are case-insensitive
            raise exceptions.AuthenticationFailed(_("Use the header 'Authorization: Api-Key <key>'."))
        api_key = api_key_authenticate(raw=parts[1])
        if api_key is None:
            raise exceptions.AuthenticationFailed(_("This API key is not valid or was revoked."))
        return (None, api_key)

    def authenticate_header(self, request) -> str:
        return self.keyword


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "loyalty.api.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Api-Key <key>`, created with `manage.py create_api_key`."}


class HasApiKey(permissions.BasePermission):
    """Any live key: the `pos` scope is everything but configuration and adjustments."""

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, ApiKey):
            raise exceptions.NotAuthenticated(_("An API key is required."))
        return True


class HasAdminScope(HasApiKey):
    message = _("This API key does not have the admin scope.")

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and request.auth.scope == ApiKeyScope.ADMIN


class IsMember(permissions.BasePermission):
    """A logged-in person (session) who has a member record."""

    message = _("Sign in as a member.")

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            raise exceptions.NotAuthenticated(_("Sign in first."))
        return hasattr(user, "member")
