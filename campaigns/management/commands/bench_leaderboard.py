"""Benchmark the leaderboard reads: `manage.py bench_leaderboard --members 100000 --transactions 1000000`.

Needs a THROWAWAY database (the ledger is append-only): see bench_jobs.

1. Builds members and a consistent ledger with COPY (PostgreSQL) or executemany (SQLite), with
   loyalty.benchdata.LedgerBuilder: one `earn` transaction per lot with its two entries, spread over the last
   eight weeks up to now, so this week, this month and all time each have a full board. A share of the members
   (all by default, the worst case for a rank count) opt in with a nickname.
2. Builds the board table from the ledger with `refresh_leaderboards` (set-based), timed.
3. Times the top 10 (`leaderboard_top_get`) and a member's own rank (`leaderboard_rank_get`) for each period:
   warm, many runs, members sampled from the top, the middle and the bottom of each board; prints the
   median, 95th percentile and worst, and the EXPLAIN ANALYZE plans of the statements.
4. Times the per-member refresh a committed posting triggers (`leaderboard_member_refresh`).

--no-build skips 1 and 2 and times the boards already in the database, e.g. those of a bench_scale build
(`bench_leaderboard --no-build` in the 10,000- and in the 1,000,000-member database: its few distinct scores
tie up to 125,000 members on one).
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from campaigns.models import LeaderboardPeriod, LeaderboardScore
from campaigns.services.leaderboards import (
    leaderboard_member_refresh,
    leaderboard_rank_get,
    leaderboard_rank_sql,
    leaderboard_top_get,
    leaderboards_refresh,
    period_get,
)
from loyalty.benchdata import MARKER, LedgerBuilder
from members.models import Member

TARGET_MS = 50.0
SPREAD = timedelta(weeks=8)


def _ms(seconds: list[float]) -> str:
    if not seconds:
        return "no entries"  # an empty board (this week, early on a Monday)
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (f"median {statistics.median(ordered) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms, "
            f"worst {ordered[-1] * 1000:.2f} ms ({len(ordered)} runs)")


class Command(BaseCommand):
    help = "Benchmark the leaderboard's top 10 and own-rank reads on generated data (throwaway database only)."

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=2000)
        parser.add_argument("--transactions", type=int, default=20000,
                            help="Ledger transactions to build (each with two entries and a lot).")
        parser.add_argument("--opted-in", type=float, default=1.0, help="Share of members on the board (0-1).")
        parser.add_argument("--runs", type=int, default=200, help="Timed reads per period and kind.")
        parser.add_argument("--seed", type=int, default=11)
        parser.add_argument("--no-build", action="store_true",
                            help="Build nothing: time the boards already in this database (e.g. bench_scale's).")
        parser.add_argument("--force", action="store_true",
                            help="Run even though the database holds members the bench did not create.")

    def handle(self, *args, members: int, transactions: int, opted_in: float, runs: int, seed: int, force: bool,
               no_build: bool, **options):
        if members < 1 or transactions < members or not 0 < opted_in <= 1 or runs < 1:
            raise CommandError("need --members >= 1, --transactions >= --members, 0 < --opted-in <= 1, --runs >= 1")
        if Member.objects.exclude(email__endswith=MARKER).exists() and not force:
            raise CommandError(
                "This database holds real members. bench_leaderboard writes rows that can never be deleted (the "
                "ledger is append-only): point DATABASE_URL at a throwaway database, or pass --force."
            )
        rng = random.Random(seed)
        vendor = connection.vendor
        if vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version")
                vendor = f"PostgreSQL {cursor.fetchone()[0]}"
        now = timezone.now()
        if no_build:
            self.stdout.write(f"bench_leaderboard on {vendor}: the boards in the database "
                              f"({Member.objects.count():,} members)")
            chosen = list(LeaderboardScore.objects.filter(period_key="all").values_list("member_id", flat=True))
        else:
            chosen = self._build(members, transactions, opted_in, rng, vendor, now)
        self._measure(runs, rng, now, chosen)

    def _build(self, members: int, transactions: int, opted_in: float, rng: random.Random, vendor: str,
               now) -> list[int]:
        """The members and their ledger, the chosen share on the board, the boards built; returns the chosen."""
        self.stdout.write(f"bench_leaderboard: {members} members, {transactions} ledger transactions "
                          f"({2 * transactions} entries) on {vendor}, {opted_in:.0%} on the board")
        started = time.perf_counter()
        first_new = (Member.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        LedgerBuilder(until=now, count=transactions, spread=SPREAD).build(members, transactions)
        bench_members = Member.objects.filter(pk__gte=first_new, email__endswith=MARKER)
        chosen = [pk for pk in bench_members.values_list("pk", flat=True) if rng.random() < opted_in]
        self._nicknames(chosen)
        self._analyze()
        self.stdout.write(f"build: {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        result = leaderboards_refresh(as_of=now)
        self._analyze()
        self.stdout.write(f"refresh_leaderboards (set-based, every period): {time.perf_counter() - started:.2f} s "
                          f"{result}")
        return chosen

    def _measure(self, runs: int, rng: random.Random, now, chosen: list[int]) -> None:
        worst: dict[str, float] = {}
        for kind in LeaderboardPeriod.values:
            period = period_get(kind, now)
            board = LeaderboardScore.objects.filter(period_key=period.key, points__gt=0)
            size = board.count()
            top_times = []
            for _run in range(runs):
                began = time.perf_counter()
                top = leaderboard_top_get(period=period, limit=10)
                top_times.append(time.perf_counter() - began)
            ordered = list(board.order_by("-points", "reached_at", "member_id").values_list("member_id", flat=True))
            sample = self._sample(ordered, runs, rng)
            sampled = Member.objects.in_bulk(sample)
            rank_times = []
            for member_id in sample:
                member = sampled[member_id]
                began = time.perf_counter()
                place = leaderboard_rank_get(member=member, period=period)
                rank_times.append(time.perf_counter() - began)
                if place is None or ordered[place["rank"] - 1] != member_id:
                    raise CommandError(f"wrong rank for member {member_id} on {period.key}: {place}")
            self.stdout.write(f"{kind} ({period.key}, {size} on the board; first: {top[0]['points'] if top else '-'} "
                              f"points)")
            self.stdout.write(f"    top 10:   {_ms(top_times)}")
            self.stdout.write(f"    own rank: {_ms(rank_times)}")
            worst[f"{kind} top 10"] = sorted(top_times)[int(len(top_times) * 0.95)] * 1000
            if rank_times:
                worst[f"{kind} own rank"] = sorted(rank_times)[int(len(rank_times) * 0.95)] * 1000
            if kind == LeaderboardPeriod.ALL:
                self._plans(period, ordered[len(ordered) // 2] if ordered else None)

        sample = rng.sample(chosen, min(len(chosen), 50))
        refresh_times = []
        for member_id in sample:
            began = time.perf_counter()
            leaderboard_member_refresh(member_id=member_id, at=now)
            refresh_times.append(time.perf_counter() - began)
        self.stdout.write(f"leaderboard_member_refresh (after each committed posting): {_ms(refresh_times)}")

        verdicts = ", ".join(f"{name} p95 {ms:.1f} ms: {'PASS' if ms < TARGET_MS else 'FAIL'}"
                             for name, ms in worst.items())
        self.stdout.write(f"targets (< {TARGET_MS:.0f} ms): {verdicts}")

    @staticmethod
    def _nicknames(member_ids: list[int]) -> None:
        """Every chosen member on the board, nicknamed after their id (one UPDATE per 10,000)."""
        for start in range(0, len(member_ids), 10_000):
            batch = member_ids[start : start + 10_000]
            table = connection.ops.quote_name(Member._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET leaderboard_opt_in = %s, nickname = 'player' || CAST(id AS VARCHAR(20)) "  # noqa: S608
                    f"WHERE id IN ({', '.join(['%s'] * len(batch))})",
                    [True, *batch],
                )

    @staticmethod
    def _sample(ordered: list[int], runs: int, rng: random.Random) -> list[int]:
        """Members from the top, the middle and the bottom of the board, and at random."""
        if not ordered:
            return []
        picks = [ordered[0], ordered[len(ordered) // 2], ordered[-1]]
        picks += [rng.choice(ordered) for _ in range(max(runs - len(picks), 0))]
        return picks[:runs]

    def _plans(self, period, member_id: int | None) -> None:
        """EXPLAIN ANALYZE of the statements behind the reads (the all-time board, the biggest)."""
        top = (
            LeaderboardScore.objects.filter(period_key=period.key, points__gt=0, member__status="active",
                                            member__leaderboard_opt_in=True).exclude(member__nickname="")
            .order_by("-points", "reached_at", "member_id")
            .values_list("member_id", "member__nickname", "points", "reached_at")[:10]
        )
        self.stdout.write(f"plan, top 10 ({period.key}):")
        self._explain(top)
        if member_id is None:
            return
        board = LeaderboardScore.objects.filter(period_key=period.key, points__gt=0)
        mine = board.get(member_id=member_id)
        ties = board.filter(points=mine.points).count()
        self.stdout.write(f"plan, own rank of a member in the middle ({mine.points} points, {ties} entries with as "
                          f"many points): the tallied bands and scores above theirs, and the ties before them")
        self._explain_sql(*leaderboard_rank_sql(member_id=member_id, period_key=period.key))
        # The worst case for a count of ties: the member who reached the most shared score last.
        common = board.values("points").annotate(entries=Count("pk")).order_by("-entries", "points").first()
        assert common is not None
        last = board.filter(points=common["points"]).order_by("-reached_at", "-member_id").first()
        assert last is not None
        self.stdout.write(f"plan, own rank of the member who reached the most shared score last ({common['points']} "
                          f"points, {common['entries']} entries with as many points):")
        self._explain_sql(*leaderboard_rank_sql(member_id=last.member_id, period_key=period.key))

    def _explain(self, queryset) -> None:
        self._explain_sql(*queryset.query.sql_with_params())

    def _explain_sql(self, sql: str, params) -> None:
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
        with connection.cursor() as cursor:
            cursor.execute(prefix + sql, params)
            for row in cursor.fetchall():
                self.stdout.write("    " + " | ".join(str(value) for value in row))

    @staticmethod
    def _analyze() -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                if not connection.in_atomic_block:
                    cursor.execute("VACUUM ANALYZE campaigns_leaderboardscore, members_member, "
                                   "loyalty_ledgertransaction")
            else:
                cursor.execute("ANALYZE")
