"""Referrals: a member brings a friend; the friend (referee) is paid on joining, the referrer once the
friend's first purchase with points is released. The one writer of Referral rows.

How it flows (documented in the README, "Referrals"):
- `referral_record` runs inside the referee's enrolment (members.signals.member_referred). It refuses the
  referral (status `blocked`, with a `block_reason`, no bonus to either side) when the referee's email is the
  referrer's once "+tags" and dots in the local part are ignored, when the referrer is not active, or when
  more than ten portal sign-ups with a referral came from the same IP address in the last 7 days (the 11th
  and later are blocked; staff review them). Otherwise it is `pending`, and the referee's bonus is paid at
  once; a portal sign-up is paid when its email is confirmed (`referral_referee_confirmed`).
- `referral_referrer_reward` runs after the commit of every posting that may release a purchase's points
  (an earning straight to available when `pending_days` is 0, or the release job's release). The referee's
  first *qualifying* purchase is their earliest purchase with points whose points are released and which was
  not refunded in full (a purchase refunded in full before its release never qualifies; a later one may).
  Under the referrer's row lock, at most `referral_cap` referrals per referrer are `rewarded`; the others
  become `capped`. Each bonus has its own idempotency key (`referral:referee:<id>`, `referral:referrer:<id>`).
- Staff unblock a blocked referral (`referral_unblock`: it is then paid as if it had never been blocked) or
  cancel a pending or blocked one (`referral_cancel`: nothing more is paid; what was paid stays).
"""

from __future__ import annotations

import logging
import zlib
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from campaigns.models import BlockReason, Referral, ReferralChannel, ReferralStatus
from loyalty.models import LedgerTransaction, Purchase, StaffActionKind, TransactionKind
from loyalty.reasons import Reason
from loyalty.services.audit import staff_action_record
from loyalty.services.ledger import Audit, LedgerError, points_credit
from loyalty.services.program import program_get
from members.bulk import BulkResult, bulk_details
from members.models import Member, MemberStatus

logger = logging.getLogger(__name__)

IP_LIMIT_PER_WEEK = 10
IP_WINDOW = timedelta(days=7)

REFEREE_REASON = gettext_noop("Welcome bonus: referred by %(name)s")
REFERRER_REASON = gettext_noop("Referral bonus: %(name)s made a first purchase")


class ReferralError(LedgerError):
    code = "invalid"
    status_code = 422


def email_canonical(email: str) -> str:
    """The mailbox an address reaches: lower case, without a "+tag", without dots in the local part."""
    local, _at, domain = (email or "").strip().lower().rpartition("@")
    local = local.split("+", 1)[0].replace(".", "")
    return f"{local}@{domain}"


def member_display_name(member: Member) -> str:
    """First name and the initial of the last name ("Anna B."), never the email."""
    first, last = member.first_name.strip(), member.last_name.strip()
    if not first and not last:
        return _("A friend")
    return f"{first} {last[:1]}.".strip() if last else first


# -- joining -------------------------------------------------------------------------------------------


def _ip_lock(ip_address: str) -> None:
    """Serialise the IP rule's count and insert per address (PostgreSQL; SQLite writes one at a time)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [0x5EF, zlib.crc32(ip_address.encode()) - 2**31])


def _block_reason(*, referee: Member, referrer: Member, channel: str, ip_address: str | None, now: datetime) -> str:
    if email_canonical(referee.email) == email_canonical(referrer.email):
        return BlockReason.SAME_EMAIL
    if Member.objects.filter(pk=referrer.pk).values_list("status", flat=True).first() != MemberStatus.ACTIVE:
        return BlockReason.REFERRER_INACTIVE
    if channel == ReferralChannel.PORTAL and ip_address:
        _ip_lock(ip_address)
        recent = Referral.objects.filter(channel=ReferralChannel.PORTAL, ip_address=ip_address,
                                         created_at__gte=now - IP_WINDOW)
        if recent.count() >= IP_LIMIT_PER_WEEK:
            return BlockReason.IP_LIMIT
    return ""


@transaction.atomic
def referral_record(
    *, referee: Member, referrer: Member, channel: str = ReferralChannel.API, ip_address: str | None = None,
    confirmed: bool = True,
) -> Referral:
    """Record who referred a new member, check it for fraud and pay the referee's bonus (see the module)."""
    now = timezone.now()
    reason = _block_reason(referee=referee, referrer=referrer, channel=channel, ip_address=ip_address, now=now)
    referral = Referral.objects.create(
        referrer=referrer, referee=referee, channel=channel, ip_address=ip_address or None,
        referee_confirmed=confirmed, status=ReferralStatus.BLOCKED if reason else ReferralStatus.PENDING,
        block_reason=reason,
    )
    if not reason and confirmed:
        _referee_pay(referral, at=referee.joined_at)
    return referral


def _referee_pay(referral: Referral, at: datetime | None = None) -> LedgerTransaction | None:
    """The referee's bonus, once (its key), to an active, confirmed referee of a live referral."""
    if referral.referee_transaction_id is not None or not referral.referee_confirmed:
        return None
    if referral.status in (ReferralStatus.BLOCKED, ReferralStatus.CANCELLED):
        return None
    referee = Member.objects.get(pk=referral.referee_id)
    points = program_get().referral_referee_bonus
    if points <= 0 or referee.status != MemberStatus.ACTIVE:
        return None
    referrer = Member.objects.get(pk=referral.referrer_id)
    txn = points_credit(
        member=referee,
        points=points,
        kind=TransactionKind.BONUS,
        audit=Audit(reason=Reason(REFEREE_REASON, {"name": member_display_name(referrer)}),
                    idempotency_key=f"referral:referee:{referral.pk}", reference=referrer.referral_code,
                    occurred_at=min(at or timezone.now(), timezone.now())),
    )
    Referral.objects.filter(pk=referral.pk).update(referee_transaction=txn, referee_points=points)
    referral.referee_transaction, referral.referee_points = txn, points
    return txn


@transaction.atomic
def referral_referee_confirmed(*, referee: Member) -> Referral | None:
    """A portal sign-up confirmed its email: its referral may now pay the referee."""
    referral = Referral.objects.select_for_update().filter(referee=referee).first()
    if referral is None:
        return None
    if not referral.referee_confirmed:
        referral.referee_confirmed = True
        referral.save(update_fields=["referee_confirmed"])
    _referee_pay(referral)
    return referral


# -- the referrer's bonus ---------------------------------------------------------------------------


def qualifying_purchase_get(*, referee_id: int) -> Purchase | None:
    """The referee's first purchase with points that is released and not refunded in full."""
    return (
        Purchase.objects.filter(member_id=referee_id, lot__isnull=False, lot__released_at__isnull=False,
                                refunded_total__lt=F("total"))
        .order_by("occurred_at", "id").first()
    )


@transaction.atomic
def referral_referrer_reward(*, referee_id: int, at: datetime | None = None) -> Referral | None:
    """Pay the referrer of this referee if the referral is pending and a qualifying purchase is released;
    `capped` beyond the program's `referral_cap`. Returns the referral when it was decided now."""
    referral = Referral.objects.select_for_update().filter(referee_id=referee_id, status=ReferralStatus.PENDING).first()
    if referral is None:
        return None
    purchase = qualifying_purchase_get(referee_id=referee_id)
    if purchase is None:
        return None
    at = at or timezone.now()
    # The referrer's row lock serialises every reward of this referrer: the count below sees each one
    # committed before, so no more than the cap are rewarded even when many are released at once.
    referrer = Member.objects.select_for_update(no_key=True).get(pk=referral.referrer_id)
    program = program_get()
    referral.purchase = purchase
    if referrer.status != MemberStatus.ACTIVE:
        referral.status, referral.block_reason = ReferralStatus.BLOCKED, BlockReason.REFERRER_INACTIVE
        referral.save(update_fields=["status", "block_reason", "purchase"])
        return referral
    rewarded = Referral.objects.filter(referrer=referrer, status=ReferralStatus.REWARDED).count()
    if program.referral_cap is not None and rewarded >= program.referral_cap:
        referral.status = ReferralStatus.CAPPED
        referral.save(update_fields=["status", "purchase"])
        return referral
    points = program.referral_referrer_bonus
    if points > 0:
        referee = Member.objects.get(pk=referee_id)
        referral.referrer_transaction = points_credit(
            member=referrer,
            points=points,
            kind=TransactionKind.BONUS,
            audit=Audit(reason=Reason(REFERRER_REASON, {"name": member_display_name(referee)}),
                        idempotency_key=f"referral:referrer:{referral.pk}", reference=purchase.order_id,
                        occurred_at=min(at, timezone.now())),  # available at once, also for a job run ahead
        )
        referral.referrer_points = points
    referral.status, referral.rewarded_at = ReferralStatus.REWARDED, at
    referral.save(update_fields=["status", "rewarded_at", "purchase", "referrer_points", "referrer_transaction"])
    return referral


def referrals_reward_due(*, as_of: datetime, dry_run: bool = False, progress: Any = None) -> dict:
    """The catch-up job (`reward_referrals`): decide every pending referral whose referee has a qualifying
    purchase released by `as_of`. The after-commit receiver below decides them as they are released; this
    catches what it missed (a crash between the release's commit and the reward). Idempotent, safe to run
    twice or concurrently (each referral is decided under its row lock, once)."""
    due = list(
        Referral.objects.filter(
            status=ReferralStatus.PENDING, referee__purchases__lot__released_at__lte=as_of,
            referee__purchases__refunded_total__lt=F("referee__purchases__total"),
        ).values_list("referee_id", flat=True).distinct().order_by("referee_id")
    )
    counts = {"referrals": len(due), "rewarded": 0, "capped": 0, "blocked": 0, "failed": 0, "dry_run": dry_run}
    if dry_run:
        return counts
    for done, referee_id in enumerate(due, start=1):
        try:
            decided = referral_referrer_reward(referee_id=referee_id, at=as_of)
        except LedgerError as error:
            counts["failed"] += 1
            logger.error("reward_referrals: referee %s failed: %s", referee_id, error)
        else:
            if decided is not None:
                outcome = {"rewarded": "rewarded", "capped": "capped"}.get(str(decided.status), "blocked")
                counts[outcome] += 1
        if progress is not None:
            progress(done, len(due))
    return counts


_RELEASING_KINDS = (TransactionKind.EARN, TransactionKind.RELEASE)


def on_points_posted(sender, transaction: LedgerTransaction, **kwargs) -> None:
    """After a ledger commit: a referee's purchase points that became available may pay the referrer.

    Costs nothing for members who were not referred (`referred_by_id` is on the member the posting carries).
    """
    if transaction.kind not in _RELEASING_KINDS or transaction.member_id is None:
        return
    lot = getattr(transaction, "lot", None)
    if lot is not None and lot.released_at is None:
        return  # a pending credit: its release pays
    member = transaction.member
    if member is None or member.referred_by_id is None:
        return
    if not Referral.objects.filter(referee_id=member.pk, status=ReferralStatus.PENDING).exists():
        return  # decided already: no transaction, no lock
    try:
        referral_referrer_reward(referee_id=member.pk, at=transaction.occurred_at)
    except Exception:  # the posting is committed already; the reward_referrals job catches up
        logger.exception("referral reward failed for referee %s", member.pk)


# -- joining signals -----------------------------------------------------------------------------------


def on_member_referred(sender, member: Member, referrer: Member, channel: str, ip_address: str | None = None,
                       confirmed: bool = True, **kwargs) -> None:
    referral_record(referee=member, referrer=referrer, channel=channel, ip_address=ip_address, confirmed=confirmed)


def on_member_confirmed(sender, member: Member, **kwargs) -> None:
    referral_referee_confirmed(referee=member)


# -- staff review ------------------------------------------------------------------------------------------


@transaction.atomic
def referral_unblock(*, referral: Referral, staff_user: Any = None) -> Referral:
    """A blocked referral staff found genuine: paid as if it had never been blocked (the referee's bonus now,
    the referrer's once a qualifying purchase is released, or now if one is)."""
    referral = Referral.objects.select_for_update().get(pk=referral.pk)
    if referral.status != ReferralStatus.BLOCKED:
        raise ReferralError(_("Only a blocked referral can be unblocked."))
    if Member.objects.filter(pk=referral.referrer_id).values_list("status", flat=True).first() != MemberStatus.ACTIVE:
        raise ReferralError(_("The referrer is not active: reactivate the membership first, or cancel the referral."))
    referral.status, referral.block_reason = ReferralStatus.PENDING, ""
    referral.decided_by, referral.decided_at = staff_user, timezone.now()
    referral.save(update_fields=["status", "block_reason", "decided_by", "decided_at"])
    _referee_pay(referral)
    return referral_referrer_reward(referee_id=referral.referee_id) or referral


@transaction.atomic
def referral_cancel(*, referral: Referral, staff_user: Any = None) -> Referral:
    """End a pending or blocked referral: nothing more is paid to either side."""
    referral = Referral.objects.select_for_update().get(pk=referral.pk)
    if referral.status not in (ReferralStatus.PENDING, ReferralStatus.BLOCKED):
        raise ReferralError(_("Only a pending or blocked referral can be cancelled."))
    referral.status, referral.block_reason = ReferralStatus.CANCELLED, ""
    referral.decided_by, referral.decided_at = staff_user, timezone.now()
    referral.save(update_fields=["status", "block_reason", "decided_by", "decided_at"])
    return referral


REVIEWS = {
    "unblock": (referral_unblock, StaffActionKind.REFERRALS_UNBLOCKED),
    "cancel": (referral_cancel, StaffActionKind.REFERRALS_CANCELLED),
}


def referrals_review(*, referrals: QuerySet[Referral], decision: str, staff_user: Any,
                     selection: dict[str, Any]) -> BulkResult:
    """Unblock or cancel referrals selected in the admin, each in its own transaction (an unblock pays), then one
    audit log entry: who, what, how many, and the referrals refused (by the new member's loyalty ID, with why)."""
    service, kind = REVIEWS[decision]
    result = BulkResult()
    chosen = list(referrals.select_related("referee").order_by("pk"))
    for referral in chosen:
        try:
            service(referral=referral, staff_user=staff_user)
        except ReferralError as error:
            result.refused.append((referral.referee.loyalty_id, error.detail))
        else:
            result.done += 1
    result.action = staff_action_record(
        kind=kind, staff_user=staff_user, count=result.done,
        details=bulk_details(result, selection, referrals=[referral.pk for referral in chosen[:1000]]),
    )
    return result


# -- reads ---------------------------------------------------------------------------------------------------


def member_referrals_get(*, member: Member, limit: int = 100) -> dict:
    """A member's referral summary: code, counts, the points the referrals earned them (one aggregate over
    all of them) and the newest `limit` referrals they made."""
    referrals = Referral.objects.filter(referrer=member).select_related("referee").order_by("-created_at", "-id")
    totals = referrals.aggregate(
        count=Count("id"), rewarded_count=Count("id", filter=Q(status=ReferralStatus.REWARDED)),
        points_earned=Sum("referrer_points"),
    )
    return {
        "referral_code": member.referral_code,
        "rewarded_count": totals["rewarded_count"],
        "count": totals["count"],
        "points_earned": totals["points_earned"] or 0,
        "results": list(referrals[:limit]),
    }


def referrals_signals_connect() -> None:
    """Called from CampaignsConfig.ready()."""
    from loyalty.signals import points_posted
    from members.signals import member_confirmed, member_referred

    points_posted.connect(on_points_posted, dispatch_uid="referrals_reward_on_points_posted")
    member_referred.connect(on_member_referred, dispatch_uid="referrals_record_on_member_referred")
    member_confirmed.connect(on_member_confirmed, dispatch_uid="referrals_pay_on_member_confirmed")
