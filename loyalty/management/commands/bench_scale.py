"""A million members: `manage.py bench_scale --members 1000000` (PostgreSQL only, a THROWAWAY database).

Every figure is measured twice in one database, the same way: at `--base` members (10,000), then after the
same database has grown to `--members` with COPY, and printed side by side with their ratio.

1. Build (loyalty.benchdata.LedgerBuilder, COPY): members with 10 ledger entries each (5 `earn` transactions
   with their lots, earned over the last eight weeks, valid for a year), every member on the leaderboard and
   already in the tier their points reach, with the metric stored, as the live upgrade check leaves them.
   Then VACUUM ANALYZE, and the leaderboards built (`refresh_leaderboards`, timed for information).
2. The same work due at both sizes: `--due` new members (1,000) whose 5 lots each expired in the last three
   weeks and who have no tier yet. The expiry run must expire exactly those lots, the tier recalculation
   (after a run the moment before, as every night follows the night before) must move exactly those members;
   their times are compared.
3. Requests in-process through Django's test client (routing, middleware, authentication, views, the
   database; the WSGI server and the network cost the same at both sizes and would only dilute the ratio),
   `--runs` of each kind taking turns in a shuffled order, for members picked at random: POST
   /api/v1/purchases/, GET /api/v1/members/{id}/balance/ and /api/v1/members/{id}/ (API key), the portal
   dashboard and GET /api/v1/me/leaderboard/ (the member's own rank; signed-in members), GET
   /api/v1/leaderboard/ (the top 10, API key), and /admin/kpi/ cold (figures' cache emptied) and warm.
4. A table: each figure at both sizes, the ratio and PASS/FAIL: request medians and 95th percentiles within
   20 % (next to it the ratio divided by the control request's, which reads no member data: on a shared
   host the load can differ between the two measurements), the jobs within 1.5x (the same work due; a job
   that walks a table grows with it 100-fold); the cold KPI dashboard (its rollups brought up to date by
   `roll_up_kpis` after the build and before each measurement, as beat does every ten minutes) still reads
   every member for the tier distribution and is shown for information.

--build-only builds both sizes and stops; --no-build measures again at the current size and compares with
the base figures saved by the last run at the base size (--figures). With --members equal to --base the
command builds and measures one size; a --no-build run can then save its figures (--save-figures) as the
base for another database, so that both sizes can be measured again in turn. --check exits non-zero on a missed
target. ledger_verify runs at the base size, and at the full size with --verify.
"""

from __future__ import annotations

import io
import json
import os
import random
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

from loyalty.benchdata import MARKER, Clock, LedgerBuilder, ledger_analyze, tables_analyze
from loyalty.kpi_rollup import kpi_rollup_run
from loyalty.models import Store, Tier
from loyalty.services.api_keys import api_key_create
from loyalty.services.jobs import points_expire
from loyalty.services.program import program_get
from loyalty.services.tiers import tier_create, tiers_recalculate
from loyalty.services.verify import ledger_verify
from members.models import Member, User

LOTS_PER_MEMBER = 5  # 10 ledger entries per member
SPREAD = timedelta(weeks=8)
REQUEST_TARGET = 1.20  # a request at --members may take at most 20 % longer than at --base
JOB_TARGET = 1.5
TIERS = (("bronze", 0), ("silver", 800), ("gold", 1500))
PORTAL_MEMBERS = 20
# Reads no member data (an empty reward catalogue), through the same stack: how much slower the machine
# itself was at one size than at the other (other work on a shared host), to read the other ratios against.
CONTROL = "GET /api/v1/rewards/ (control)"


class _Members(LedgerBuilder):
    """The bulk: on the leaderboard, in the tier their points reach, the metric stored (nothing due)."""

    def __init__(self, *, until: datetime, count: int, tiers: list[tuple[int, int]]) -> None:
        super().__init__(until=until, count=count, spread=SPREAD, valid_days=365)
        self.until: datetime = until
        self.tiers = tiers  # (threshold, id), highest first

    def member_fields(self, number: int, total: int) -> dict:
        tier = next((pk for threshold, pk in self.tiers if total >= threshold), None)
        return {"nickname": f"player{number}", "leaderboard_opt_in": True, "tier_id": tier,
                "tier_since": self.until - SPREAD, "tier_metric_value": total, "tier_metric_at": self.until}


def _due_builder(now: datetime, lots: int) -> LedgerBuilder:
    """Lots earned 31 to 51 days before `now`, valid for 30 days: all expired by `now`; no tier yet."""
    return LedgerBuilder(until=now - timedelta(days=31), count=lots, spread=timedelta(days=20), valid_days=30)


def _stats(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000


class Command(BaseCommand):
    help = "Measure requests and nightly jobs at 10,000 members and at a million (PostgreSQL, throwaway database)."

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=1_000_000)
        parser.add_argument("--base", type=int, default=10_000, help="The size every figure is compared with.")
        parser.add_argument("--due", type=int, default=1000,
                            help="Members with expired lots and a tier change due, at each size.")
        parser.add_argument("--runs", type=int, default=200, help="Requests of each kind at each size.")
        parser.add_argument("--kpi-runs", type=int, default=3, help="Cold and warm KPI dashboard loads.")
        parser.add_argument("--seed", type=int, default=14)
        parser.add_argument("--build-only", action="store_true", help="Build both sizes, measure nothing.")
        parser.add_argument("--no-build", action="store_true",
                            help="Measure the current build again, next to the saved base figures.")
        parser.add_argument("--figures", default="",
                            help="Where the base figures are saved (default: /tmp/bench_scale-<database>.json).")
        parser.add_argument("--save-figures", default="",
                            help="--no-build: save this measurement's figures here (a base for another database).")
        parser.add_argument("--verify", action="store_true", help="Also run ledger_verify at the full size.")
        parser.add_argument("--check", action="store_true", help="Exit non-zero when a target is missed.")
        parser.add_argument("--force", action="store_true",
                            help="Run even though the database holds members the bench did not create.")

    def handle(self, *args, members: int, base: int, due: int, runs: int, kpi_runs: int, seed: int, build_only: bool,
               no_build: bool, figures: str, save_figures: str, verify: bool, check: bool, force: bool, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_scale needs PostgreSQL (it loads millions of rows with COPY): set "
                               "DATABASE_URL=postgres://... to a throwaway database.")
        if not 0 < due < base <= members or runs < 2 or kpi_runs < 1:
            raise CommandError("need 0 < --due < --base <= --members, --runs >= 2 and --kpi-runs >= 1")
        if build_only and no_build:
            raise CommandError("--build-only and --no-build exclude each other")
        if Member.objects.exclude(email__endswith=MARKER).exists() and not force:
            raise CommandError(
                "This database holds real members. bench_scale writes millions of rows that can never be deleted "
                "(the ledger is append-only): point DATABASE_URL at a throwaway database, or pass --force."
            )
        self.rng = random.Random(seed)
        self.due, self.runs, self.kpi_runs = due, runs, kpi_runs
        path = Path(figures or f"/tmp/bench_scale-{connection.settings_dict['NAME']}.json")  # noqa: S108
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        sizes = "the current build" if no_build else f"{base:,} then {members:,} members"
        self.stdout.write(f"bench_scale on PostgreSQL {version}: {sizes}, {2 * LOTS_PER_MEMBER} ledger entries each; "
                          f"{os.cpu_count()} cores")
        tiers = self._tiers()

        if no_build:
            saved = json.loads(path.read_text()) if path.exists() else None
            results = self._measure()
            if save_figures:
                Path(save_figures).write_text(json.dumps(results))
            self._table(saved, results, check)
            return

        if self._bench_members():
            raise CommandError("the database already holds a build: use --no-build, or a fresh database")
        self._grow(base, tiers)
        if build_only:
            if members > base:
                self._grow(members, tiers)
            return
        self._verify()
        small = self._measure()
        path.write_text(json.dumps(small))
        if members == base:  # one size only: the base figures for another database (see --save-figures)
            return
        self._grow(members, tiers)
        if verify:
            self._verify()
        large = self._measure()
        self._table(small, large, check)

    # -- build ------------------------------------------------------------------------------------------

    @staticmethod
    def _bench_members() -> int:
        return Member.objects.filter(email__endswith=MARKER).count()

    @staticmethod
    def _tiers() -> list[tuple[int, int]]:
        if not Tier.objects.exists():
            for rank, (code, threshold) in enumerate(TIERS, start=1):
                tier_create(code=f"scale-{code}", name=f"Scale {code.title()}", rank=rank, threshold=threshold)
        return sorted(((tier.threshold, tier.pk) for tier in Tier.objects.all()), reverse=True)

    def _grow(self, size: int, tiers: list[tuple[int, int]]) -> None:
        """Add bulk members up to `size` less the `--due` members each measurement adds."""
        count = size - self._bench_members() - self.due
        if count < 1:
            raise CommandError(f"the build already has {self._bench_members():,} members")
        now = timezone.now()
        started = time.perf_counter()
        _Members(until=now, count=count * LOTS_PER_MEMBER, tiers=tiers).build(count, count * LOTS_PER_MEMBER)
        built = time.perf_counter()
        ledger_analyze()
        self.stdout.write(f"build: {count:,} members, {2 * LOTS_PER_MEMBER * count:,} ledger entries in "
                          f"{built - started:.1f} s (COPY) + {time.perf_counter() - built:.1f} s VACUUM ANALYZE; "
                          f"{self._size()}; load average {self._load()}")
        with Clock() as clock:
            settled = tiers_recalculate(as_of=now, full=True)
        self.stdout.write(f"recalculate_tiers over every member (the night after the bulk arrived, for information): "
                          f"{clock} {settled}")
        if apps.is_installed("campaigns"):  # the job by name: loyalty does not import campaigns (see Layout)
            with Clock() as clock:
                call_command("refresh_leaderboards", stdout=io.StringIO(), stderr=io.StringIO())
                tables_analyze("campaigns_leaderboardscore")
            self.stdout.write(f"refresh_leaderboards (the boards built from the whole ledger, for information): "
                              f"{clock}")
        with Clock() as clock:
            read = kpi_rollup_run()
        self.stdout.write(f"roll_up_kpis (the KPI rollups, everything new since the last run, for information): "
                          f"{clock} {read}")

    @staticmethod
    def _size() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
            return f"database {cursor.fetchone()[0]}"

    @staticmethod
    def _load() -> str:
        return " / ".join(f"{value:.1f}" for value in os.getloadavg())

    def _verify(self) -> None:
        started = time.perf_counter()
        problems = ledger_verify()
        self.stdout.write(f"ledger_verify: {len(problems)} problem(s) in {time.perf_counter() - started:.1f} s")
        if problems:
            raise CommandError(f"the generated ledger is inconsistent: {problems[:5]}")

    # -- measurement ------------------------------------------------------------------------------------

    def _measure(self) -> dict:
        size = self._bench_members() + self.due
        now = timezone.now()
        # Last night's runs, so that the runs measured below find only the work due since (a build made before
        # the recalculation kept its runs, or before the KPI rollups, is read whole here once).
        tiers_recalculate(as_of=now - timedelta(seconds=1))
        kpi_rollup_run()
        lots = self.due * LOTS_PER_MEMBER
        _due_builder(now, lots).build(self.due, lots)
        tables_analyze("members_member", "loyalty_pointlot", "loyalty_ledgeraccount")
        self.stdout.write(f"-- {size:,} members ({self._size()}; load average {self._load()})")
        figures: dict[str, float] = {}

        with Clock() as clock:  # as beat runs it: the due members are new since the last run
            read = kpi_rollup_run()
        self.stdout.write(f"roll_up_kpis: {clock} {read}")
        figures["roll_up_kpis job (s)"] = clock.wall
        with Clock() as clock:
            expired = points_expire(as_of=now)
        self.stdout.write(f"expire_points: {clock} {expired}")
        if expired["lots"] != lots:
            raise CommandError(f"expected {lots} lots due, points_expire expired {expired['lots']}")
        figures["expire_points job (s)"] = clock.wall
        with Clock() as clock:
            moved = tiers_recalculate(as_of=now)
        self.stdout.write(f"recalculate_tiers: {clock} {moved}")
        if moved["upgraded"] + moved["downgraded"] != self.due:
            raise CommandError(f"expected {self.due} tier changes, tiers_recalculate made {moved}")
        figures["recalculate_tiers job (s)"] = clock.wall

        storages = {**settings.STORAGES,
                    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
        with override_settings(ADMIN_MFA_REQUIRED=False, STORAGES=storages):
            figures.update(self._requests(now))
            figures.update(self._kpi())
        self.stdout.write(f"load average after: {self._load()}")
        return {"members": size, "load": self._load(), "figures": figures}

    def _requests(self, now: datetime) -> dict[str, float]:
        rng = self.rng
        tag = f"{int(now.timestamp())}"
        store = Store.objects.create(slug=f"scale-{tag}", name=f"Scale bench {tag}")
        _key, raw_key = api_key_create(store=store, scope="pos", name="bench_scale")
        api = Client(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
        bulk = list(Member.objects.filter(email__endswith=MARKER, leaderboard_opt_in=True)
                    .values_list("pk", "loyalty_id"))
        sample = [loyalty_id for _pk, loyalty_id in rng.sample(bulk, min(len(bulk), 4 * self.runs))]
        portal = []
        for pk, _loyalty_id in rng.sample(bulk, min(len(bulk), PORTAL_MEMBERS)):
            user = User.objects.create_user(email=f"scale-{tag}-{pk}{MARKER}")
            Member.objects.filter(pk=pk).update(user=user)
            client = Client()
            client.force_login(user)
            portal.append(client)
        currency = program_get().currency
        counter = iter(range(10**9))

        def purchase():
            i = next(counter)
            body = {"member": rng.choice(sample), "order_id": f"scale-{tag}-{i}", "total": "59.90",
                    "currency": currency, "lines": [{"sku": "MUG-01", "quantity": 2, "amount": "12.00"},
                                                    {"sku": "TEE-L", "quantity": 1, "amount": "35.90"}]}
            return api.post("/api/v1/purchases/", json.dumps(body), content_type="application/json", secure=True)

        kinds: dict[str, tuple[Callable, int]] = {
            CONTROL: (lambda: api.get("/api/v1/rewards/", secure=True), 200),
            "POST /api/v1/purchases/": (purchase, 201),
            "GET /api/v1/members/{id}/balance/": (
                lambda: api.get(f"/api/v1/members/{rng.choice(sample)}/balance/", secure=True), 200),
            "GET /api/v1/members/{id}/": (lambda: api.get(f"/api/v1/members/{rng.choice(sample)}/", secure=True), 200),
            "portal dashboard": (lambda: rng.choice(portal).get("/", secure=True), 200),
        }
        if apps.is_installed("campaigns"):
            kinds["GET /api/v1/leaderboard/ (top 10)"] = (
                lambda: api.get("/api/v1/leaderboard/?period=all&limit=10", secure=True), 200)
            kinds["GET /api/v1/me/leaderboard/ (own rank)"] = (
                lambda: rng.choice(portal).get("/api/v1/me/leaderboard/?period=all", secure=True), 200)
        times: dict[str, list[float]] = {name: [] for name in kinds}
        order = [name for name in kinds for _run in range(self.runs + 2)]
        rng.shuffle(order)
        warm: dict[str, int] = dict.fromkeys(kinds, 0)
        for name in order:
            request, status = kinds[name]
            started = time.perf_counter()
            response = request()
            elapsed = time.perf_counter() - started
            if response.status_code != status:
                raise CommandError(f"{name} answered {response.status_code}: {response.content[:300]!r}")
            warm[name] += 1
            if warm[name] > 2:  # the first two of each kind warm up caches and connections
                times[name].append(elapsed)
        figures = {}
        for name, seconds in times.items():
            median, p95 = _stats(seconds)
            figures[f"{name} median (ms)"], figures[f"{name} p95 (ms)"] = median, p95
            self.stdout.write(f"{name}: median {median:.2f} ms, p95 {p95:.2f} ms ({len(seconds)} runs)")
        return figures

    def _kpi(self) -> dict[str, float]:
        admin, _created = User.objects.get_or_create(
            email=f"scale-admin{MARKER}", defaults={"is_staff": True, "is_superuser": True}
        )
        client = Client()
        client.force_login(admin)

        def get() -> float:
            started = time.perf_counter()
            response = client.get("/admin/kpi/", secure=True)
            if response.status_code != 200:
                raise CommandError(f"/admin/kpi/ answered {response.status_code}")
            return (time.perf_counter() - started) * 1000

        cache.clear()
        get()  # templates, translations, URL patterns
        cold: list[float] = []
        warm: list[float] = []
        for _run in range(self.kpi_runs):
            cache.clear()
            cold.append(get())
            warm.extend(get() for _warm in range(5))
        self.stdout.write(f"/admin/kpi/: cold median {statistics.median(cold):.0f} ms ({len(cold)} runs), warm median "
                          f"{statistics.median(warm):.1f} ms ({len(warm)} runs)")
        return {"/admin/kpi/ cold median (ms)": statistics.median(cold),
                "/admin/kpi/ warm median (ms)": statistics.median(warm)}

    # -- the table --------------------------------------------------------------------------------------

    def _table(self, small: dict | None, large: dict, check: bool) -> None:
        if small is None:
            self.stdout.write("(no saved base figures: the figures at this size only)")
        left = f"{small['members']:,} members" if small else "base"
        control = None
        if small and CONTROL + " median (ms)" in small["figures"]:
            control = large["figures"][CONTROL + " median (ms)"] / small["figures"][CONTROL + " median (ms)"]
        self.stdout.write(f"{'figure':<46}{left:>18}{large['members']:>16,} members{'ratio':>9}"
                          f"{'/ control':>11}  target")
        missed = []
        for name, value in large["figures"].items():
            before = small["figures"].get(name) if small else None
            if before is None:
                self.stdout.write(f"{name:<46}{'-':>18}{value:>24.2f}")
                continue
            ratio = value / before if before else float("inf")
            if name.startswith(CONTROL):
                verdict = "control: the machine, not the data"
            elif "cold" in name:
                verdict = "information (the tier distribution reads every member)"
            else:
                limit = JOB_TARGET if "job" in name else REQUEST_TARGET
                verdict = f"{'PASS' if ratio <= limit else 'FAIL'} (<= {limit:.2f})"
                if ratio > limit:
                    missed.append(name)
            adjusted = f"{ratio / control:>11.2f}" if control and "job" not in name else f"{'':>11}"
            self.stdout.write(f"{name:<46}{before:>18.2f}{value:>24.2f}{ratio:>9.2f}{adjusted}  {verdict}")
        loads = f"{small['load']} at the base size, " if small else ""
        self.stdout.write(f"load average (1 / 5 / 15 min): {loads}{large['load']} at the full size")
        if missed:
            self.stdout.write(f"missed: {', '.join(missed)}")
            if check:
                raise CommandError(f"{len(missed)} target(s) missed")
        elif small:
            self.stdout.write("every target met")
