"""The KPI dashboard's rollups: the job that adds new ledger transactions, members and purchases into sums per
day (loyalty.models.kpi), and the pieces the dashboard (loyalty.kpi) uses to read them plus what is not rolled
up yet, so that a cold dashboard reads days, not every row of its range.

What the job reads is tracked by id, not by date: each run reads the rows of each source table with an id above
the last one it read (the primary key's index), whatever their date. A back-dated posting (an import's opening
balance, a purchase sent late) gets a new id, so the next run adds it to its own, earlier day; the dashboard
adds the rows not read yet to the rolled-up days itself, so it is exact between runs too.

Ids are handed out when a row is inserted, not when it commits: a transaction still in progress may hold an id
below the highest one the job sees. Such ids are kept as gaps and read (by the job and the dashboard) once they
appear; a gap is dropped, as an id that was rolled back, only when it is ten minutes old and, on PostgreSQL, every
transaction that was running when it was found has ended. On SQLite writers take turns, so no gap is ever
filled later.

Every run holds a lock (an advisory lock on PostgreSQL; SQLite's write lock) and reads one snapshot
(REPEATABLE READ), so two runs never add the same rows twice and a run is idempotent: run again at once, it
finds nothing new. Nothing is added to the purchase path: no trigger, no index on the tables it writes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, tzinfo
from functools import reduce
from operator import or_
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Max, Model, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from loyalty.models import KpiDay, KpiJoined, KpiRollup, LedgerTransaction, Purchase, TransactionKind
from loyalty.models.kpi import NEVER
from members.models import Member

SOURCES: dict[str, type[Model]] = {"transactions": LedgerTransaction, "members": Member, "purchases": Purchase}
GAP_KEPT = timedelta(minutes=10)  # and until the transactions running when it was found have ended
LOCK_KEY = 7_240_514  # pg_advisory_lock: one rollup run at a time


def points_classify(kind: str, plus: int, minus: int) -> tuple[int, int, int]:
    """(issued, redeemed, expired) of `kind`'s transactions with `plus` points added and `minus` taken from
    members (both >= 0): the dashboard's definitions."""
    if kind in (TransactionKind.EARN, TransactionKind.BONUS, TransactionKind.ADJUST):
        return plus, 0, 0
    if kind == TransactionKind.REDEEM:
        return 0, minus - plus, 0
    if kind == TransactionKind.CANCEL_REDEMPTION:
        return 0, -plus, 0
    if kind == TransactionKind.EXPIRE:
        return 0, 0, minus
    return 0, 0, 0


def unread_q(state: KpiRollup | None, source: str) -> Q:
    """The rows of `source` the job has not read: ids above the last one read, and the gaps."""
    if state is None:
        return Q(pk__gt=0)
    ranges = [Q(pk__range=(first, last)) for first, last, *_rest in state.gaps.get(source, [])]
    return reduce(or_, ranges, Q(pk__gt=state.read_up_to.get(source, 0)))


def points_per_day(transactions: QuerySet, tz: tzinfo) -> dict[date, list[int]]:
    """[issued, redeemed, expired] per local day of `transactions`."""
    rows = (
        transactions.annotate(day=TruncDate("occurred_at", tzinfo=tz))
        .values("day", "kind")
        .annotate(plus=Sum("points", filter=Q(points__gt=0)), minus=Sum("points", filter=Q(points__lt=0)))
        .order_by()
    )
    days: dict[date, list[int]] = {}
    for row in rows:
        figures = points_classify(row["kind"], row["plus"] or 0, -(row["minus"] or 0))
        day = days.setdefault(row["day"], [0, 0, 0])
        for index, value in enumerate(figures):
            day[index] += value
    return days


def _first_purchase(*, exclude: Q | None = None) -> Subquery:
    purchases = Purchase.objects.filter(member=OuterRef("pk"))
    if exclude is not None:
        purchases = purchases.exclude(exclude)
    return Subquery(purchases.order_by("occurred_at").values("occurred_at")[:1])


def joined_changes(members: Q, purchases: Q, tz: tzinfo) -> Counter[tuple[date, date]]:
    """What the members and purchases matching `members` / `purchases` (those not rolled up) change in the
    (day joined, day of first purchase) counts: new members are added with their first purchase, members
    already counted whose first purchase is now earlier (or who had none) move. Reads the new rows and, per
    member, their first purchase from the purchases' member index."""
    changes: Counter[tuple[date, date]] = Counter()
    new = (
        Member.objects.filter(members)
        .annotate(first=_first_purchase())
        .values(joined_on=TruncDate("joined_at", tzinfo=tz), first_on=TruncDate("first", tzinfo=tz))
        .annotate(count=Count("id"))
        .order_by()
    )
    for row in new:
        changes[(row["joined_on"], row["first_on"] or NEVER)] += row["count"]
    buyers = Purchase.objects.filter(purchases).values("member_id")
    moved = (
        Member.objects.filter(pk__in=buyers)
        .exclude(members)
        .annotate(before=_first_purchase(exclude=purchases), first=_first_purchase())
        .values(joined_on=TruncDate("joined_at", tzinfo=tz), before_on=TruncDate("before", tzinfo=tz),
                first_on=TruncDate("first", tzinfo=tz))
        .annotate(count=Count("id"))
        .order_by()
    )
    for row in moved:
        before, first = row["before_on"] or NEVER, row["first_on"] or NEVER
        if before != first:
            changes[(row["joined_on"], before)] -= row["count"]
            changes[(row["joined_on"], first)] += row["count"]
    return changes


def kpi_rollup_get() -> KpiRollup | None:
    """The job's progress, if it has run for the site's time zone (otherwise the dashboard reads the rows)."""
    state = KpiRollup.objects.filter(pk=1).first()
    if state is None or state.version == 0 or state.time_zone != timezone.get_current_timezone_name():
        return None
    return state


# -- the job ---------------------------------------------------------------------------------------------


@contextmanager
def _job_lock() -> Iterator[None]:
    if connection.vendor != "postgresql":
        yield  # SQLite: the write lock taken at BEGIN (IMMEDIATE) serializes the runs
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


def _snapshot_bounds() -> tuple[int | None, int | None]:
    """PostgreSQL: (xmin, xmax) of the current snapshot: every transaction below xmin has ended, none from xmax
    on had started."""
    if connection.vendor != "postgresql":
        return None, None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint, "
                       "pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
        xmin, xmax = cursor.fetchone()
    return xmin, xmax


def _advance(state: KpiRollup, source: str, model: type[Model], now: datetime, xmax: int | None,
             xmin: int | None) -> int:
    """Move `source`'s mark past the rows just read; record the ids not seen as gaps, forget the gaps now read
    and those that were rolled back. Returns the rows read."""
    manager = model._default_manager
    up_to = state.read_up_to.get(source, 0)
    gaps: list[list[Any]] = [list(gap) for gap in state.gaps.get(source, [])]
    read = 0
    if gaps:
        present = sorted(manager.filter(reduce(or_, [Q(pk__range=(gap[0], gap[1])) for gap in gaps]))
                         .values_list("pk", flat=True))
        read += len(present)
        split = []
        for first, last, found, found_xmax in gaps:
            start = first
            for pk in (pk for pk in present if first <= pk <= last):
                if pk > start:
                    split.append([start, pk - 1, found, found_xmax])
                start = pk + 1
            if start <= last:
                split.append([start, last, found, found_xmax])
        gaps = split
    newest = manager.filter(pk__gt=up_to).aggregate(newest=Max("pk"))["newest"]
    if newest is not None:
        rows = manager.filter(pk__gt=up_to, pk__lte=newest)
        count = rows.count()
        read += count
        if count < newest - up_to:
            previous = up_to
            for pk in rows.order_by("pk").values_list("pk", flat=True).iterator():
                if pk > previous + 1:
                    gaps.append([previous + 1, pk - 1, now.isoformat(), xmax])
                previous = pk
        state.read_up_to[source] = newest
    state.gaps[source] = [
        gap for gap in gaps
        if datetime.fromisoformat(gap[2]) > now - GAP_KEPT or (xmin is not None and gap[3] is not None
                                                                and xmin <= gap[3])
    ]
    return read


def _days_add(days: dict[date, list[int]]) -> None:
    existing = set(KpiDay.objects.filter(day__in=list(days)).values_list("day", flat=True))
    KpiDay.objects.bulk_create([KpiDay(day=day, points_issued=issued, points_redeemed=redeemed,
                                       points_expired=expired)
                                for day, (issued, redeemed, expired) in days.items() if day not in existing])
    for day in existing:
        issued, redeemed, expired = days[day]
        KpiDay.objects.filter(day=day).update(points_issued=F("points_issued") + issued,
                                              points_redeemed=F("points_redeemed") + redeemed,
                                              points_expired=F("points_expired") + expired)


def _joined_add(changes: Counter[tuple[date, date]]) -> None:
    for (joined_on, first_on), count in changes.items():
        if not count:
            continue
        updated = KpiJoined.objects.filter(joined_on=joined_on, first_purchase_on=first_on).update(
            members=F("members") + count)
        if not updated:
            KpiJoined.objects.create(joined_on=joined_on, first_purchase_on=first_on, members=count)
    KpiJoined.objects.filter(members=0).delete()


def kpi_rollup_run(*, as_of: datetime | None = None, rebuild: bool = False, dry_run: bool = False,
                   progress: Any = None) -> dict[str, int]:
    """Add the ledger transactions, members and purchases not read yet into the day sums (`rebuild`: start
    again from nothing; also when the site's time zone changed; `dry_run`: count, change nothing). `as_of`
    only dates the run (and the gaps it finds). Returns the rows read per source."""
    now = as_of or timezone.now()
    tz = timezone.get_current_timezone()
    outermost = not connection.in_atomic_block
    with _job_lock(), transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # one snapshot for every source (before any other statement)
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        state = KpiRollup.objects.select_for_update().filter(pk=1).first()
        if state is None:
            state = KpiRollup.objects.create(pk=1, time_zone=timezone.get_current_timezone_name())
        if rebuild or state.time_zone != timezone.get_current_timezone_name():
            KpiDay.objects.all().delete()
            KpiJoined.objects.all().delete()
            state.time_zone, state.read_up_to, state.gaps = timezone.get_current_timezone_name(), {}, {}
        unread = {source: unread_q(state, source) for source in SOURCES}
        _days_add(points_per_day(LedgerTransaction.objects.filter(unread["transactions"]), tz))
        _joined_add(joined_changes(unread["members"], unread["purchases"], tz))
        xmin, xmax = _snapshot_bounds()
        read = {source: _advance(state, source, model, now, xmax, xmin) for source, model in SOURCES.items()}
        state.version += 1
        state.rolled_up_at = now
        state.save()
        if dry_run:
            transaction.set_rollback(True)
    return read
