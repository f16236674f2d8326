"""The KPI dashboard's figures (/admin/kpi/): aggregate queries over a date range, cached for a minute.

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
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models import AccountKind, LedgerAccount, LedgerTransaction, Purchase, TransactionKind
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
    """A table on the dashboard with its own CSV download. `rows` computes it (plain values only: the result
    is cached); `order` places it on the page."""

    key: str
    title: StrPromise | str
    columns: Sequence[StrPromise | str]
    rows: Callable[[KpiRange], list[tuple[Any, ...]]]
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


def _month(value: datetime | date) -> date:
    """A TruncMonth value as the first day of that month (a datetime on PostgreSQL, a date or datetime on
    SQLite, depending on the backend's conversion)."""
    if isinstance(value, datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value.replace(day=1)


# -- the figures -----------------------------------------------------------------------------------------


def _points_by_month(period: KpiRange) -> dict[date, dict[str, int]]:
    """Issued, redeemed and expired points per month, from the transactions' member-side points."""
    tz = timezone.get_current_timezone()
    rows = (
        LedgerTransaction.objects.filter(occurred_at__gte=period.since, occurred_at__lt=period.until)
        .exclude(kind=TransactionKind.RELEASE)
        .annotate(month=TruncMonth("occurred_at", tzinfo=tz))
        .values("month", "kind")
        .annotate(plus=Sum("points", filter=Q(points__gt=0)), minus=Sum("points", filter=Q(points__lt=0)))
        .order_by()
    )
    months = {month: {"issued": 0, "redeemed": 0, "expired": 0} for month in period.months()}
    for row in rows:
        figures = months.setdefault(_month(row["month"]), {"issued": 0, "redeemed": 0, "expired": 0})
        plus, minus = row["plus"] or 0, -(row["minus"] or 0)
        kind = row["kind"]
        if kind in (TransactionKind.EARN, TransactionKind.BONUS, TransactionKind.ADJUST):
            figures["issued"] += plus
        elif kind == TransactionKind.REDEEM:
            figures["redeemed"] += minus - plus
        elif kind == TransactionKind.CANCEL_REDEMPTION:
            figures["redeemed"] -= plus
        elif kind == TransactionKind.EXPIRE:
            figures["expired"] += minus
    return dict(sorted(months.items()))


def _new_members_by_month(period: KpiRange) -> dict[date, int]:
    tz = timezone.get_current_timezone()
    rows = (
        Member.objects.filter(joined_at__gte=period.since, joined_at__lt=period.until)
        .annotate(month=TruncMonth("joined_at", tzinfo=tz))
        .values("month")
        .annotate(count=Count("id"))
        .order_by()
    )
    months = dict.fromkeys(period.months(), 0)
    for row in rows:
        month = _month(row["month"])
        months[month] = months.get(month, 0) + row["count"]
    return dict(sorted(months.items()))


def _purchases(period: KpiRange) -> dict[str, Any]:
    """Buyers, repeat buyers, orders and their net amount in the range: one pass over the range's purchases."""
    per_member = (
        Purchase.objects.filter(occurred_at__gte=period.since, occurred_at__lt=period.until)
        .values("member_id")
        .annotate(orders=Count("id"), amount=Sum(F("total") - F("refunded_total")))
        .order_by()
    )
    sql, params = per_member.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN s.orders >= 2 THEN 1 ELSE 0 END), 0), "  # noqa: S608
            f"COALESCE(SUM(s.orders), 0), COALESCE(SUM(s.amount), 0) FROM ({sql}) s",
            params,
        )
        buyers, repeat, orders, amount = cursor.fetchone()
    return {"buyers": buyers, "repeat_buyers": repeat, "orders": orders, "amount": Decimal(str(amount))}


def _figures(period: KpiRange) -> dict[str, Any]:
    program = program_get()
    points = _points_by_month(period)
    issued = sum(month["issued"] for month in points.values())
    redeemed = sum(month["redeemed"] for month in points.values())
    expired = sum(month["expired"] for month in points.values())
    new_members = _new_members_by_month(period)
    joined = Member.objects.filter(joined_at__gte=period.since, joined_at__lt=period.until)
    activated = joined.filter(Exists(Purchase.objects.filter(member=OuterRef("pk"), occurred_at__lt=period.until)))
    active_since = period.until - timedelta(days=ACTIVE_DAYS)
    active = (
        Purchase.objects.filter(occurred_at__gte=active_since, occurred_at__lt=period.until)
        .values("member_id").distinct().count()
    )
    balances = dict(
        LedgerAccount.objects.filter(member__isnull=False).values("kind").annotate(total=Sum("balance"))
        .values_list("kind", "total").order_by()
    )
    available, pending = balances.get(AccountKind.AVAILABLE) or 0, balances.get(AccountKind.PENDING) or 0
    purchases = _purchases(period)
    joined_count = sum(new_members.values())
    aov = (purchases["amount"] / purchases["orders"]).quantize(Decimal("0.01"), ROUND_HALF_UP) \
        if purchases["orders"] else None
    return {
        "members_total": Member.objects.filter(joined_at__lt=period.until).count(),
        "members_new": joined_count,
        "members_active": active,
        "activation_rate": _ratio(activated.count(), joined_count),
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
        "members_by_month": list(new_members.items()),
    }


def _tier_rows(period: KpiRange) -> list[tuple[Any, ...]]:
    rows = list(
        Member.objects.exclude(status=MemberStatus.CLOSED).values("tier__name", "tier__rank")
        .annotate(count=Count("id")).order_by(F("tier__rank").desc(nulls_last=True))
    )
    total = sum(row["count"] for row in rows)
    return [(row["tier__name"] or str(_("No tier")), row["count"], _ratio(row["count"], total)) for row in rows]


kpi_table_register(KpiTable(
    key="tiers", title=_("Tier distribution"), columns=(_("Tier"), _("Members"), _("Share (%)")),
    rows=_tier_rows, description=_("Members who are not closed, by their tier now."), order=40,
))


# -- the dashboard ---------------------------------------------------------------------------------------


def kpis_get(*, period: KpiRange, fresh: bool = False) -> dict[str, Any]:
    """Every figure and table of the dashboard for `period`, cached for a minute (`fresh`: recompute)."""
    key = f"loyalty:kpi:v{CACHE_VERSION}:{period.start.isoformat()}:{period.end.isoformat()}"
    if not fresh and (cached := cache.get(key)) is not None:
        return cached
    result = _figures(period)
    result["tables"] = {table.key: table.rows(period) for table in kpi_tables()}
    result["computed_at"] = timezone.now()
    cache.set(key, result, CACHE_SECONDS)
    return result
