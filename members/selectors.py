"""Reads for the member portal. Each page asks a fixed number of queries whatever the member's history
length: aggregates are computed in the database over indexed ranges, lists are paginated."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from loyalty.models import (
    AccountKind,
    LedgerEntry,
    LedgerTransaction,
    PointLot,
    Program,
    Purchase,
    TierHistory,
    TierMetric,
    TransactionKind,
)
from loyalty.selectors import member_points_get
from loyalty.services.program import program_get
from loyalty.services.tiers import add_months, member_tier_metric_stored_get, tiers_list_get
from members.models import Member

EARNED_KINDS = (TransactionKind.EARN, TransactionKind.BONUS)
SPENT_KINDS = (TransactionKind.REDEEM, TransactionKind.CANCEL_REDEMPTION)


# -- history ---------------------------------------------------------------------------------------


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def member_history_get(
    *, member: Member, kind: str = "", date_from: date | None = None, date_to: date | None = None,
    explained: bool = True,
) -> QuerySet[LedgerTransaction]:
    """The member's ledger transactions, newest first, optionally of one kind and between two local dates
    (both included). Each row carries `released` (a release: the points that became available) and, when
    `explained` (a page of them, not a whole download), `lot_available_at` and `lot_released_at` (a credit:
    when its points are or were released)."""
    released = LedgerEntry.objects.filter(
        transaction=OuterRef("pk"), account__kind=AccountKind.AVAILABLE, points__gt=0
    ).values("points")[:1]
    lots = PointLot.objects.filter(transaction=OuterRef("pk")).order_by("pk")
    transactions = LedgerTransaction.objects.filter(member=member)
    if kind:
        transactions = transactions.filter(kind=kind)
    if date_from is not None:
        transactions = transactions.filter(occurred_at__gte=_local_midnight(date_from))
    if date_to is not None:
        transactions = transactions.filter(occurred_at__lt=_local_midnight(date_to + timedelta(days=1)))
    transactions = transactions.annotate(released=Subquery(released))
    if explained:
        transactions = transactions.annotate(
            lot_available_at=Subquery(lots.values("available_at")[:1]),
            lot_released_at=Subquery(lots.values("released_at")[:1]),
        )
    return transactions.order_by("-occurred_at", "-id")


def release_sources_get(transactions: Iterable[LedgerTransaction]) -> dict[int, list[str]]:
    """For each release among `transactions`: the references (order ids) of the credits whose pending points
    it released, in one query for the whole page."""
    wanted: dict[int, list[int]] = {}
    for txn in transactions:
        if txn.kind == TransactionKind.RELEASE:
            wanted[txn.pk] = [lot for lot in (txn.metadata or {}).get("lots", []) if isinstance(lot, int)]
    lot_ids = {lot for lots in wanted.values() for lot in lots}
    if not lot_ids:
        return {pk: [] for pk in wanted}
    references = dict(
        PointLot.objects.filter(pk__in=lot_ids).values_list("pk", "transaction__reference")
    )
    return {pk: [references[lot] for lot in lots if references.get(lot)] for pk, lots in wanted.items()}


# -- dashboard -------------------------------------------------------------------------------------


def member_expiring_soon_get(*, member: Member, now: datetime, days: int) -> list[dict[str, Any]]:
    """Spendable points that expire within `days` (the programme's warning window), by expiry date, with
    the last day they can be used (a lot expiring at midnight is valid the day before)."""
    rows = (
        PointLot.objects.filter(
            member=member, released_at__isnull=False, remaining__gt=0, expires_at__gt=now,
            expires_at__lte=now + timedelta(days=days),
        )
        .values("expires_at")
        .annotate(points=Sum("remaining"))
        .order_by("expires_at")
    )
    grouped: dict[date, int] = {}
    for row in rows:
        expires_at = row["expires_at"]
        assert expires_at is not None  # filtered on expires_at > now
        valid_until = timezone.localdate(expires_at - timedelta(microseconds=1))
        grouped[valid_until] = grouped.get(valid_until, 0) + row["points"]
    return [{"points": points, "valid_until": day} for day, points in grouped.items()]


def member_points_by_month(*, member: Member, now: datetime, months: int = 12) -> list[dict[str, Any]]:
    """Points earned (earn and bonus) and spent (redeemed, less cancelled redemptions) in each of the last
    `months` calendar months (local time), oldest first: one aggregate over an indexed range."""
    first = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    starts = [add_months(first, -offset) for offset in range(months - 1, -1, -1)]
    bounds = [*starts, add_months(first, 1)]
    aggregates = {}
    for index in range(months):
        window = Q(occurred_at__gte=bounds[index], occurred_at__lt=bounds[index + 1])
        aggregates[f"earned_{index}"] = Sum("points", filter=window & Q(kind__in=EARNED_KINDS))
        aggregates[f"spent_{index}"] = Sum("points", filter=window & Q(kind__in=SPENT_KINDS))
    totals = LedgerTransaction.objects.filter(
        member=member, occurred_at__gte=bounds[0], occurred_at__lt=bounds[-1]
    ).aggregate(**aggregates)
    return [
        {
            "month": starts[index],
            "earned": max(totals[f"earned_{index}"] or 0, 0),
            "spent": max(-(totals[f"spent_{index}"] or 0), 0),
        }
        for index in range(months)
    ]


def member_tier_status_get(*, member: Member, program: Program | None = None) -> dict[str, Any]:
    """The member's tier, the next one and how far along they are (no history query once the metric is
    stored). `value`/`span` feed a progress bar from the current tier's threshold to the next one's."""
    program = program or program_get()
    tiers = tiers_list_get()
    current = next((tier for tier in tiers if tier.pk == member.tier_id), None)
    current_rank = current.rank if current is not None else -1
    upcoming = next(
        (tier for tier in tiers if tier.rank > current_rank and not (tier.is_paid and tier.threshold == 0)), None
    )
    status: dict[str, Any] = {
        "tier": current, "next_tier": upcoming, "metric_kind": program.tier_metric,
        "window": program.tier_window, "window_months": program.tier_window_months,
    }
    if upcoming is None:
        return status
    metric = member_tier_metric_stored_get(member=member, program=program)
    base = min(current.threshold if current is not None else 0, upcoming.threshold)
    span = max(upcoming.threshold - base, 1)
    remaining = max(upcoming.threshold - metric, 0)
    if program.tier_metric == TierMetric.SPEND:
        remaining = Decimal(remaining).quantize(Decimal("0.01"))
    value = min(max(metric - base, 0), span)
    status.update(
        metric=metric, remaining=remaining, value=value, span=span, percent=int(100 * value / span),
    )
    return status


# -- the data download -----------------------------------------------------------------------------

# Other apps add their part of a member's data (rewards: redemptions; campaigns: referrals, badges, challenges,
# leaderboard entries and actions).
_EXPORT_SECTIONS: dict[str, Callable[[Member], Any]] = {}


def member_export_register(name: str, builder: Callable[[Member], Any]) -> None:
    """Add a section to the "Download my data" file: `builder(member)` returns JSON-ready data."""
    _EXPORT_SECTIONS[name] = builder


def _iso(moment: datetime | date | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def member_data_export(*, member: Member) -> dict[str, Any]:
    """Everything the programme keeps about the member, as JSON-ready data (in the active language)."""
    member = Member.objects.select_related("tier").get(pk=member.pk)
    points = member_points_get(member=member)
    data: dict[str, Any] = {
        "exported_at": timezone.now().isoformat(),
        "profile": {
            "loyalty_id": member.loyalty_id,
            "email": member.email,
            "first_name": member.first_name,
            "last_name": member.last_name,
            "birthday": _iso(member.birthday),
            "phone": member.phone,
            "nickname": member.nickname,
            "language": member.language,
            "status": member.status,
            "joined_at": _iso(member.joined_at),
            "tier": member.tier.name if member.tier else None,
            "tier_since": _iso(member.tier_since),
            "terms_accepted_at": _iso(member.terms_accepted_at),
            "marketing_consent": member.marketing_consent,
            "marketing_consent_at": _iso(member.marketing_consent_at),
            "leaderboard_opt_in": member.leaderboard_opt_in,
            "emails": {
                "tier_upgrade": member.email_tier_upgrade,
                "reward_redeemed": member.email_reward_redeemed,
                "expiry_reminder": member.email_expiry_reminder,
            },
            "referral_code": member.referral_code,
        },
        "points": points,
        "transactions": [
            {
                "id": txn.pk,
                "occurred_at": _iso(txn.occurred_at),
                "kind": txn.kind,
                "points": txn.points,
                "balance_after": txn.balance_after,
                "reason": txn.reason_text,
                "reference": txn.reference,
            }
            for txn in LedgerTransaction.objects.filter(member=member).order_by("occurred_at", "id").iterator(2000)
        ],
        "purchases": [
            {
                "order_id": purchase["order_id"], "store": purchase["store__name"],
                "occurred_at": _iso(purchase["occurred_at"]), "total": str(purchase["total"]),
                "currency": purchase["currency"], "refunded": str(purchase["refunded_total"]),
                "points": purchase["points_base"] + purchase["points_bonus"],
            }
            for purchase in Purchase.objects.filter(member=member).order_by("occurred_at", "id").values(
                "order_id", "store__name", "occurred_at", "total", "currency", "refunded_total", "points_base",
                "points_bonus",
            )
        ],
        "tier_history": [
            {"changed_at": _iso(row["changed_at"]), "tier": row["to_tier__name"], "reason": row["reason"]}
            for row in TierHistory.objects.filter(member=member).order_by("changed_at", "id").values(
                "changed_at", "to_tier__name", "reason"
            )
        ],
    }
    for name, builder in sorted(_EXPORT_SECTIONS.items()):
        data[name] = builder(member)
    return data
