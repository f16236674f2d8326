"""The welcome email: the new member's loyalty card (number and QR code) and how to use it."""

from __future__ import annotations

from django.utils import timezone

from loyalty.emails import member_can_be_emailed, member_email_build, send_after_commit, site_url
from loyalty.services.program import program_get
from members.models import Member
from members.qr import qr_email_image

CARD_QR_CID = "loyalty-card-qr"


def welcome_email_queue(*, member: Member) -> None:
    """Send the welcome email after the commit, if the programme sends one and it has not gone out."""
    if member.welcome_sent_at is not None or not program_get().welcome_email:
        return
    from members.tasks import send_welcome_email

    send_after_commit(send_welcome_email, member_id=member.pk)


def welcome_email_send(*, member_id: int) -> bool:
    """Email a member their welcome with the card, once: the send is claimed by stamping `welcome_sent_at`
    (a second task finds it stamped), and the stamp is taken back if the delivery fails (the retry sends)."""
    program = program_get()
    if not program.welcome_email:
        return False
    member = Member.objects.select_related("tier").filter(pk=member_id).first()
    if member is None or not member_can_be_emailed(member):
        return False
    now = timezone.now()
    if not Member.objects.filter(pk=member_id, welcome_sent_at__isnull=True).update(welcome_sent_at=now):
        return False
    qr = qr_email_image(member.loyalty_id, content_id=CARD_QR_CID, filename="loyalty-card.png")
    context = {
        "qr_cid": CARD_QR_CID, "card_url": site_url("/card/"), "dashboard_url": site_url("/"),
        "rewards_url": site_url("/rewards/"),
    }
    try:
        member_email_build(member=member, template="welcome", context=context, attachments=[qr],
                           switchable=False).send()
    except Exception:
        Member.objects.filter(pk=member_id, welcome_sent_at=now).update(welcome_sent_at=None)
        raise
    return True
