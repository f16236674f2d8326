"""The scheduled jobs. Each takes `as_of` (the moment it acts for) and `dry_run`, returns counts, and is
idempotent for a given `as_of`, safe when two copies run at once and safe to re-run after a kill:

- work is committed in small units (a member, a batch of members, one email), so a killed run leaves
  finished units done and a re-run only does what is left;
- every unit re-reads its state under the member's ledger locks (or a unique constraint), so a second
  copy running at the same time finds the work done and writes nothing.

Celery tasks (loyalty/tasks.py) and management commands only parse arguments and call these.
`progress`, when given, is called as `progress(done, total)` after each unit of work.
"""

from __future__ import annotations

import calendar
import logging
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta

from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from loyalty.models import ExpiryReminder, LedgerEntry, LedgerTransaction, PointLot, TransactionKind
from loyalty.reasons import Reason
from loyalty.services import ledger_bulk
from loyalty.services.ledger import Audit, LedgerError, points_credit, points_release
from loyalty.services.program import program_get
from members.models import Member, MemberStatus

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

EXPIRE_BATCH_SIZE = 2000
_CHUNK = 500


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


def as_of_parse(value: str | None) -> datetime:
    """`--as-of` / a task's `as_of`: ISO 8601 date or datetime; naive means the current time zone.

    None or "" means now. A date alone means its local midnight. Raises ValueError on anything else.
    """
    if not value:
        return timezone.now()
    try:
        parsed = parse_datetime(value)
        if parsed is None and (day := parse_date(value)) is not None:
            parsed = datetime(day.year, day.month, day.day)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(_("%(value)r is not an ISO 8601 date or date-time.") % {"value": value})
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def log_progress(job: str, *, every_seconds: float = 15.0, log: logging.Logger = logger) -> Progress:
    """A progress callback that logs `job: done/total` at most every `every_seconds`, and at the end."""
    last = {"at": 0.0}

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - last["at"] >= every_seconds:
            last["at"] = now
            log.info("%s: %s/%s", job, done, total)

    return report


# -- pending points ----------------------------------------------------------------------------------


def pending_points_release(*, as_of: datetime, dry_run: bool = False, progress: Progress | None = None) -> dict:
    """Release every pending lot whose `available_at` has passed: one ledger transaction per member."""
    due = PointLot.objects.filter(released_at__isnull=True, available_at__lte=as_of)
    if dry_run:
        totals = due.filter(remaining__gt=0).aggregate(
            members=Count("member", distinct=True), points=Sum("remaining"), lots=Count("id")
        )
        return {"members": totals["members"], "points": totals["points"] or 0, "lots": totals["lots"],
                "failed": 0, "dry_run": True}
    # Members whose due lots were all reversed are visited too: points_release marks those lots released.
    member_ids = list(due.order_by("member_id").values_list("member_id", flat=True).distinct())
    released = points = failed = 0
    for start in range(0, len(member_ids), _CHUNK):
        chunk = member_ids[start : start + _CHUNK]
        members = Member.objects.in_bulk(chunk)
        txn_ids = []
        for member_id in chunk:
            try:
                txn = points_release(member=members[member_id], as_of=as_of)  # its own transaction
            except LedgerError as error:
                failed += 1
                logger.error("release_pending_points: member %s failed: %s", member_id, error)
                continue
            if txn is not None:
                txn_ids.append(txn.pk)
        released += len(txn_ids)
        # A release moves x from pending (-x) to available (+x): the positive leg is what was released.
        points += LedgerEntry.objects.filter(transaction__in=txn_ids, points__gt=0).aggregate(s=Sum("points"))["s"] or 0
        _report(progress, start + len(chunk), len(member_ids))
    return {"members": released, "points": points, "failed": failed, "dry_run": False}


# -- expiry ---------------------------------------------------------------------------------------------


def points_expire(
    *, as_of: datetime, dry_run: bool = False, batch_size: int = EXPIRE_BATCH_SIZE, progress: Progress | None = None
) -> dict:
    """Expire the remaining points of every released lot with `expires_at <= as_of`.

    The members with lots due (from the open lots' expiry index: the work due, not the size of the
    programme) are taken in pk order, `batch_size` at a time; each batch is one database transaction of
    set-based statements (loyalty.services.ledger_bulk) with one `expire` transaction per member who still
    had something due. Progress counts those members.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if dry_run:
        totals = ledger_bulk.expirable_totals(as_of=as_of)
        return {"members": totals.members, "points": totals.points, "lots": totals.lots, "batches": 0,
                "dry_run": True}
    candidates = ledger_bulk.expiry_candidate_ids(as_of=as_of)
    expired_account = ledger_bulk.expired_account_id()
    members = points = lots = batches = 0
    for start in range(0, len(candidates), batch_size):
        member_ids = candidates[start : start + batch_size]
        result = ledger_bulk.points_expire_batch(member_ids=member_ids, as_of=as_of, expired_account=expired_account)
        members += result.members
        points += result.points
        lots += result.lots
        batches += 1
        if progress is not None:
            progress(start + len(member_ids), len(candidates))
    return {"members": members, "points": points, "lots": lots, "batches": batches, "dry_run": False}


# -- expiry reminders ------------------------------------------------------------------------------


def expiry_reminder_render(*, member: Member, points: int, expires_on: date) -> EmailMultiAlternatives:
    """The reminder email in the member's language (templates/emails/expiry_reminder*)."""
    from loyalty.emails import member_email_build, site_url

    value = points * program_get().point_value
    context = {"points": points, "expires_on": expires_on, "value": value, "rewards_url": site_url("/rewards/")}
    return member_email_build(member=member, template="expiry_reminder", context=context)


def expiry_reminders_send(*, as_of: datetime, dry_run: bool = False, progress: Progress | None = None) -> dict:
    """Email each active member once per expiry date about points expiring in the warning window.

    Delivery is at-least-once: the ExpiryReminder row is inserted and the email sent inside one database
    transaction, so a failed send leaves no row (the next run tries again), and the unique
    (member, expires_on) constraint makes a concurrent run skip that member. A duplicate is only possible
    if the commit fails after the mail server accepted the message.
    """
    program = program_get()
    if program.expiry_warning_days == 0 or not program.expiry_reminder_email:
        return {"sent": 0, "points": 0, "skipped": 0, "failed": 0, "dry_run": dry_run}
    until = as_of + timedelta(days=program.expiry_warning_days)
    groups = list(
        PointLot.objects.filter(
            remaining__gt=0, expires_at__gt=as_of, expires_at__lte=until, member__status=MemberStatus.ACTIVE,
            member__email_expiry_reminder=True,
        )
        .annotate(expires_on=TruncDate("expires_at", tzinfo=timezone.get_current_timezone()))
        .values("member_id", "expires_on")
        .annotate(points=Sum("remaining"))
        .order_by("member_id", "expires_on")
    )
    member_ids = sorted({group["member_id"] for group in groups})
    done = set(
        ExpiryReminder.objects.filter(member_id__in=member_ids, expires_on__gte=timezone.localtime(as_of).date())
        .values_list("member_id", "expires_on")
    )
    todo = [group for group in groups if (group["member_id"], group["expires_on"]) not in done]
    skipped = len(groups) - len(todo)
    if dry_run:
        return {"sent": len(todo), "points": sum(g["points"] for g in todo), "skipped": skipped, "failed": 0,
                "dry_run": True}
    sent = points = failed = 0
    members = Member.objects.in_bulk(sorted({group["member_id"] for group in todo}))
    for index, group in enumerate(todo, start=1):
        member = members[group["member_id"]]
        try:
            with transaction.atomic():
                ExpiryReminder.objects.create(
                    member=member, expires_on=group["expires_on"], points=group["points"], sent_at=timezone.now()
                )
                expiry_reminder_render(member=member, points=group["points"], expires_on=group["expires_on"]).send()
        except IntegrityError:
            skipped += 1  # another run reminded this member about this date meanwhile
        except Exception:
            failed += 1
            logger.exception("send_expiry_reminders: member %s failed", member.pk)
        else:
            sent += 1
            points += group["points"]
        _report(progress, index, len(todo))
    return {"sent": sent, "points": points, "skipped": skipped, "failed": failed, "dry_run": False}


def expiry_reminder_resend(*, member: Member, as_of: datetime) -> ExpiryReminder | None:
    """Email the member now about the next date their points expire (the soonest with points left after
    `as_of`), whether or not the reminder job already did: staff sending it again. The reminder row is kept
    (created or refreshed), so the job does not send it a third time. None when no points are due to expire.
    """
    group = (
        PointLot.objects.filter(member=member, remaining__gt=0, expires_at__gt=as_of)
        .annotate(expires_on=TruncDate("expires_at", tzinfo=timezone.get_current_timezone()))
        .values("expires_on")
        .annotate(points=Sum("remaining"))
        .order_by("expires_on")
        .first()
    )
    if group is None:
        return None
    with transaction.atomic():
        reminder, _created = ExpiryReminder.objects.update_or_create(
            member=member, expires_on=group["expires_on"],
            defaults={"points": group["points"], "sent_at": timezone.now()},
        )
        expiry_reminder_render(member=member, points=group["points"], expires_on=group["expires_on"]).send()
    return reminder


# -- birthday bonuses -------------------------------------------------------------------------------


def birthday_key(*, member_id: int, year: int) -> str:
    return f"birthday:{member_id}:{year}"


def birthday_bonuses_award(*, as_of: datetime, dry_run: bool = False, progress: Progress | None = None) -> dict:
    """Credit the program's birthday bonus to active members whose birthday is `as_of`'s local date.

    Members born on 29 February get it on 28 February in other years. Once a year per member: the
    idempotency key is `birthday:<member pk>:<year>`.
    """
    program = program_get()
    points_each = program.birthday_bonus
    today = timezone.localtime(as_of).date()
    born_today = Q(birthday__month=today.month, birthday__day=today.day)
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year):
        born_today |= Q(birthday__month=2, birthday__day=29)
    if points_each <= 0:
        return {"members": 0, "points": 0, "skipped": 0, "failed": 0, "dry_run": dry_run}
    candidates = list(
        Member.objects.filter(born_today, status=MemberStatus.ACTIVE).order_by("pk").values_list("pk", flat=True)
    )
    awarded_keys = set(
        LedgerTransaction.objects.filter(
            idempotency_key__in=[birthday_key(member_id=pk, year=today.year) for pk in candidates]
        ).values_list("idempotency_key", flat=True)
    )
    todo = [pk for pk in candidates if birthday_key(member_id=pk, year=today.year) not in awarded_keys]
    skipped = len(candidates) - len(todo)
    if dry_run:
        return {"members": len(todo), "points": len(todo) * points_each, "skipped": skipped, "failed": 0,
                "dry_run": True}
    awarded = failed = 0
    for start in range(0, len(todo), _CHUNK):
        chunk = todo[start : start + _CHUNK]
        members = Member.objects.in_bulk(chunk)
        for member_id in chunk:
            try:
                points_credit(
                    member=members[member_id],
                    points=points_each,
                    kind=TransactionKind.BONUS,
                    audit=Audit(
                        reason=Reason(gettext_noop("Birthday bonus")),
                        idempotency_key=birthday_key(member_id=member_id, year=today.year),
                        job="award_birthday_bonuses",
                        occurred_at=as_of,
                    ),
                    now=as_of,
                )
            except LedgerError as error:
                failed += 1
                logger.error("award_birthday_bonuses: member %s failed: %s", member_id, error)
            else:
                awarded += 1
        _report(progress, start + len(chunk), len(todo))
    return {"members": awarded, "points": awarded * points_each, "skipped": skipped, "failed": failed,
            "dry_run": False}
