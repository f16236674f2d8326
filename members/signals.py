from allauth.account.signals import email_confirmed, user_signed_up
from django.dispatch import Signal, receiver

# Sent after the commit that enrolled a member, with `member` and `store` (or None).
member_enrolled = Signal()

# Sent after the commit of a change of a member's status (members.services.member_status_set), with
# `member_id` and `status`. campaigns listens: only active members are on the leaderboard.
member_status_changed = Signal()

# Sent inside the enrolment's transaction when the new member came with a referrer's code: `member`,
# `referrer`, `channel` ("portal" or "api"), `ip_address` (portal sign-ups) and `confirmed` (False
# for a portal sign-up whose email is not confirmed yet). campaigns records the referral.
member_referred = Signal()

# Sent inside member_confirm's transaction when a portal sign-up confirmed its email: `member`.
member_confirmed = Signal()


@receiver(user_signed_up)
def _member_for_new_login(sender, request, user, **kwargs) -> None:
    """A new login gets a member at once, unless a till-enrolled member waits for this email to be verified.

    The member earns its sign-up (and referral) bonus once the email is confirmed, unless this site does not
    verify emails at all. The referral code and client IP come from the sign-up form (AccountAdapter.save_user).
    """
    from allauth.account import app_settings

    from members.services import member_claim, member_get_by_email

    existing = member_get_by_email(email=user.email)
    if existing is None:
        signup = getattr(request, "loyalty_signup", None) or {}
        member_claim(
            user=user,
            confirmed=app_settings.EMAIL_VERIFICATION == app_settings.EmailVerificationMethod.NONE,
            referred_by=signup.get("referrer"),
            ip_address=signup.get("ip_address"),
        )


@receiver(email_confirmed)
def _claim_member_on_verification(sender, request, email_address, **kwargs) -> None:
    """The login's own email is confirmed: link the member. A member made by this portal sign-up is paid
    now; a till member claimed online is only linked (it was paid when it joined)."""
    from members.models import Member
    from members.services import member_claim, member_confirm

    user = email_address.user
    if user.email.lower() != email_address.email.lower():
        return
    signed_up_here = Member.objects.filter(user=user).exists()
    member = member_claim(user=user)
    if member is not None and signed_up_here:
        member_confirm(member=member)
