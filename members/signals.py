from allauth.account.signals import email_confirmed, user_logged_in, user_signed_up
from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import Signal, receiver
from django.utils import translation

# Sent after the commit that enrolled a member, with `member` and `store` (or None).
member_enrolled = Signal()

# Sent after the commit of a change of a member's status (members.services.member_status_set), with
# `member_id` and `status`. campaigns listens: only active members are on the leaderboard.
member_status_changed = Signal()

# Sent once after the commit of a bulk status change (members.bulk.members_status_set: the admin's suspend or
# reactivate), with `member_ids` (those whose status changed) and `status`. campaigns listens (leaderboard).
members_status_changed = Signal()

# Sent inside the enrolment's transaction when the new member came with a referrer's code: `member`,
# `referrer`, `channel` ("portal" or "api"), `ip_address` (portal sign-ups) and `confirmed` (False
# for a portal sign-up whose email is not confirmed yet). campaigns records the referral.
member_referred = Signal()

# Sent inside member_confirm's transaction when a portal sign-up confirmed its email: `member`.
member_confirmed = Signal()

# Sent after the commit that closed (and anonymised) a membership, with `member`: apps that keep something
# personal about members (referrals, leaderboard entries) drop it here.
member_closed = Signal()


@receiver(user_signed_up)
def _member_for_new_login(sender, request, user, **kwargs) -> None:
    """A new login gets a member at once (in the sign-up page's language), unless a till-enrolled member
    waits for this email to be verified.

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
            language=translation.get_language(),
        )


@receiver(email_confirmed)
def _claim_member_on_verification(sender, request, email_address, **kwargs) -> None:
    """The login's own email is confirmed: link the member and welcome them. A member made by this portal
    sign-up is paid now; a till member claimed online is only linked (it was paid when it joined)."""
    from members.emails import welcome_email_queue
    from members.models import Member
    from members.services import member_claim, member_confirm

    user = email_address.user
    if user.email.lower() != email_address.email.lower():
        return
    signed_up_here = Member.objects.filter(user=user).exists()
    member = member_claim(user=user)
    if member is None:
        return
    if signed_up_here:
        member_confirm(member=member)
    welcome_email_queue(member=member)


@receiver(post_save, sender="members.User")
def _staff_email_verified(sender, instance, **kwargs) -> None:
    """Staff sign in through allauth, which (with mandatory verification) needs a verified email address.
    A staff account is made by an administrator (createsuperuser, the user admin), who vouches for it."""
    from allauth.account.models import EmailAddress

    if not instance.is_staff or not instance.email:
        return
    address = EmailAddress.objects.filter(user=instance, email__iexact=instance.email).first()
    if address is None:
        EmailAddress.objects.filter(user=instance, primary=True).update(primary=False)
        EmailAddress.objects.create(user=instance, email=instance.email, verified=True, primary=True)
    elif not address.verified:
        address.verified = True
        address.save(update_fields=["verified"])


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
