"""Tiers: the qualification metric, upgrades at once, the recalculation job, floors and paid tiers."""

from __future__ import annotations

import calendar
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from loyalty.models import (
    LedgerTransaction,
    LotAllocation,
    PointLot,
    Program,
    Purchase,
    Tier,
    TierMetric,
    TierWindow,
    TransactionKind,
)
from loyalty.services.program import program_get
from members.models import Member

# -- time helpers ----------------------------------------------------------------------------------


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` moved by whole calendar months (negative goes back); the day is clamped to the month's end."""
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def tier_window_start(*, program: Program, as_of: datetime) -> datetime | None:
    """The first moment that counts towards the metric at `as_of` (None: lifetime)."""
    if program.tier_window == TierWindow.CALENDAR_YEAR:
        local = timezone.localtime(as_of)
        return local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if program.tier_window == TierWindow.ROLLING and program.tier_window_months:
        return add_months(as_of, -program.tier_window_months)
    return None


# -- the metric ------------------------------------------------------------------------------------


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _when(moment: datetime):
    """A datetime as the database stores it (SQLite: naive UTC text), for raw SQL parameters."""
    return connection.ops.adapt_datetimefield_value(moment)


def _points_metric_sql(*, start: datetime | None, as_of: datetime, member_id: int | None) -> tuple[str, list]:
    """Points earned in the window: released earn/bonus credits, minus reversals.

    A reversal taken from a lot that is still pending does not count against: that lot's credit does
    not count yet either (and once it is released, the credit and the reversal both count).
    """
    txn, lot, allocation = _table(LedgerTransaction), _table(PointLot), _table(LotAllocation)
    window = "t.occurred_at <= %s" + (" AND t.occurred_at >= %s" if start is not None else "")
    window_params: list = [_when(as_of)] + ([_when(start)] if start is not None else [])
    if member_id is not None:
        window += " AND t.member_id = %s"
        window_params.append(member_id)
    # Only table names from the models' _meta and fixed fragments are formatted in; values are parameters.
    sql = f"""
        SELECT member_id, SUM(points) AS metric FROM (
            SELECT t.member_id AS member_id, t.points AS points
              FROM {txn} t JOIN {lot} l ON l.transaction_id = t.id
             WHERE t.kind IN (%s, %s) AND l.released_at IS NOT NULL AND l.released_at <= %s AND {window}
            UNION ALL
            SELECT t.member_id, t.points
              FROM {txn} t
             WHERE t.kind = %s AND {window}
            UNION ALL
            SELECT t.member_id, a.points
              FROM {txn} t JOIN {allocation} a ON a.transaction_id = t.id JOIN {lot} l ON l.id = a.lot_id
             WHERE t.kind = %s AND (l.released_at IS NULL OR l.released_at > %s) AND {window}
        ) counted
        GROUP BY member_id
    """  # noqa: S608
    params = [
        TransactionKind.EARN, TransactionKind.BONUS, _when(as_of), *window_params,
        TransactionKind.REVERSE, *window_params,
        TransactionKind.REVERSE, _when(as_of), *window_params,
    ]
    return sql, params


def _spend_metric_sql(*, start: datetime | None, as_of: datetime, member_id: int | None) -> tuple[str, list]:
    """Net spend in the window: purchase totals minus their refunds, once the purchase's points are released."""
    purchase = _table(Purchase)
    where = "p.occurred_at <= %s AND (p.available_at IS NULL OR p.available_at <= %s)"
    params: list = [_when(as_of), _when(as_of)]
    if start is not None:
        where += " AND p.occurred_at >= %s"
        params.append(_when(start))
    if member_id is not None:
        where += " AND p.member_id = %s"
        params.append(member_id)
    sql = f"""
        SELECT p.member_id AS member_id, SUM(p.total - p.refunded_total) AS metric
          FROM {purchase} p
         WHERE {where}
         GROUP BY p.member_id
    """  # noqa: S608
    return sql, params


def tier_metrics_get(
    *, as_of: datetime, program: Program | None = None, member: Member | None = None
) -> dict[int, int | Decimal]:
    """The qualification metric per member id, in one aggregate query (for one member or for all).

    Points metric: int points; spend metric: Decimal currency amount. Members with nothing in the
    window are absent (their metric is 0). The value may be negative (reversals of older points).
    """
    program = program or program_get()
    start = tier_window_start(program=program, as_of=as_of)
    member_id = member.pk if member is not None else None
    if program.tier_metric == TierMetric.SPEND:
        sql, params = _spend_metric_sql(start=start, as_of=as_of, member_id=member_id)
    else:
        sql, params = _points_metric_sql(start=start, as_of=as_of, member_id=member_id)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if program.tier_metric == TierMetric.SPEND:
        return {row[0]: Decimal(str(row[1] or 0)).quantize(Decimal("0.01")) for row in rows}
    return {row[0]: int(row[1] or 0) for row in rows}


def member_tier_metric_get(*, member: Member, as_of: datetime | None = None, program: Program | None = None):
    as_of = as_of or timezone.now()
    return tier_metrics_get(as_of=as_of, program=program, member=member).get(member.pk, 0)


# -- which tier a metric reaches -------------------------------------------------------------------


def _earnable(tier: Tier) -> bool:
    """A paid tier with threshold 0 can only be bought (or set as a floor); any other tier can be earned."""
    return not (tier.is_paid and tier.threshold == 0)


def tiers_by_metric(tiers: list[Tier], metric) -> Tier | None:
    """The highest-ranked earnable tier whose threshold the metric reaches."""
    best = None
    for tier in tiers:
        if _earnable(tier) and max(metric, 0) >= tier.threshold and (best is None or tier.rank > best.rank):
            best = tier
    return best


def member_tier_progress_get(*, member: Member, as_of: datetime | None = None) -> dict | None:
    """The next earnable tier above the member's current one and how much is still needed.

    `remaining` is points (int) for the points metric, a currency amount (Decimal) for spend.
    None at the top, or when no tiers exist.
    """
    as_of = as_of or timezone.now()
    current_rank = member.tier.rank if member.tier_id else -1
    next_tier = (
        Tier.objects.filter(rank__gt=current_rank).exclude(price__isnull=False, threshold=0).order_by("rank").first()
    )
    if next_tier is None:
        return None
    metric = member_tier_metric_get(member=member, as_of=as_of)
    remaining = max(next_tier.threshold - metric, 0)
    return {"code": next_tier.code, "name": next_tier.name, "remaining": remaining}
