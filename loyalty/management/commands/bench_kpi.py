"""Benchmark the KPI dashboard on generated data: `manage.py bench_kpi --members N --entries M`.

Needs a THROWAWAY database (ledger entries are append-only, so the data cannot be removed again):
    createdb -h 127.0.0.1 -U postgres kpi_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kpi_bench python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kpi_bench python manage.py bench_kpi \\
        --members 100000 --entries 1000000

1. Builds a consistent ledger with COPY (PostgreSQL) or executemany (SQLite), spread over the last two years:
   members, their accounts, purchases each with an `earn` transaction and its lot, redemptions (with their
   rewards' Redemption rows, when the rewards app is installed) taking points FIFO from the lots, and
   expiries of what was left in a member's oldest lot; cached balances, lifetime points and the system
   accounts match the entries (`ledger_verify` checks it with --verify). With the campaigns app: challenge
   progress (five milestones, each started by a third of the members) and referrals (one member in ten), for
   the challenge completion and referral conversion tables.
2. Rolls up the data (`roll_up_kpis`, loyalty.kpi_rollup; timed), then adds `--unread` purchases with their
   `earn` postings and new members that the rollups have not read yet, as between two runs of the job.
3. Times the dashboard (/admin/kpi/, the default range: the last twelve months) through Django's test
   client as a superuser: cold (the figures' cache emptied first) and warm (the cached figures), several
   runs each, and prints the slowest queries of a cold run. Then the figures alone (loyalty.kpi._figures),
   from the rollups and from the rows, and their ratio.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import datetime, timedelta
from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.db import connection, transaction
from django.test import Client, override_settings
from django.utils import timezone

from loyalty.admin.kpi import default_range
from loyalty.benchdata import Clock, db_time, ledger_analyze, next_id, rows_write, triggers_off, triggers_on
from loyalty.celery import app as celery_app
from loyalty.kpi import _figures
from loyalty.kpi_rollup import kpi_rollup_run
from loyalty.models import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    LotAllocation,
    PointLot,
    Purchase,
    Store,
    Tier,
)
from loyalty.services.ledger import _system_account_ids
from loyalty.services.purchases import purchase_record
from loyalty.services.verify import ledger_verify
from members.models import Member, User
from members.services import member_create

MARKER = "@kpi-bench.invalid"
TARGET_MS = 1000.0  # PostgreSQL, 100,000 members and 1,000,000 ledger entries, cold
DAYS = 730


class Command(BaseCommand):
    help = "Benchmark the KPI dashboard on generated data (throwaway database only)."

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=2000)
        parser.add_argument("--entries", type=int, default=20000, help="Ledger entries to create (about).")
        parser.add_argument("--runs", type=int, default=5, help="Timed runs, cold and warm each.")
        parser.add_argument("--seed", type=int, default=13)
        parser.add_argument("--force", action="store_true",
                            help="Run even though the database holds members the bench did not create.")
        parser.add_argument("--no-build", action="store_true", help="Time the data already loaded.")
        parser.add_argument("--verify", action="store_true", help="Run ledger_verify on the data.")
        parser.add_argument("--unread", type=int, default=1000,
                            help="Purchases and members added after the rollup job's last run (read live).")
        parser.add_argument("--no-parallel", action="store_true",
                            help="PostgreSQL: no parallel workers, so that the CPU shown is all the work done.")

    def handle(self, *args, members: int, entries: int, runs: int, seed: int, force: bool, no_build: bool,
               verify: bool, no_parallel: bool, unread: int, **options):
        if members < 1 or entries < 2 * members or runs < 1:
            raise CommandError("need --members >= 1, --entries >= 2 x --members and --runs >= 1")
        if Member.objects.exclude(email__endswith=MARKER).exists() and not force:
            raise CommandError(
                "This database holds real members. bench_kpi writes rows that can never be deleted (the ledger "
                "is append-only): point DATABASE_URL at a throwaway database, or pass --force."
            )
        vendor = connection.vendor
        if vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version")
                vendor = f"PostgreSQL {cursor.fetchone()[0]}"
        if not no_build:
            started = time.perf_counter()
            built = self._build(members, entries, random.Random(seed))
            ledger_analyze()
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    cursor.execute("VACUUM ANALYZE loyalty_purchase")
                    if apps.is_installed("rewards"):
                        cursor.execute("VACUUM ANALYZE rewards_redemption")
                    if apps.is_installed("campaigns"):
                        cursor.execute("VACUUM ANALYZE campaigns_challengeprogress, campaigns_referral")
            self.stdout.write(f"build: {time.perf_counter() - started:.1f} s ({built})")
        counts = (Member.objects.count(), LedgerEntry.objects.count(), LedgerTransaction.objects.count(),
                  Purchase.objects.count())
        self.stdout.write(
            f"bench_kpi on {vendor}: {counts[0]:,} members, {counts[1]:,} ledger entries, {counts[2]:,} transactions, "
            f"{counts[3]:,} purchases"
        )
        if verify:
            problems = ledger_verify()
            self.stdout.write(f"ledger_verify: {len(problems)} problem(s)")
            if problems:
                raise CommandError(f"the generated ledger is inconsistent: {problems[:5]}")
        with Clock() as clock:
            read = kpi_rollup_run()
        self.stdout.write(f"roll_up_kpis: {clock} {read}")
        if unread:  # no emails (welcome, tier upgrade) and no queued tasks: not what is measured
            eager, celery_app.conf.task_always_eager = celery_app.conf.task_always_eager, True
            with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
                self._unread(unread, random.Random(seed + 1))
            celery_app.conf.task_always_eager = eager
        if no_parallel and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET max_parallel_workers_per_gather = 0")
        # The bench's superuser has no authenticator app, and static files need no collectstatic here: neither
        # is what is measured.
        storages = {**settings.STORAGES,
                    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
        with override_settings(ADMIN_MFA_REQUIRED=False, STORAGES=storages):
            self._time(runs)

    # -- timing -----------------------------------------------------------------------------------------

    def _time(self, runs: int) -> None:
        admin, _created = User.objects.get_or_create(
            email=f"bench-admin{MARKER}", defaults={"is_staff": True, "is_superuser": True}
        )
        client = Client()
        client.force_login(admin)

        cpu: dict[str, list[float]] = {"cold": [], "warm": []}

        def get(kind: str = "") -> float:
            with Clock() as clock:
                response = client.get("/admin/kpi/", secure=True)  # secure: SECURE_SSL_REDIRECT when DEBUG is off
            if response.status_code != 200:
                raise CommandError(f"/admin/kpi/ answered {response.status_code}")
            if kind:
                cpu[kind].append(((clock.db_cpu or 0) + clock.cpu) * 1000)
            return clock.wall * 1000

        queries: list[tuple[float, str]] = []

        def timed(execute, sql, params, many, context):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                queries.append(((time.perf_counter() - started) * 1000, " ".join(sql.split())[:150]))

        cache.clear()
        get()  # the first request also loads templates, translations and the URL patterns
        cold, warm = [], []
        for run in range(runs):
            cache.clear()
            if run == 0:
                with connection.execute_wrapper(timed):
                    cold.append(get("cold"))
            else:
                cold.append(get("cold"))
            warm.append(get("warm"))
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        for label, walls in (("cold (figures computed)", cold), ("warm (figures cached)  ", warm)):
            cpus = cpu[label.split()[0]]
            self.stdout.write(
                f"/admin/kpi/ {label}: wall min {min(walls):.0f} / median {statistics.median(walls):.0f} / max "
                f"{max(walls):.0f} ms; CPU (PostgreSQL backend + Python) median {statistics.median(cpus):.0f} ms"
            )
        self.stdout.write(f"({runs} runs each; load average {load:.1f} on {os.cpu_count()} cores)")
        self.stdout.write(f"queries of the first cold run ({len(queries)}, slowest first):")
        for milliseconds, sql in sorted(queries, reverse=True)[:8]:
            self.stdout.write(f"  {milliseconds:7.1f} ms  {sql}")
        if connection.vendor == "postgresql":
            verdict = "PASS" if statistics.median(cold) < TARGET_MS else "FAIL"
            self.stdout.write(f"target: cold median under {TARGET_MS:.0f} ms: {verdict}")
        period = default_range(timezone.localdate())
        figures: dict[bool, list[float]] = {True: [], False: []}
        for _run in range(runs):
            for rollups in (True, False):
                with Clock() as clock:
                    _figures(period, rollups=rollups)
                figures[rollups].append(clock.wall * 1000)
        rolled, direct = statistics.median(figures[True]), statistics.median(figures[False])
        self.stdout.write(f"figures alone (loyalty.kpi._figures, median of {runs}): from the rollups {rolled:.0f} ms, "
                          f"from the rows {direct:.0f} ms ({direct / rolled:.1f}x)")

    def _unread(self, count: int, rng: random.Random) -> None:
        """`count` purchases of bench members (through the purchase service, so with their postings) and
        `count // 10` new members: rows the rollups have not read, as between two runs of the job."""
        store = Store.objects.get(slug="kpi-bench")
        bench = list(Member.objects.filter(email__endswith=MARKER).values_list("pk", flat=True))
        offset = Member.objects.filter(email__endswith=MARKER).count()
        now = timezone.now()
        for k in range(count // 10):
            member_create(email=f"kpi{offset + k}{MARKER}", joined_at=now - timedelta(minutes=rng.randint(1, 60)))
        for k in range(count):
            member = Member.objects.get(pk=rng.choice(bench))
            purchase_record(store=store, member=member, order_id=f"unread-{now.timestamp():.0f}-{k}",
                            total=Decimal(rng.randint(5, 150)), currency="EUR",
                            occurred_at=now - timedelta(minutes=rng.randint(1, 600)))
        self.stdout.write(f"not rolled up yet: {count:,} purchases and {count // 10:,} members")

    # -- data -------------------------------------------------------------------------------------------

    def _build(self, member_count: int, entry_count: int, rng: random.Random) -> str:
        """entry_count / 2 transactions: about 80 % purchases, 12 % redemptions (tried; a member without the
        points buys instead) and 8 % expiries; members get extra purchases until the count is reached."""
        transactions = entry_count // 2
        purchase_count = max(member_count, transactions * 80 // 100)
        redemption_count = min(member_count, transactions * 12 // 100)
        expiry_count = min(member_count, transactions - purchase_count - redemption_count)
        now = timezone.now()
        start = now - timedelta(days=DAYS)
        issued, redeemed_account, expired_account = _system_account_ids(
            [AccountKind.ISSUED, AccountKind.REDEEMED, AccountKind.EXPIRED]
        )
        store, _created = Store.objects.get_or_create(slug="kpi-bench", defaults={"name": "KPI bench"})
        for rank, (code, threshold) in enumerate((("bronze", 0), ("silver", 400), ("gold", 1200)), start=1):
            Tier.objects.get_or_create(code=f"kpi-{code}", defaults={"name": code.title(), "rank": 100 + rank,
                                                                     "threshold": threshold})
        tiers = list(Tier.objects.order_by("rank").values_list("pk", flat=True))
        offset = Member.objects.filter(email__endswith=MARKER).count()

        # Who joined when, and what each member did, in time order.
        joined = sorted(start + timedelta(seconds=rng.uniform(0, DAYS * 86400 * 0.9)) for _k in range(member_count))
        buys: list[list[tuple[datetime, int]]] = [[] for _k in range(member_count)]
        for k in range(member_count):  # everyone buys once, the rest at random
            buys[k].append((joined[k] + timedelta(minutes=5), 0))
        for _p in range(purchase_count - member_count):
            k = int(member_count * rng.random() ** 1.5)  # some members buy much more often
            buys[k].append((joined[k] + timedelta(seconds=rng.uniform(600, (now - joined[k]).total_seconds())), 0))
        redeemers = set(rng.sample(range(member_count), redemption_count))
        expirers = set(rng.sample(range(member_count), expiry_count))

        reward_model = apps.get_model("rewards", "Reward") if apps.is_installed("rewards") else None
        rewards: list[tuple[int, int]] = []
        if reward_model is not None:
            for number in range(20):
                reward, _created = reward_model.objects.get_or_create(
                    code=f"kpi-bench-{number}",
                    defaults={"name": f"Bench reward {number}", "kind": "fixed_discount",
                              "cost_points": 50 * (number + 1), "value": f"{number + 1}.00"},
                )
                rewards.append((reward.pk, reward.cost_points))

        with transaction.atomic():
            triggers_off()  # balanced by construction
            created = Member.objects.bulk_create(
                [Member(email=f"kpi{offset + k}{MARKER}", loyalty_id=f"98{offset + k:014d}",
                        referral_code=f"KB{offset + k:010d}", joined_at=joined[k],
                        tier_id=tiers[k % len(tiers)] if k % 3 else None)
                 for k in range(member_count)],
                batch_size=5000,
            )
            ids = {name: next_id(model) for name, model in (
                ("account", LedgerAccount), ("txn", LedgerTransaction), ("entry", LedgerEntry), ("lot", PointLot),
                ("purchase", Purchase), ("allocation", LotAllocation))}
            rows = _Rows()
            system = {"issued": 0, "redeemed": 0, "expired": 0}
            for k, member in enumerate(created):
                available = ids["account"] + 2 * k
                rows.accounts.append((available, member.pk, AccountKind.AVAILABLE, 0))
                rows.accounts.append((available + 1, member.pk, AccountKind.PENDING, 0))
                self._member_history(k, member.pk, available, sorted(buys[k]), k in redeemers, k in expirers,
                                     now, rng, rewards, ids, rows, system, store.pk, issued, redeemed_account,
                                     expired_account)
                # Refused redemptions and expiries of emptied lots leave a shortfall: later members buy more.
                behind = transactions * (k + 1) // member_count - len(rows.transactions)
                if behind > 0:
                    self._member_history(k, member.pk, available, self._more(rng, behind, joined[k], now), False, False,
                                         now, rng, rewards, ids, rows, system, store.pk, issued, redeemed_account,
                                         expired_account, first_number=len(buys[k]))
            lifetime: dict[int, int] = {}
            for row in rows.lots:
                lifetime[row[1]] = lifetime.get(row[1], 0) + row[3]
            balances: dict[int, int] = {}
            for row in rows.lots:
                balances[row[1]] = balances.get(row[1], 0) + row[4]
            rows.accounts = [
                (pk, member_id, kind, balances.get(member_id, 0) if kind == AccountKind.AVAILABLE else 0)
                for pk, member_id, kind, _balance in rows.accounts
            ]
            write = rows_write
            write("loyalty_ledgeraccount", ("id", "member_id", "kind", "balance"), rows.accounts)
            write("loyalty_ledgertransaction",
                  ("id", "kind", "member_id", "reason", "reference", "store_id", "job", "occurred_at", "created_at",
                   "idempotency_key", "points", "balance_after", "metadata"), rows.transactions)
            write("loyalty_ledgerentry", ("id", "transaction_id", "account_id", "points"), rows.entries)
            write("loyalty_pointlot", ("id", "member_id", "transaction_id", "points", "remaining", "expired",
                                       "earned_at", "available_at", "released_at", "expires_at"), rows.lots)
            write("loyalty_lotallocation", ("id", "transaction_id", "lot_id", "points"), rows.allocations)
            write("loyalty_purchase",
                  ("id", "store_id", "member_id", "order_id", "total", "currency", "shipping", "tax", "lines",
                   "occurred_at", "eligible_amount", "points_base", "points_bonus", "breakdown", "available_at",
                   "refunded_total", "points_reversed", "transaction_id", "lot_id", "request_hash", "created_at"),
                  rows.purchases)
            if reward_model is not None and rows.redemptions:
                write("rewards_redemption",
                      ("member_id", "reward_id", "kind", "points", "value", "currency", "code", "status", "issued_at",
                       "expires_at", "used_order_id", "cancel_reason", "order_id", "charity_name", "transaction_id"),
                      rows.redemptions)
            for member_id, total in lifetime.items():
                rows.lifetime.append((member_id, total))
            with connection.cursor() as cursor:
                for start_row in range(0, len(rows.lifetime), 5000):
                    chunk = rows.lifetime[start_row:start_row + 5000]
                    cursor.execute(
                        "UPDATE members_member SET lifetime_earned = CASE id "  # noqa: S608 - ints only
                        + " ".join(f"WHEN {member_id} THEN {total}" for member_id, total in chunk)
                        + f" END WHERE id IN ({', '.join(str(member_id) for member_id, _t in chunk)})"
                    )
                for kind, pk in (("issued", issued), ("redeemed", redeemed_account), ("expired", expired_account)):
                    cursor.execute("UPDATE loyalty_ledgeraccount SET balance = balance + %s WHERE id = %s",
                                   [system[kind], pk])
                models = [LedgerAccount, LedgerTransaction, LedgerEntry, PointLot, Purchase, LotAllocation]
                if reward_model is not None:
                    models.append(apps.get_model("rewards", "Redemption"))
                for statement in connection.ops.sequence_reset_sql(no_style(), models):
                    cursor.execute(statement)
            triggers_on()
            campaigns = self._campaigns(created, joined, now, rng) if apps.is_installed("campaigns") else ""
        return (f"{len(rows.transactions):,} transactions, {len(rows.entries):,} entries, {len(rows.purchases):,} "
                f"purchases, {len(rows.redemptions):,} redemptions{campaigns}")

    @staticmethod
    def _campaigns(created: list, joined: list[datetime], now: datetime, rng: random.Random) -> str:
        """The campaign tables' data (the dashboard's challenge completion and referral conversion): five
        milestones, each started by a third of the members (a quarter of those completed), and one member in
        ten referred by another, with every status (rows written directly, like the rest of the bench)."""
        challenge_model = apps.get_model("campaigns", "Challenge")
        progress_model = apps.get_model("campaigns", "ChallengeProgress")
        referral_model = apps.get_model("campaigns", "Referral")
        start = now - timedelta(days=DAYS)
        challenges = [
            challenge_model.objects.get_or_create(
                code=f"kpi-bench-{number}",
                defaults={"name": f"Bench challenge {number}", "goal": "purchases", "target": 3 + number,
                          "prize_points": 50, "starts_at": start},
            )[0]
            for number in range(5)
        ]
        progress = []
        for challenge in challenges:
            for k, member in enumerate(created):
                if rng.random() >= 1 / 3:
                    continue
                started = joined[k] + timedelta(seconds=rng.uniform(0, (now - joined[k]).total_seconds()))
                done = rng.random() < 0.25
                finished = started + (now - started) * rng.random() if done else None
                progress.append(progress_model(
                    challenge=challenge, member=member, value=challenge.target if done else 1,
                    status="completed" if done else "in_progress", started_at=started, completed_at=finished,
                    updated_at=finished or started,
                ))
        progress_model.objects.bulk_create(progress, batch_size=5000)
        statuses = [("pending", ""), ("rewarded", ""), ("rewarded", ""), ("capped", ""), ("blocked", "ip_limit"),
                    ("cancelled", "")]
        referrals = []
        for k in range(1, len(created)):
            if rng.random() >= 0.1:
                continue
            status, reason = rng.choice(statuses)
            referrals.append(referral_model(
                referrer=created[rng.randrange(k)], referee=created[k], status=status, block_reason=reason,
                channel=rng.choice(["portal", "api"]),
                rewarded_at=joined[k] + timedelta(days=rng.uniform(1, 60)) if status == "rewarded" else None,
            ))
        referral_model.objects.bulk_create(referrals, batch_size=5000)
        with connection.cursor() as cursor:  # created_at is auto_now_add: the referee's join time instead
            cursor.execute(
                "UPDATE campaigns_referral SET created_at = m.joined_at FROM members_member m "
                "WHERE m.id = campaigns_referral.referee_id"
                if connection.vendor == "postgresql" else
                "UPDATE campaigns_referral SET created_at = (SELECT joined_at FROM members_member m "
                "WHERE m.id = campaigns_referral.referee_id)"
            )
        return f", {len(progress):,} challenge progress rows, {len(referrals):,} referrals"

    @staticmethod
    def _more(rng: random.Random, count: int, joined: datetime, now: datetime) -> list[tuple[datetime, int]]:
        """Extra purchases at any time since the member joined (their lots are not spent: nothing else to order)."""
        span = (now - joined).total_seconds() - 600
        return sorted((joined + timedelta(seconds=rng.uniform(600, max(span, 601))), 0) for _n in range(count))

    def _member_history(self, k, member_id, available, buys, redeems, expires, now, rng, rewards, ids, rows,
                        system, store_id, issued, redeemed_account, expired_account, first_number: int = 0) -> None:
        """One member's purchases, then a redemption FIFO from the lots, then an expiry of the oldest lot.
        Called again for extra purchases (`first_number`: the purchases the member made before)."""
        dt = db_time
        balance = rows.balances.get(member_id, 0)
        lots: list[list] = []
        for number, (when, _zero) in enumerate(buys, start=first_number):
            cents = rng.randint(500, 15000)
            points = max(1, cents // 100)
            txn, lot, purchase = ids["txn"], ids["lot"], ids["purchase"]
            ids["txn"] += 1
            ids["lot"] += 1
            ids["purchase"] += 1
            balance += points
            rows.transactions.append((txn, "earn", member_id, "Purchase", f"K{k}-{number}", store_id, "", dt(when),
                                      dt(now), f"kpi-bench:earn:{txn}", points, balance, "{}"))
            self._entries(rows, ids, txn, [(available, points), (issued, -points)])
            system["issued"] -= points
            lot_row = [lot, member_id, txn, points, points, 0, dt(when), dt(when), dt(when),
                       dt(when + timedelta(days=365))]
            lots.append(lot_row)
            total = f"{cents // 100}.{cents % 100:02d}"
            rows.purchases.append((purchase, store_id, member_id, f"K{k}-{number}", total, "EUR", "0", "0", "[]",
                                   dt(when), total, points, 0, "[]", dt(when), "0", 0, txn, lot, "", dt(now)))
        if not buys:
            return
        last = buys[-1][0]
        if redeems and rewards:
            reward_id, cost = rewards[int(len(rewards) * rng.random() ** 2)]
            if balance >= cost:
                when = last + timedelta(hours=rng.randint(1, 2000))
                when = min(when, now - timedelta(minutes=1))
                txn = ids["txn"]
                ids["txn"] += 1
                balance -= cost
                rows.transactions.append((txn, "redeem", member_id, "Reward redeemed", f"kpi-bench-{reward_id}",
                                          None, "", dt(when), dt(now), f"kpi-bench:redeem:{txn}", -cost, balance,
                                          "{}"))
                self._entries(rows, ids, txn, [(available, -cost), (redeemed_account, cost)])
                system["redeemed"] += cost
                left = cost
                for lot_row in lots:
                    take = min(lot_row[4], left)
                    if take:
                        lot_row[4] -= take
                        left -= take
                        rows.allocations.append((ids["allocation"], txn, lot_row[0], take))
                        ids["allocation"] += 1
                    if not left:
                        break
                rows.redemptions.append((member_id, reward_id, "fixed_discount", cost, "1.00", "EUR",
                                         f"KB{txn:014d}", "issued", dt(when), dt(when + timedelta(days=90)), "", "",
                                         "", "", txn))
                last = when
        if expires and lots[0][4] > 0:
            points = lots[0][4]
            when = min(last + timedelta(days=rng.randint(1, 90)), now - timedelta(minutes=1))
            txn = ids["txn"]
            ids["txn"] += 1
            balance -= points
            rows.transactions.append((txn, "expire", member_id, "Points expired", "", None, "expire_points",
                                      dt(when), dt(now), f"kpi-bench:expire:{txn}", -points, balance, "{}"))
            self._entries(rows, ids, txn, [(available, -points), (expired_account, points)])
            system["expired"] += points
            lots[0][5] += points
            lots[0][4] = 0
            lots[0][9] = dt(when)
        rows.lots.extend(tuple(lot_row) for lot_row in lots)
        rows.balances[member_id] = balance

    @staticmethod
    def _entries(rows, ids, txn, legs) -> None:
        for account, points in legs:
            rows.entries.append((ids["entry"], txn, account, points))
            ids["entry"] += 1


class _Rows:
    def __init__(self) -> None:
        self.accounts: list[tuple] = []
        self.transactions: list[tuple] = []
        self.entries: list[tuple] = []
        self.lots: list[tuple] = []
        self.allocations: list[tuple] = []
        self.purchases: list[tuple] = []
        self.redemptions: list[tuple] = []
        self.lifetime: list[tuple] = []
        self.balances: dict[int, int] = {}  # running balance per member (the transactions' balance_after)
