"""Bulk data for the benchmark commands (bench_jobs, bench_kpi, bench_leaderboard, bench_scale): rows written
with COPY on PostgreSQL (executemany on SQLite), a consistent ledger without going through the services, and
the clock the benchmarks print.

`LedgerBuilder.build` writes members, their two ledger accounts, one `earn` transaction per lot with its two
balanced entries, released lots and the cached balances (member available, system `issued`). When the lots
were earned, when they expire and what else a member row holds are hooks (`earned`, `expires`,
`member_fields`): bench_jobs' lots were earned in 1999 and have all expired by 2000-01-01; with `until`
they are spread over the `spread` before it (the leaderboards and bench_scale).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from django.core.management.color import no_style
from django.db import connection, transaction
from django.utils import timezone

from loyalty.models import AccountKind, LedgerAccount, LedgerEntry, LedgerTransaction, PointLot
from loyalty.services.ledger import _system_account_ids
from members.models import Member

MARKER = "@bench.invalid"  # every member LedgerBuilder generates has an email ending with this
EARNED_FROM = datetime(1999, 1, 1)
VALID_DAYS = 30
_MEMBER_CHUNK = 10_000  # members created per bulk_create: a million Member instances at once need gigabytes


class Clock:
    """Wall time plus CPU time of this process and of the PostgreSQL backend serving it.

    The host running the bench may be shared: CPU seconds show what the work costs without the wait
    for a core. The backend's CPU is read from /proc when PostgreSQL runs on the same host.
    """

    def __init__(self) -> None:
        self.backend_pid = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.backend_pid = cursor.fetchone()[0]

    def _backend_cpu(self) -> float | None:
        try:
            with open(f"/proc/{self.backend_pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError, TypeError):
            return None

    def __enter__(self) -> Clock:
        self.wall, self.cpu, self.db_cpu = time.perf_counter(), time.process_time(), self._backend_cpu()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
        end = self._backend_cpu()
        self.db_cpu = end - self.db_cpu if end is not None and self.db_cpu is not None else None

    def __str__(self) -> str:
        db = f"postgres {self.db_cpu:.1f} s + " if self.db_cpu is not None else ""
        return f"{self.wall:.2f} s (CPU: {db}python {self.cpu:.1f} s)"


def db_time(value: datetime):
    """A datetime as a COPY row (PostgreSQL) or an executemany parameter (SQLite: naive UTC text) takes it."""
    return value if connection.vendor == "postgresql" else connection.ops.adapt_datetimefield_value(value)


def next_id(model) -> int:
    last = model.objects.order_by("-pk").values_list("pk", flat=True).first()
    return (last or 0) + 1


def rows_write(table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
    """COPY `rows` into `table` (PostgreSQL), or INSERT them 50,000 at a time (SQLite)."""
    names = ", ".join(columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
        chunk: list[tuple] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == 50_000:
                cursor.executemany(sql, chunk)
                chunk = []
        if chunk:
            cursor.executemany(sql, chunk)


def tables_analyze(*tables: str) -> None:
    """Fresh planner statistics (and, outside a transaction, a visibility map) after a bulk load."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute("ANALYZE")
        elif not connection.in_atomic_block:
            cursor.execute(f"VACUUM ANALYZE {', '.join(tables)}")
        else:  # a test's transaction: VACUUM cannot run there
            cursor.execute(f"ANALYZE {', '.join(tables)}")


def ledger_analyze() -> None:
    tables_analyze("loyalty_pointlot", "loyalty_ledgertransaction", "loyalty_ledgerentry", "loyalty_ledgeraccount",
                   "loyalty_lotallocation", "members_member")


def triggers_off() -> None:
    """Inside the build's transaction: skip the per-row balance trigger and the foreign-key triggers while
    loading rows that are balanced by construction (ledger_verify checks them). Session-local, superuser
    only; `triggers_on` before the commit."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            cursor.execute("SET LOCAL session_replication_role = replica")


def triggers_on() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = origin")


class LedgerBuilder:
    """Members and a consistent ledger: one `earn` transaction, two entries and one released lot per lot.

    Lot g's points are 1..200 (deterministic). Without `until` the lots were earned over the first 300 days
    of 1999 and expire `valid_days` later; with `until`, spread evenly over the `spread` before it (the last a
    minute before), in an order that mixes members, `count` being the number of lots to spread.
    """

    def __init__(self, *, until: datetime | None = None, count: int = 1, spread: timedelta = timedelta(weeks=8),
                 valid_days: int = VALID_DAYS) -> None:
        self.until, self.count, self.spread, self.valid_days = until, max(count, 1), spread, valid_days

    def earned(self, g: int) -> datetime:
        if self.until is None:
            return timezone.make_aware(EARNED_FROM) + timedelta(minutes=(g * 37) % (300 * 24 * 60))
        step = (self.spread - timedelta(minutes=1)) / self.count
        return self.until - self.spread + step * ((g * 7919) % self.count)

    def expires(self, g: int) -> datetime:
        return self.earned(g) + timedelta(days=self.valid_days)

    def member_fields(self, number: int, total: int) -> dict:
        """Extra fields of the generated member `number` (counted over every build), whose lots hold
        `total` points."""
        return {}

    def build(self, member_count: int, lot_count: int) -> list[int]:
        """Members with `lot_count` lots between them (as even as can be); returns the new members' ids."""
        issued = _system_account_ids([AccountKind.ISSUED])[0]
        _system_account_ids([AccountKind.EXPIRED])
        offset = Member.objects.filter(email__endswith=MARKER).count()
        per_member = [lot_count // member_count + (1 if k < lot_count % member_count else 0)
                      for k in range(member_count)]
        points = [1 + (g * 7919) % 200 for g in range(lot_count)]  # 1..200, deterministic

        totals, g = [], 0
        for count in per_member:
            totals.append(sum(points[g:g + count]))
            g += count
        joined = self.earned(0) if self.until is None else self.until - self.spread - timedelta(days=1)
        with transaction.atomic():
            triggers_off()
            member_ids: list[int] = []
            for start in range(0, member_count, _MEMBER_CHUNK):
                member_ids += [member.pk for member in Member.objects.bulk_create(
                    [
                        Member(
                            email=f"bench{offset + k}{MARKER}", loyalty_id=f"99{offset + k:014d}",
                            referral_code=f"BN{offset + k:010d}", joined_at=joined, lifetime_earned=totals[k],
                            **self.member_fields(offset + k, totals[k]),
                        )
                        for k in range(start, min(start + _MEMBER_CHUNK, member_count))
                    ],
                    batch_size=5000,
                )]
            account0, txn0, entry0, lot0 = (next_id(model) for model in
                                            (LedgerAccount, LedgerTransaction, LedgerEntry, PointLot))
            rows_write(
                "loyalty_ledgeraccount", ("id", "member_id", "kind", "balance"),
                (row for k, member_id in enumerate(member_ids) for row in (
                    (account0 + 2 * k, member_id, AccountKind.AVAILABLE, totals[k]),
                    (account0 + 2 * k + 1, member_id, AccountKind.PENDING, 0),
                )),
            )
            rows_write(
                "loyalty_ledgertransaction",
                ("id", "kind", "member_id", "reason", "reference", "job", "occurred_at", "created_at",
                 "idempotency_key", "points", "balance_after", "metadata"),
                self._transactions(member_ids, per_member, points, txn0),
            )
            rows_write(
                "loyalty_ledgerentry", ("id", "transaction_id", "account_id", "points"),
                (row for k, count, start in self._members(per_member) for g in range(start, start + count)
                 for row in ((entry0 + 2 * g, txn0 + g, account0 + 2 * k, points[g]),
                             (entry0 + 2 * g + 1, txn0 + g, issued, -points[g]))),
            )
            rows_write(
                "loyalty_pointlot",
                ("id", "member_id", "transaction_id", "points", "remaining", "earned_at", "available_at",
                 "released_at", "expires_at"),
                (
                    (lot0 + g, member_ids[k], txn0 + g, points[g], points[g], when, when, when,
                     db_time(self.expires(g)))
                    for k, count, start in self._members(per_member) for g in range(start, start + count)
                    for when in (db_time(self.earned(g)),)
                ),
            )
            LedgerAccount.objects.filter(pk=issued).update(balance=LedgerAccount.objects.get(pk=issued).balance
                                                          - sum(points))
            with connection.cursor() as cursor:
                for statement in connection.ops.sequence_reset_sql(
                    no_style(), [LedgerAccount, LedgerTransaction, LedgerEntry, PointLot]
                ):
                    cursor.execute(statement)
            triggers_on()
        return member_ids

    @staticmethod
    def _members(per_member: list[int]) -> Iterator[tuple[int, int, int]]:
        start = 0
        for k, count in enumerate(per_member):
            yield k, count, start
            start += count

    def _transactions(self, member_ids, per_member, points, txn0) -> Iterator[tuple]:
        now = db_time(timezone.now())
        metadata = "{}"
        for k, count, start in self._members(per_member):
            balance = 0
            for g in range(start, start + count):
                balance += points[g]
                yield (txn0 + g, "earn", member_ids[k], "Bench earn", "", "bench_jobs", db_time(self.earned(g)),
                       now, f"bench:{member_ids[k]}:{g}", points[g], balance, metadata)
