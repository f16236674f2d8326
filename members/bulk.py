"""Bulk actions on members (the admin's member list: the selected members, or every member matching the
list's filter), each recorded in the audit log (StaffAction) with who, what and how many.

- Points go through the ledger service one member at a time (each member its own posting and idempotency
  key `bulk-adjust:<token>:<member>`), so a refused debit refuses that member only, and the same form
  submitted twice posts nothing the second time.
- Status changes are one set-based UPDATE with the audit row, in one transaction; `members_status_changed` is
  sent once after the commit (the leaderboard drops suspended members and takes reactivated ones back).
- Other apps' bulk actions on members (campaigns: grant a badge) use `bulk_member_ids`, `BulkResult` and
  `bulk_details` from here, and record themselves the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from loyalty.models import LedgerTransaction, StaffAction, StaffActionKind
from loyalty.services.audit import staff_action_record
from loyalty.services.jobs import expiry_reminder_resend
from loyalty.services.ledger import LedgerError, points_adjust
from members.models import Member, MemberStatus
from members.signals import members_status_changed

# A bulk action runs inside the admin's request. Larger selections belong to `import_points` (points) or a
# narrower filter; the limit is said in the refusal.
BULK_LIMIT = 10_000
REFUSED_KEPT = 200  # refused members listed in the audit log's details


class BulkTooLarge(Exception):
    def __init__(self, count: int) -> None:
        super().__init__(
            gettext("%(count)d members selected: a bulk action takes at most %(limit)d. Narrow the filter, or "
                    "use a points import for larger grants.") % {"count": count, "limit": BULK_LIMIT}
        )


@dataclass
class BulkResult:
    done: int = 0
    already: int = 0  # already done by an earlier submission of the same form
    refused: list[tuple[str, str]] = field(default_factory=list)  # (loyalty ID, why)
    action: StaffAction | None = None


def bulk_member_ids(members: QuerySet[Member]) -> list[int]:
    """The ids of the members a bulk action runs on, in order; BulkTooLarge beyond BULK_LIMIT."""
    ids = list(members.order_by().values_list("pk", flat=True)[: BULK_LIMIT + 1])
    if len(ids) > BULK_LIMIT:
        raise BulkTooLarge(members.count())
    return sorted(ids)


def bulk_details(result: BulkResult, selection: dict[str, Any], **more) -> dict[str, Any]:
    """The audit log's details of a bulk action: what it was given, the selection, and what came of it."""
    return {
        **more,
        "selection": selection,
        "done": result.done,
        "already_done": result.already,
        "refused": len(result.refused),
        "refused_members": [f"{loyalty_id}: {why}" for loyalty_id, why in result.refused[:REFUSED_KEPT]],
    }


def members_points_adjust(
    *, members: QuerySet[Member], points: int, reason: str, staff_user, token: str, selection: dict[str, Any]
) -> BulkResult:
    """Add (positive) or remove (negative) `points` for each member, with a reason shown to the member.

    A member whose available points are fewer than a removal, or whose account is closed, is refused and
    listed; the others are posted. `token` identifies this submission of the form."""
    result = BulkResult()
    for member in Member.objects.filter(pk__in=bulk_member_ids(members)).order_by("pk").iterator(chunk_size=500):
        if member.status == MemberStatus.CLOSED:
            result.refused.append((member.loyalty_id, gettext("This member's account is closed.")))
            continue
        key = f"bulk-adjust:{token}:{member.pk}"
        if LedgerTransaction.objects.filter(idempotency_key=key).exists():
            result.already += 1
            continue
        try:
            points_adjust(member=member, points=points, reason=reason, staff_user=staff_user, idempotency_key=key)
        except LedgerError as error:
            result.refused.append((member.loyalty_id, error.detail))
        else:
            result.done += 1
    if result.done or result.refused or not StaffAction.objects.filter(details__token=token).exists():
        result.action = staff_action_record(
            kind=StaffActionKind.POINTS_ADJUSTED, staff_user=staff_user, count=result.done,
            details=bulk_details(result, selection, points=points, reason=reason, token=token),
        )
    return result


def member_points_adjust(*, member: Member, points: int, reason: str, staff_user, idempotency_key: str):
    """One member's manual adjustment by staff (the member page), recorded in the audit log too."""
    replay = LedgerTransaction.objects.filter(idempotency_key=idempotency_key).exists()
    with transaction.atomic():
        txn = points_adjust(member=member, points=points, reason=reason, staff_user=staff_user,
                            idempotency_key=idempotency_key)
        if not replay:
            staff_action_record(
                kind=StaffActionKind.POINTS_ADJUSTED, staff_user=staff_user, count=1,
                details={"selection": {"member": member.loyalty_id}, "points": points, "reason": reason,
                         "done": 1, "transaction": txn.pk},
            )
    return txn, replay


_STATUS_CHANGES = {
    MemberStatus.SUSPENDED: (MemberStatus.ACTIVE, StaffActionKind.MEMBERS_SUSPENDED),
    MemberStatus.ACTIVE: (MemberStatus.SUSPENDED, StaffActionKind.MEMBERS_REACTIVATED),
}


@transaction.atomic
def members_status_set(
    *, members: QuerySet[Member], status: str, staff_user, selection: dict[str, Any]
) -> BulkResult:
    """Suspend active members (they cannot earn or redeem until reactivated) or reactivate suspended ones.
    Members already in `status` are left alone. Closed members stay closed (closing is final), listed as left
    out. There is no bulk close: a membership is closed one at a time (members.services.member_status_set)."""
    if status not in _STATUS_CHANGES:
        raise ValueError(f"cannot bulk-set status {status!r}")
    from_status, kind = _STATUS_CHANGES[MemberStatus(status)]
    ids = bulk_member_ids(members)
    changing = list(
        Member.objects.select_for_update().filter(pk__in=ids, status=from_status).order_by("pk")
        .values_list("pk", "loyalty_id")
    )
    changed_ids = [pk for pk, _id in changing]
    Member.objects.filter(pk__in=changed_ids).update(status=status)
    if changed_ids:
        transaction.on_commit(
            lambda: members_status_changed.send(sender=Member, member_ids=changed_ids, status=status)
        )
    closed = list(Member.objects.filter(pk__in=ids, status=MemberStatus.CLOSED).order_by("pk")
                  .values_list("loyalty_id", flat=True))
    final = gettext("A closed membership is final: it cannot be reopened.")
    result = BulkResult(done=len(changing), already=len(ids) - len(changing) - len(closed),
                        refused=[(loyalty_id, final) for loyalty_id in closed])
    result.action = staff_action_record(
        kind=kind, staff_user=staff_user, count=result.done,
        details=bulk_details(result, selection, members=[loyalty_id for _pk, loyalty_id in changing[:1000]]),
    )
    return result


def members_expiry_reminder_resend(
    *, members: QuerySet[Member], staff_user, selection: dict[str, Any], as_of: datetime | None = None
) -> BulkResult:
    """Email each active member about their next expiring points now (the job's reminder, sent again).
    Members with no points expiring, or not active, are listed as refused."""
    as_of = as_of or timezone.now()
    result = BulkResult()
    for member in Member.objects.filter(pk__in=bulk_member_ids(members)).order_by("pk").iterator(chunk_size=500):
        if member.status != MemberStatus.ACTIVE:
            result.refused.append((member.loyalty_id, gettext("Only active members get reminders.")))
            continue
        if expiry_reminder_resend(member=member, as_of=as_of) is None:
            result.refused.append((member.loyalty_id, gettext("No points are due to expire.")))
        else:
            result.done += 1
    result.action = staff_action_record(
        kind=StaffActionKind.EXPIRY_REMINDERS_RESENT, staff_user=staff_user, count=result.done,
        details=bulk_details(result, selection),
    )
    return result
