"""Emails to members: branded (the programme's name, logo and colours), HTML with a plain-text twin, in the
member's saved language, from "<programme name> <DEFAULT_FROM_EMAIL>".

Each email is `templates/emails/<name>_subject.txt`, `<name>.txt` and `<name>.html` (which extends
`emails/base.html`). They go out after the commit that caused them, from a Celery task (in-process when no
broker is configured), never inside a purchase's transaction; each can be switched off by the programme
(Program.*_email) and, except the welcome email, by the member (Member.email_*).
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Iterable
from email.mime.base import MIMEBase
from email.utils import formataddr, parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation

from loyalty.branding import ink_for
from loyalty.models import Program, TierChangeKind, TierHistory, TierMetric
from loyalty.services.program import program_get
from members.models import Member, MemberStatus

logger = logging.getLogger(__name__)

# What a failed delivery raises: the task retries these later.
EMAIL_ERRORS: tuple[type[Exception], ...] = (smtplib.SMTPException, OSError)


def site_url(path: str = "") -> str:
    """An absolute link for emails (which have no request to build one from): SITE_URL + path."""
    return settings.SITE_URL.rstrip("/") + path


def email_sender(program: Program | None = None) -> str:
    """The From header: the programme's name over the configured address."""
    program = program or program_get()
    return formataddr((program.name, parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL))


def branding_context(program: Program | None = None) -> dict[str, Any]:
    """What emails/base.html needs to look like the portal (emails carry their colours inline)."""
    program = program or program_get()
    return {
        "program": program,
        "site_url": site_url(),
        "logo_url": site_url(program.logo.url) if program.logo else "",
        "brand": program.brand_colour,
        "brand_ink": ink_for(program.brand_colour),
        "accent": program.accent_colour,
        "accent_ink": ink_for(program.accent_colour),
    }


def member_can_be_emailed(member: Member) -> bool:
    return member.status != MemberStatus.CLOSED and bool(member.email)


def member_email_build(
    *, member: Member, template: str, context: dict[str, Any], attachments: Iterable[MIMEBase] = (),
    switchable: bool = True,
) -> EmailMultiAlternatives:
    """The email `template` to `member`, rendered in the member's language. `attachments`: inline images
    (MIMEImage with a Content-ID), shown by the HTML part as `cid:<id>`. `switchable`: the member can switch
    this email off (the footer links to the preferences)."""
    program = program_get()
    context = {**branding_context(program), "member": member, "preferences_note": switchable, **context}
    with translation.override(member.language or settings.LANGUAGE_CODE):
        subject = " ".join(render_to_string(f"emails/{template}_subject.txt", context).split())
        text = render_to_string(f"emails/{template}.txt", context)
        html = render_to_string(f"emails/{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=email_sender(program), to=[member.email])
    message.attach_alternative(html, "text/html")
    attachments = list(attachments)
    if attachments:
        message.mixed_subtype = "related"  # type: ignore[attr-defined]  # Django's attribute, not in the stubs
        for attachment in attachments:
            message.attach(attachment)
    return message


def send_after_commit(task: Any, **kwargs: Any) -> None:
    """Queue an email task once the current transaction commits. `robust`: a broker that is down is logged,
    never raised into the request whose work is already committed."""
    transaction.on_commit(lambda: task.delay(**kwargs), robust=True)


def deliver(task: Any, send: Callable[[], Any]) -> Any:
    """Run `send` inside the Celery `task`: a delivery failure is retried later by a worker; run in-process
    (no broker) it is logged instead, so it never breaks the request that queued it."""
    try:
        return send()
    except EMAIL_ERRORS as error:
        if task.request.is_eager:
            logger.exception("%s failed", task.name)
            return None
        raise task.retry(exc=error) from error


# -- tier upgrade ------------------------------------------------------------------------------------


def tier_upgrade_email_wanted(history: TierHistory) -> bool:
    """A step up worth telling: an upgrade or a paid tier, not a new member's entry tier."""
    if history.kind not in (TierChangeKind.UPGRADE, TierChangeKind.PAID) or history.to_tier_id is None:
        return False
    if history.from_tier_id is None:
        return history.to_tier is not None and history.to_tier.threshold > 0
    return history.to_tier is not None and history.from_tier is not None and (
        history.to_tier.rank > history.from_tier.rank
    )


def tier_upgrade_email_send(*, history_id: int) -> bool:
    """Email the member about their new tier (the upgrade recorded in TierHistory `history_id`), if the
    programme and the member want it. Returns whether an email went out."""
    history = TierHistory.objects.select_related("member", "to_tier", "from_tier").filter(pk=history_id).first()
    if history is None or not tier_upgrade_email_wanted(history):
        return False
    member = history.member
    program = program_get()
    if not (program.tier_upgrade_email and member.email_tier_upgrade and member_can_be_emailed(member)):
        return False
    if member.tier_id != history.to_tier_id:  # moved on meanwhile (another upgrade wrote its own email)
        return False
    from loyalty.services.tiers import member_tier_progress_get

    context = {"tier": history.to_tier, "next_tier": member_tier_progress_get(member=member),
               "spend_metric": program.tier_metric == TierMetric.SPEND, "dashboard_url": site_url("/")}
    member_email_build(member=member, template="tier_upgrade", context=context).send()
    return True


def _on_tier_history_saved(sender, instance: TierHistory, created: bool, **kwargs) -> None:
    """A tier change recorded one row at a time (upgrades at once: purchases, releases, bonuses, a paid
    tier) emails the member after the commit. The nightly recalculation writes its changes in bulk and
    sends none (it mostly lowers tiers; its rare upgrades are caught-up upgrades)."""
    if not created or instance.kind not in (TierChangeKind.UPGRADE, TierChangeKind.PAID):
        return
    if instance.from_tier_id is None and instance.to_tier is not None and instance.to_tier.threshold <= 0:
        return  # a new member's entry tier: the welcome email says it
    if not program_get().tier_upgrade_email:
        return
    from loyalty.tasks import send_tier_upgrade_email

    send_after_commit(send_tier_upgrade_email, history_id=instance.pk)


def email_signals_connect() -> None:
    """Called from LoyaltyConfig.ready()."""
    from django.db.models.signals import post_save

    post_save.connect(_on_tier_history_saved, sender=TierHistory, dispatch_uid="emails_tier_upgrade")
