"""The KPI dashboard's figures (/admin/kpi/) for a date range, cached for a minute. Points per month, members
enrolled and new, and the activation rate come from the day sums of loyalty.kpi_rollup plus the rows its job
has not read yet (the same numbers as the aggregates over the rows, which are used until the job has run);
the rest are aggregate queries. The cache holds numbers and untranslated (lazy) labels: each reader sees their
own language.

Definitions (the page says them too), for a range of whole days [start, end] in the site's time zone:
- members: enrolled by the end of the range (any status); new members per month of joining;
- active (90 days): members with a purchase in the 90 days up to the end of the range;
- activation rate: of the members who joined in the range, the share with at least one purchase;
- points issued: earned, bonus and points added by staff or imports (opening balances too), when posted;
  redeemed: spent on rewards and discounts, less cancelled redemptions; expired: points that expired;
- outstanding points: every member's available plus pending points now; liability: that times the point value;
- redemption rate: redeemed / issued in the range; breakage: expired / issued in the range;
- repeat-purchase rate: of the members who bought in the range, the share who bought at least twice;
- average order value: purchase totals less refunds, divided by the number of purchases, in the range;
- tier distribution: members who are not closed, by their tier now.

`loyalty` never imports `rewards` or `campaigns`: they add their tables (top rewards, challenge completion,
referral conversion) with `kpi_table_register` from their AppConfig.ready().
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from django.db import connection, connections
from django.db.models import Case, Count, Exists, F, IntegerField, Max, OuterRef, Q, Sum, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.kpi_rollup import joined_changes, kpi_rollup_get, points_classify, unread_q
from loyalty.models import KpiDay, KpiJoined, KpiRollup, LedgerAccount, LedgerTransaction, PointLot, Purchase, Tier
from loyalty.replicas import replica_alias, replica_reads
from loyalty.services.program import program_get
from members.models import Member, MemberStatus

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

CACHE_SECONDS = 60
CACHE_VERSION = 1
ACTIVE_DAYS = 90


@dataclass(frozen=True)
class KpiRange:
    """Whole days from `start` to `end` (inclusive), local time; `since` <= moment < `until`."""

    start: date
    end: date

    @property
    def since(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def until(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min))

    def months(self) -> list[date]:
        months, month = [], self.start.replace(day=1)
        while month <= self.end:
            months.append(month)
            month = (month + timedelta(days=32)).replace(day=1)
        return months


@dataclass(frozen=True)
class KpiTable:
    """A table on the dashboard with its own CSV download. `rows(period, figures)` computes it from the period
    and the figures computed before (plain values only: the result is cached); `order` places it on the page."""

    key: str
    title: StrPromise | str
    columns: Sequence[StrPromise | str]
    rows: Callable[[KpiRange, dict[str, Any]], list[tuple[Any, ...]]]
    description: StrPromise | str = ""
    order: int = 100


_tables: dict[str, KpiTable] = {}


def kpi_table_register(table: KpiTable) -> None:
    """Add (or replace) a table on the dashboard; called from an app's ready()."""
    _tables[table.key] = table


def kpi_tables() -> list[KpiTable]:
    return sorted(_tables.values(), key=lambda table: (table.order, table.key))


def _ratio(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _month_bucket(field: str, period: KpiRange) -> Case:
    """The index of the month of `period` that `field` falls in (0 for the first), for moments inside the
    period (callers filter or label the others). Comparisons with the months' first moments (local time),
    not date_trunc(... AT TIME ZONE ...) per row: converting every row's time zone was half the cost of the
    points query on PostgreSQL."""
    starts = [timezone.make_aware(datetime.combine(month, time.min)) for month in period.months()[1:]]
    whens = [When(**{f"{field}__lt": moment}, then=Value(index)) for index, moment in enumerate(starts)]
    return Case(*whens, default=Value(len(starts)), output_field=IntegerField())


def _points_by_month(period: KpiRange, unread: Q | None = None) -> dict[date, dict[str, int]]:
    """Issued, redeemed and expired points per month, from the transactions' member-side points: one pass
    over the period's transactions (`unread`: only those the rollup job has not read)."""
    transactions = LedgerTransaction.objects.filter(occurred_at__gte=period.since, occurred_at__lt=period.until)
    if unread is not None:
        transactions = transactions.filter(unread)
    rows = (
        transactions.annotate(month=_month_bucket("occurred_at", period))
        .values("month", "kind")
        .annotate(plus=Sum("points", filter=Q(points__gt=0)), minus=Sum("points", filter=Q(points__lt=0)))
        .order_by()
    )
    months = period.months()
    figures = {month: {"issued": 0, "redeemed": 0, "expired": 0} for month in months}
    for row in rows:
        _points_add(figures[months[row["month"]]],
                    points_classify(row["kind"], row["plus"] or 0, -(row["minus"] or 0)))
    return figures


def _points_add(month: dict[str, int], figures: tuple[int, int, int] | list[int]) -> None:
    for name, value in zip(("issued", "redeemed", "expired"), figures, strict=True):
        month[name] += value


def _members(period: KpiRange) -> dict[str, Any]:
    """One pass over the members: enrolled by the end, new per month, of those the ones who bought, and the
    tier distribution (members not closed, by tier now)."""
    months = period.months()
    bought = Exists(Purchase.objects.filter(member=OuterRef("pk"), occurred_at__lt=period.until))
    joined_in = Q(joined_at__gte=period.since, joined_at__lt=period.until)
    rows = (
        Member.objects.annotate(
            month=Case(When(joined_at__lt=period.since, then=Value(-1)),
                       When(joined_at__gte=period.until, then=Value(-2)),
                       default=_month_bucket("joined_at", period), output_field=IntegerField()),
            open=Case(When(status=MemberStatus.CLOSED, then=Value(0)), default=Value(1), output_field=IntegerField()),
        )
        .values("month", "tier_id", "open")
        # The purchase check runs only for members who joined in the period (CASE evaluates lazily).
        .annotate(count=Count("id"), activated=Sum(Case(When(joined_in & bought, then=Value(1)), default=Value(0),
                                                        output_field=IntegerField())))
        .order_by()
    )
    new = dict.fromkeys(months, 0)
    total = activated = 0
    tiers: dict[int | None, int] = {}
    for row in rows:
        if row["month"] >= 0:
            new[months[row["month"]]] += row["count"]
            activated += row["activated"] or 0
        if row["month"] != -2:
            total += row["count"]
        if row["open"]:
            tiers[row["tier_id"]] = tiers.get(row["tier_id"], 0) + row["count"]
    return {"total": total, "new": new, "activated": activated, "tiers": tiers}


def _purchases(period: KpiRange) -> dict[str, Any]:
    """One pass over the purchases from the start of the period (or of the activity window, if earlier):
    per member their orders and net amount in the period and their last purchase; then buyers, repeat
    buyers, orders, amount, and members active in the 90 days up to the end."""
    active_since = period.until - timedelta(days=ACTIVE_DAYS)
    in_period = Q(occurred_at__gte=period.since)
    per_member = (
        Purchase.objects.filter(occurred_at__gte=min(period.since, active_since), occurred_at__lt=period.until)
        .values("member_id")
        .annotate(orders=Count("id", filter=in_period), amount=Sum(F("total") - F("refunded_total"), filter=in_period),
                  last=Max("occurred_at"))
        .order_by()
    )
    sql, params = per_member.query.sql_with_params()
    with connections[replica_alias()].cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(CASE WHEN s.orders > 0 THEN 1 ELSE 0 END), 0), "  # noqa: S608 - Django's SQL
            "COALESCE(SUM(CASE WHEN s.orders >= 2 THEN 1 ELSE 0 END), 0), COALESCE(SUM(s.orders), 0), "
            f"COALESCE(SUM(s.amount), 0), COALESCE(SUM(CASE WHEN s.last >= %s THEN 1 ELSE 0 END), 0) FROM ({sql}) s",
            [connection.ops.adapt_datetimefield_value(active_since), *params],  # in the order of the %s
        )
        buyers, repeat, orders, amount, active = cursor.fetchone()
    return {"buyers": buyers, "repeat_buyers": repeat, "orders": orders, "amount": Decimal(str(amount)),
            "active": active}


def _outstanding() -> tuple[int, int]:
    """(available, pending) points of all members now. Entries sum to zero, so the members' balances together
    are minus the system accounts' (four rows); the pending ones are the unreleased lots (a partial index)."""
    system = LedgerAccount.objects.filter(member__isnull=True).aggregate(total=Sum("balance"))["total"] or 0
    pending = PointLot.objects.filter(released_at__isnull=True).aggregate(total=Sum("remaining"))["total"] or 0
    return -system - pending, pending


def _tier_counts() -> dict[int | None, int]:
    """Members who are not closed, by their tier now (a pass over the members: not rolled up)."""
    rows = Member.objects.exclude(status=MemberStatus.CLOSED).values("tier_id").annotate(count=Count("id")).order_by()
    return {row["tier_id"]: row["count"] for row in rows}


def _rolled_up(period: KpiRange, state: KpiRollup) -> tuple[dict[date, dict[str, int]], dict[str, Any]]:
    """Points per month and the members' figures from the rollups (days, and members by day joined and day of
    first purchase), plus the rows the job has not read yet (read through the primary keys)."""
    points = _points_by_month(period, unread_q(state, "transactions"))
    for row in KpiDay.objects.filter(day__gte=period.start, day__lte=period.end).values_list(
            "day", "points_issued", "points_redeemed", "points_expired"):
        _points_add(points[row[0].replace(day=1)], row[1:])
    months = period.months()
    new = dict.fromkeys(months, 0)
    joined = KpiJoined.objects.filter(joined_on__lte=period.end)
    sums = joined.aggregate(total=Sum("members"), activated=Sum(
        "members", filter=Q(joined_on__gte=period.start, first_purchase_on__lte=period.end)))
    total, activated = sums["total"] or 0, sums["activated"] or 0
    for day, count in joined.filter(joined_on__gte=period.start).values("joined_on").annotate(
            count=Sum("members")).values_list("joined_on", "count").order_by():
        new[day.replace(day=1)] += count
    changes = joined_changes(unread_q(state, "members"), unread_q(state, "purchases"),
                             timezone.get_current_timezone())
    for (joined_on, first_on), count in changes.items():
        if joined_on <= period.end:
            total += count
            if joined_on >= period.start:
                new[joined_on.replace(day=1)] += count
                if first_on <= period.end:
                    activated += count
    return points, {"total": total, "new": new, "activated": activated}


def _rolled_up_or_none(period: KpiRange) -> tuple[dict[date, dict[str, int]], dict[str, Any]] | None:
    """The rolled-up figures, if the job has run; read again if it ran meanwhile (a run adds rows to the days
    and moves its marks in one transaction: the same version before and after means one consistent read)."""
    for _attempt in range(3):
        state = kpi_rollup_get()
        if state is None:
            return None
        result = _rolled_up(period, state)
        if KpiRollup.objects.filter(pk=state.pk, version=state.version).exists():
            return result
    return None


def _figures(period: KpiRange, *, rollups: bool = True) -> dict[str, Any]:
    """Every figure for `period`: points and members from the rollups when the job has run (`rollups`), else
    from the rows; the same numbers either way."""
    program = program_get()
    rolled_up = _rolled_up_or_none(period) if rollups else None
    if rolled_up is None:
        points = _points_by_month(period)
        members = _members(period)
    else:
        points, members = rolled_up
        members["tiers"] = _tier_counts()
    issued = sum(month["issued"] for month in points.values())
    redeemed = sum(month["redeemed"] for month in points.values())
    expired = sum(month["expired"] for month in points.values())
    available, pending = _outstanding()
    purchases = _purchases(period)
    joined_count = sum(members["new"].values())
    aov = (purchases["amount"] / purchases["orders"]).quantize(Decimal("0.01"), ROUND_HALF_UP) \
        if purchases["orders"] else None
    return {
        "members_total": members["total"],
        "members_new": joined_count,
        "members_active": purchases["active"],
        "activation_rate": _ratio(members["activated"], joined_count),
        "points_issued": issued,
        "points_redeemed": redeemed,
        "points_expired": expired,
        "outstanding_available": available,
        "outstanding_pending": pending,
        "outstanding": available + pending,
        "liability": (Decimal(available + pending) * program.point_value).quantize(Decimal("0.01"), ROUND_HALF_UP),
        "currency": program.currency,
        "redemption_rate": _ratio(redeemed, issued),
        "breakage": _ratio(expired, issued),
        "buyers": purchases["buyers"],
        "repeat_purchase_rate": _ratio(purchases["repeat_buyers"], purchases["buyers"]),
        "orders": purchases["orders"],
        "average_order_value": aov,
        "points_by_month": [(month, row["issued"], row["redeemed"], row["expired"]) for month, row in points.items()],
        "members_by_month": list(members["new"].items()),
        "tier_counts": members["tiers"],
    }


def _tier_rows(counts: dict[int | None, int]) -> list[tuple[Any, ...]]:
    tiers = {tier.pk: tier for tier in Tier.objects.all()}
    total = sum(counts.values())
    ordered = sorted(counts.items(), key=lambda item: -tiers[item[0]].rank if item[0] in tiers else 1)
    return [(tiers[pk].name if pk in tiers else _("No tier"), count, _ratio(count, total))
            for pk, count in ordered]


kpi_table_register(KpiTable(
    key="tiers", title=_("Tier distribution"), columns=(_("Tier"), _("Members"), _("Share (%)")),
    rows=lambda period, figures: _tier_rows(figures["tier_counts"]),
    description=_("Members who are not closed, by their tier now."), order=40,
))


# -- the dashboard ---------------------------------------------------------------------------------------


def kpis_get(*, period: KpiRange, fresh: bool = False) -> dict[str, Any]:
    """Every figure and table of the dashboard for `period`, cached for a minute (`fresh`: recompute). One
    entry for every language: tables keep their labels lazy (gettext_lazy), translated when shown."""
    key = f"loyalty:kpi:v{CACHE_VERSION}:{period.start.isoformat()}:{period.end.isoformat()}"
    if not fresh and (cached := cache.get(key)) is not None:
        return cached
    with replica_reads():
        result = _figures(period)
        result["tables"] = {table.key: table.rows(period, result) for table in kpi_tables()}
    result["computed_at"] = timezone.now()
    cache.set(key, result, CACHE_SECONDS)
    return result
