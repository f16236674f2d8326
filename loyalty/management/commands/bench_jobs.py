"""Benchmark the expiry and tier jobs on generated data: `manage.py bench_jobs --members N --lots M`.

Needs a THROWAWAY database (ledger entries are append-only, so the data cannot be removed again):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench python manage.py bench_jobs \\
        --members 100000 --lots 1000000

1. Builds a consistent ledger with COPY (PostgreSQL) or executemany (SQLite; loyalty.benchdata.LedgerBuilder):
   members, their accounts, one `earn` transaction per lot with balanced entries, released lots and cached
   balances. The lots
   were earned in 1999 and expired by the bench's as_of (2000-01-01), so real lots never match.
2. Times the plain SQL bound: the bare set-based statements for all members in one transaction (no
   batches, locks or checks, no JIT): the expire transactions, their entries, the lots (expired +=
   remaining, remaining = 0) and the balances, with the deferred balance trigger and foreign-key checks
   forced at the end, then rolled back.
3. Times `points_expire` (the service) expiring every lot, and prints lots/s and the ratio.
4. Times `tiers_recalculate` three times: the first run moves every member into a tier (the bench's tiers
   are new: a run over every member), the second is the next night's run with nothing new (it looks only at
   what is new since), the third the same over every member (`full=True`, nothing changes).
5. Runs `ledger_verify` on the result (skip with --no-verify).
"""

from __future__ import annotations

import contextlib
import time
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from loyalty.benchdata import MARKER, Clock, LedgerBuilder, ledger_analyze, next_id
from loyalty.models import LedgerTransaction, Tier
from loyalty.services import jobs, ledger_bulk
from loyalty.services.tiers import tiers_recalculate
from loyalty.services.verify import ledger_verify
from members.models import Member

AS_OF = datetime(2000, 1, 1)
TARGETS = {"expire_s": 30.0, "expire_ratio": 3.0, "tiers_s": 10.0}  # PostgreSQL, 100k members / 1M lots


class _Rollback(Exception):
    """Raised to roll back the measured plain-SQL run, leaving the data for the real one."""


class Command(BaseCommand):
    help = "Benchmark points_expire and tiers_recalculate on generated data (throwaway database only)."

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=2000)
        parser.add_argument("--lots", type=int, default=20000)
        parser.add_argument("--batch-size", type=int, default=jobs.EXPIRE_BATCH_SIZE)
        parser.add_argument("--force", action="store_true",
                            help="Run even though the database holds members the bench did not create.")
        parser.add_argument("--no-verify", action="store_true", help="Skip ledger_verify at the end.")

    def handle(self, *args, members: int, lots: int, batch_size: int, force: bool, no_verify: bool, **options):
        if members < 1 or lots < members or batch_size < 1:
            raise CommandError("need --members >= 1, --lots >= --members and --batch-size >= 1")
        if Member.objects.exclude(email__endswith=MARKER).exists() and not force:
            raise CommandError(
                "This database holds real members. bench_jobs writes a million rows that can never be "
                "deleted (the ledger is append-only): point DATABASE_URL at a throwaway database, or pass "
                "--force if this one is throwaway."
            )
        as_of = timezone.make_aware(AS_OF)
        vendor = f"{connection.vendor} {connection.Database.__name__}"  # type: ignore[attr-defined]  # not in the stubs
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version")
                vendor = f"PostgreSQL {cursor.fetchone()[0]}"
        self.stdout.write(f"bench_jobs: {members} members, {lots} lots on {vendor}")

        started = time.perf_counter()
        LedgerBuilder().build(members, lots)
        built = lots
        ledger_analyze()
        self.stdout.write(f"build: {time.perf_counter() - started:.1f} s ({built} lots to expire)")

        with Clock() as clock:
            plain = self._plain_sql(as_of)
        self.stdout.write(
            f"expire, plain SQL (all members, one transaction, rolled back): {clock} = "
            f"{built / plain['total']:,.0f} lots/s  [balance trigger {plain['trigger']:.2f} s]"
        )
        for name, seconds in plain["steps"]:
            self.stdout.write(f"    {seconds:7.2f} s  {name}")
        ledger_analyze()

        with Clock() as clock:
            result = jobs.points_expire(as_of=as_of, batch_size=batch_size)
        service = clock.wall
        ratio = service / plain["total"]
        self.stdout.write(
            f"expire, points_expire (batch {batch_size}): {clock} = {result['lots'] / service:,.0f} lots/s, "
            f"{ratio:.2f}x the plain SQL bound ({result['members']} members, {result['points']} points, "
            f"{result['batches']} batches)"
        )
        if result["lots"] != built:
            raise CommandError(f"expected {built} lots to expire, points_expire expired {result['lots']}")

        self._tiers_ensure()
        with Clock() as first_clock:
            first = tiers_recalculate(as_of=as_of)
        with Clock() as second_clock:
            second = tiers_recalculate(as_of=as_of)
        with Clock() as full_clock:
            over_every_member = tiers_recalculate(as_of=as_of, full=True)
        tiers_first = first_clock.wall
        self.stdout.write(
            f"tiers_recalculate: {first_clock} = {first['members'] / tiers_first:,.0f} members/s {first}; "
            f"second run (nothing new) {second_clock} {second}; the same --full (every member) {full_clock} "
            f"{over_every_member}"
        )

        if not no_verify:
            started = time.perf_counter()
            problems = ledger_verify()
            self.stdout.write(f"ledger_verify: {len(problems)} problem(s) in {time.perf_counter() - started:.1f} s")
            for problem in problems:
                self.stderr.write(f"BROKEN {problem}")
            if problems:
                raise CommandError("the ledger is broken after the bench")

        if connection.vendor == "postgresql" and members >= 100_000 and lots >= 1_000_000:
            verdicts = [
                ("expire < 30 s", service < TARGETS["expire_s"]),
                ("expire within 3x of plain SQL", ratio <= TARGETS["expire_ratio"]),
                ("tiers < 10 s", tiers_first < TARGETS["tiers_s"]),
            ]
            self.stdout.write("targets: " + ", ".join(f"{name}: {'PASS' if ok else 'FAIL'}" for name, ok in verdicts))

    # -- data ---------------------------------------------------------------------------------------

    def _tiers_ensure(self) -> None:
        if Tier.objects.exists():
            return
        for rank, (code, threshold) in enumerate((("bronze", 0), ("silver", 800), ("gold", 1500)), start=1):
            Tier.objects.create(code=f"bench-{code}", name=f"Bench {code.title()}", rank=rank, threshold=threshold)

    # -- the plain SQL bound ------------------------------------------------------------------------

    def _plain_sql(self, as_of: datetime) -> dict:
        """The same set-based work as points_expire in bare statements, timed, then rolled back."""
        when, now = ledger_bulk._when(as_of), ledger_bulk._when(timezone.now())
        expired = ledger_bulk.expired_account_id()
        first_new = next_id(LedgerTransaction)
        metadata = (
            "jsonb_build_object('expired_lots', s.lots)" if connection.vendor == "postgresql"
            else "json_object('expired_lots', s.lots)"
        )
        insert_transactions = (
            "INSERT INTO loyalty_ledgertransaction"  # noqa: S608 - `metadata` is a constant fragment
            " (kind, member_id, reason, reference, job, occurred_at, created_at,"
            " idempotency_key, points, balance_after, metadata)"
            " SELECT 'expire', s.member_id, 'Points expired', '', 'bench_plain', %s, %s,"
            " 'plain:' || CAST(s.member_id AS VARCHAR(20)), -s.points, a.balance - s.points + p.balance, "
            + metadata
            + " FROM (SELECT l.member_id, SUM(l.remaining) AS points, COUNT(*) AS lots FROM loyalty_pointlot l"
            "       WHERE l.released_at IS NOT NULL AND l.expires_at <= %s AND l.remaining > 0"
            "       GROUP BY l.member_id) s"
            " JOIN loyalty_ledgeraccount a ON a.member_id = s.member_id AND a.kind = 'available'"
            " JOIN loyalty_ledgeraccount p ON p.member_id = s.member_id AND p.kind = 'pending'"
        )
        statements = [
            ("INSERT transactions", insert_transactions, [when, now, when]),
            ("INSERT entries", "INSERT INTO loyalty_ledgerentry (transaction_id, account_id, points)"
             " SELECT t.id, a.id, t.points FROM loyalty_ledgertransaction t"
             " JOIN loyalty_ledgeraccount a ON a.member_id = t.member_id AND a.kind = 'available' WHERE t.id >= %s"
             " UNION ALL SELECT t.id, %s, -t.points FROM loyalty_ledgertransaction t WHERE t.id >= %s",
             [first_new, expired, first_new]),
            ("UPDATE lots", "UPDATE loyalty_pointlot SET expired = expired + remaining, remaining = 0"
             " WHERE released_at IS NOT NULL AND expires_at <= %s AND remaining > 0", [when]),
            ("UPDATE member balances", "UPDATE loyalty_ledgeraccount SET balance = balance + t.points"
             " FROM loyalty_ledgertransaction t WHERE loyalty_ledgeraccount.kind = 'available'"
             " AND loyalty_ledgeraccount.member_id = t.member_id AND t.id >= %s", [first_new]),
            ("UPDATE system balance", "UPDATE loyalty_ledgeraccount SET balance = balance - (SELECT SUM(points)"
             " FROM loyalty_ledgertransaction WHERE id >= %s) WHERE id = %s", [first_new, expired]),
        ]
        steps: list[tuple[str, float]] = []
        trigger = 0.0
        # The plain-SQL run is measured, then undone by raising _Rollback.
        with contextlib.suppress(_Rollback), transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # A bound, so at its best: each statement here covers every lot, and compiling them (JIT)
                # costs seconds; the service's per-batch statements stay below the JIT threshold anyway.
                cursor.execute("SET LOCAL jit = off")
            for name, sql, params in statements:
                started = time.perf_counter()
                cursor.execute(sql, params)
                steps.append((f"{name} ({cursor.rowcount} rows)", time.perf_counter() - started))
            if connection.vendor == "postgresql":  # what the commit would check
                started = time.perf_counter()
                cursor.execute("SET CONSTRAINTS loyalty_ledgerentry_balanced IMMEDIATE")
                trigger = time.perf_counter() - started
                steps.append(("deferred balance trigger (at commit)", trigger))
                cursor.execute(
                    "SELECT c.conname, c.conrelid::regclass::text, a.attname FROM pg_constraint c"
                    " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
                    " WHERE c.contype = 'f' AND c.condeferred AND c.conrelid::regclass::text IN"
                    " ('loyalty_ledgertransaction', 'loyalty_ledgerentry', 'loyalty_lotallocation') ORDER BY 2, 3"
                )
                for constraint, table, column in cursor.fetchall():
                    started = time.perf_counter()
                    cursor.execute(f'SET CONSTRAINTS "{constraint}" IMMEDIATE')
                    steps.append((f"deferred foreign key check {table}.{column} (at commit)",
                                  time.perf_counter() - started))
                started = time.perf_counter()
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                steps.append(("other deferred checks (at commit)", time.perf_counter() - started))
            raise _Rollback
        total = sum(seconds for _name, seconds in steps)
        return {"total": total, "statements": total - trigger, "trigger": trigger, "steps": steps}
