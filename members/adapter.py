from allauth.account.adapter import DefaultAccountAdapter

from loyalty.emails import branding_context, email_sender


class AccountAdapter(DefaultAccountAdapter):
    """Open sign-up; members are linked to logins in members.signals. allauth's emails (confirm your email,
    reset your password, ...) come from the programme, branded like the member emails (templates/account/
    email/*, extending emails/base.html)."""

    def is_open_for_signup(self, request) -> bool:
        return True

    def get_from_email(self) -> str:
        return email_sender()

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        super().send_mail(template_prefix, email, {**branding_context(), "preferences_note": False, **context})
