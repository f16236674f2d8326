"""The "reward redeemed" email: the coupon (code and QR code) and how to use it."""

from __future__ import annotations

from loyalty.emails import member_can_be_emailed, member_email_build, site_url
from loyalty.services.program import program_get
from members.qr import qr_email_image
from rewards.models import Redemption

COUPON_QR_CID = "coupon-qr"


def coupon_qr_value(redemption: Redemption) -> str:
    """What the coupon's QR code holds: the partner's code for a partner voucher, else our coupon code."""
    voucher = getattr(redemption, "voucher", None)
    return voucher.code if voucher is not None else redemption.code


def reward_redeemed_email_send(*, redemption_id: int) -> bool:
    """Email the member their coupon, if the programme and the member want it. Returns whether it went out."""
    redemption = (
        Redemption.objects.select_related("member", "reward", "voucher").filter(pk=redemption_id).first()
    )
    if redemption is None or redemption.reward is None:
        return False
    member = redemption.member
    if not (program_get().reward_redeemed_email and member.email_reward_redeemed and member_can_be_emailed(member)):
        return False
    qr = qr_email_image(coupon_qr_value(redemption), content_id=COUPON_QR_CID, filename="coupon.png")
    context = {
        "redemption": redemption, "reward": redemption.reward, "qr_cid": COUPON_QR_CID,
        "coupon_url": site_url(f"/rewards/coupons/{redemption.pk}/"),
    }
    member_email_build(member=member, template="reward_redeemed", context=context, attachments=[qr]).send()
    return True
