from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import PermissionDenied


class AccountAdapter(DefaultAccountAdapter):
    """Open sign-up; members are linked to logins in members.signals."""

    def is_open_for_signup(self, request) -> bool:
        return True

    def save_user(self, request, user, form, commit=True):
        """Keep the sign-up's referrer (members.forms.SignupForm) and client IP for the member that
        members.signals makes when allauth sends user_signed_up for this request."""
        user = super().save_user(request, user, form, commit)
        try:  # the client IP as allauth's own rate limits see it (ALLAUTH_TRUSTED_PROXY_COUNT)
            ip_address = self.get_client_ip(request)
        except PermissionDenied:
            ip_address = None
        request.loyalty_signup = {"referrer": form.cleaned_data.get("referral_code"), "ip_address": ip_address}
        return user
