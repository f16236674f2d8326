from allauth.account.signals import email_confirmed, user_logged_in, user_signed_up
from django.conf import settings
from django.dispatch import Signal, receiver
from django.utils import translation

# Sent after the commit that enrolled a member, with `member` and `store` (or None).
member_enrolled = Signal()

# Sent after the commit that closed (and anonymised) a membership, with `member`: apps that keep something
# personal about members (referrals, leaderboard entries) drop it here.
member_closed = Signal()


@receiver(user_signed_up)
def _member_for_new_login(sender, request, user, **kwargs) -> None:
    """A new login gets a member at once (in the sign-up page's language), unless a till-enrolled member
    waits for this email to be verified."""
    from members.services import member_claim, member_get_by_email

    existing = member_get_by_email(email=user.email)
    if existing is None:
        member_claim(user=user, language=translation.get_language())


@receiver(email_confirmed)
def _claim_member_on_verification(sender, request, email_address, **kwargs) -> None:
    from members.emails import welcome_email_queue
    from members.services import member_claim

    if email_address.user.email.lower() == email_address.email.lower():
        member = member_claim(user=email_address.user)
        if member is not None:
            welcome_email_queue(member=member)


@receiver(member_enrolled)
def _welcome_new_member(sender, member, **kwargs) -> None:
    """Enrolled at a till, by the API, an import or the admin: welcome them now. A portal sign-up is welcomed
    once its email address is verified (above), unless verification is off."""
    from members.emails import welcome_email_queue

    if member.user_id is None or settings.ACCOUNT_EMAIL_VERIFICATION != "mandatory":
        welcome_email_queue(member=member)


@receiver(user_logged_in)
def _language_of_member(sender, request, user, response=None, **kwargs) -> None:
    """Signing in switches the portal to the member's saved language (the one their emails use)."""
    member = getattr(user, "member", None)
    if member is None or response is None or member.language not in dict(settings.LANGUAGES):
        return
    from members.views import language_cookie_set

    translation.activate(member.language)
    language_cookie_set(response, member.language)
