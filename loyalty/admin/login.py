"""The admin sign-in shares the portal's failed-login rate limit (ACCOUNT_RATE_LIMITS["login_failed"]).

Django's own admin login has no limit at all, which would make /admin/login/ the place to guess staff
passwords. Authenticating through allauth's adapter counts failures per IP and per email, exactly as the
portal's sign-in does, and a success does not use up the allowance."""

from allauth.account.adapter import get_adapter
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm


class RateLimitedAdminAuthenticationForm(AdminAuthenticationForm):
    def clean(self):
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if email is not None and password:
            # Raises a ValidationError ("Too many failed login attempts") once the limit is reached.
            self.user_cache = get_adapter(self.request).authenticate(self.request, email=email, password=password)
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


admin.site.login_form = RateLimitedAdminAuthenticationForm
