"""Staff sign in through allauth's sign-in page (/accounts/login/), not Django's admin login form.

There they get what members get: the failed-login rate limit (ACCOUNT_RATE_LIMITS, per IP and per email,
a success not counting), and, once they have set up two-factor sign-in, the code from their authenticator
app or a recovery code (allauth MFA). /admin/login/ only sends visitors there and back; a signed-in user who
is not staff is told so, without a second, weaker sign-in form."""

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext


def admin_login(request, extra_context=None):
    next_url = request.GET.get(REDIRECT_FIELD_NAME, "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = reverse("admin:index")
    if request.user.is_authenticated:
        if request.user.is_active and request.user.is_staff:
            return HttpResponseRedirect(next_url)
        context = {**admin.site.each_context(request), "title": gettext("No access to the admin"),
                   "next_url": next_url}
        return TemplateResponse(request, "admin/not_staff.html", context, status=403)
    return HttpResponseRedirect(f"{reverse('account_login')}?{urlencode({REDIRECT_FIELD_NAME: next_url})}")


admin.site.login = admin_login  # type: ignore[method-assign]  # the admin's URL "login" calls it
