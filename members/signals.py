from allauth.account.signals import email_confirmed, user_signed_up
from django.db.models.signals import post_save
from django.dispatch import Signal, receiver

# Sent after the commit that enrolled a member, with `member` and `store` (or None).
member_enrolled = Signal()


@receiver(user_signed_up)
def _member_for_new_login(sender, request, user, **kwargs) -> None:
    """A new login gets a member at once, unless a till-enrolled member waits for this email to be verified."""
    from members.services import member_claim, member_get_by_email

    existing = member_get_by_email(email=user.email)
    if existing is None:
        member_claim(user=user)


@receiver(email_confirmed)
def _claim_member_on_verification(sender, request, email_address, **kwargs) -> None:
    from members.services import member_claim

    if email_address.user.email.lower() == email_address.email.lower():
        member_claim(user=email_address.user)


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
