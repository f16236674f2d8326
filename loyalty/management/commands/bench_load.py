"""Sustained load over HTTP: `manage.py bench_load [--members 10000] [--users 24] [--duration 60] [--hot]`.

It WRITES to the configured database (members, a ledger, purchases): run it on a throwaway database.

1. Builds `--members` members with opening balances (loyalty.benchdata's COPY builder: three recent lots each), a
   store with a `pos` API key, a catalogue reward, and `--portal-members` logins with signed-in sessions
   (made with Django's SessionStore and the users' auth hash, so the login rate limit is not involved).
2. Starts gunicorn on a free local port (LocalServer) serving the project plus bench_api's trivial
   endpoints, or targets `--url` (a server on this same database; no server is started then).
3. Drives the load with locust (as a library, headless, FastHttpUser) in a child process per phase
   (`python -m loyalty.loadtest`, see there why): `--users` users back to back, no think time.
   - mix, `--duration` seconds after a warm-up: 70 % purchases, 10 % refunds of purchases made earlier in
     the run, 10 % balance reads, 2.5 % quotes, 2.5 % redemptions (catalogue and pay with points in turn),
     5 % portal dashboards of signed-in members;
   - then purchases only, bench_api's trivial POST and its trivial write (one INSERT and a commit), each
     `--ratio-seconds` in two interleaved halves with the same users: the purchase throughput as a share
     of a trivial endpoint's under the same load;
   - with `--hot`: `--users` (default 100) users on ONE member, purchases, redemptions and balance reads.
4. Prints per operation the requests, throughput, p50/p95/p99 and errors (an expected refusal, 422
   insufficient_points on a redemption, is counted apart and is no error), the CPU of the load generator,
   the server's workers and the database backends, and the load average; then `ledger_verify` and PASS/FAIL
   per target. `--check` exits non-zero on a missed target.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import import_module
from pathlib import Path

import environ
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from loyalty.benchdata import LedgerBuilder, ledger_analyze
from loyalty.localserver import LocalServer, database_url
from loyalty.management.commands.bench_api import TARGET_PURCHASES, bench_tiers_ensure
from loyalty.models import AccountKind, LedgerAccount, LedgerTransaction, Purchase, Store
from loyalty.services.api_keys import api_key_create
from loyalty.services.ledger import Audit, points_credit
from loyalty.services.program import program_get
from loyalty.services.verify import ledger_verify
from members.models import Member, User
from members.services import member_create
from rewards.models import RewardKind
from rewards.services import reward_create

TARGET_PURCHASES_PER_SECOND = 300.0
TARGET_P95_MS = 100.0
LOTS_PER_MEMBER = 3  # the builder gives each lot 1-200 points: about 300 points per member to redeem
HOT_OPENING_POINTS = 1_000
REWARD_COST = 100
SERVER_APP = "loyalty.management.commands._bench_server:application"
OPERATIONS = ("purchase", "refund", "balance", "quote", "redeem", "portal")
EXPECTED_REFUSALS = {"redeem": "422 insufficient_points"}
RATIO_PHASES = ("purchases", "trivial_post", "trivial_write")


@dataclass
class LoadData:
    tag: str
    store: Store
    api_key: str
    loyalty_ids: list[str]
    reward: str
    sessions: list[str] = field(default_factory=list)
    hot_member: Member | None = None


def load_data_build(*, members: int, portal_members: int, hot: bool, hot_points: int = HOT_OPENING_POINTS) -> LoadData:
    """Members with opening balances, a store and its `pos` key, a reward, signed-in portal sessions, and
    for `hot` one more member (made and credited through the services) that every user will hit."""
    tag = secrets.token_hex(3)
    bench_tiers_ensure()
    store = Store.objects.create(slug=f"load-{tag}", name=f"Load {tag}")
    _key, raw_key = api_key_create(store=store, scope="pos", name="bench_load")
    lots = members * LOTS_PER_MEMBER  # earned in the last day, so they are open and expire in a month
    ids = LedgerBuilder(until=timezone.now(), count=lots, spread=timedelta(days=1)).build(members, lots)
    built = list(Member.objects.filter(pk__in=ids).order_by("pk"))
    ledger_analyze()
    reward = reward_create(code=f"load-{tag}", name=f"Load {tag}", kind=RewardKind.FREE_PRODUCT,
                           cost_points=REWARD_COST)
    data = LoadData(tag=tag, store=store, api_key=raw_key, loyalty_ids=[m.loyalty_id for m in built],
                    reward=reward.code, sessions=portal_sessions_create(members=built[:portal_members]))
    if hot:
        data.hot_member = member_create(email=f"load-{tag}-hot@example.invalid", first_name="Hot")
        points_credit(member=data.hot_member, points=hot_points,
                      audit=Audit(reason="Bench opening balance", idempotency_key=f"load:{tag}:hot"))
    return data


def portal_sessions_create(*, members: list[Member]) -> list[str]:
    """A login per member and a signed-in session for each, written as django.contrib.auth.login would
    (user id, backend, session auth hash): no sign-in requests, so no login rate limit."""
    if not members:
        return []
    password = make_password(None)  # unusable: these logins are only ever signed in here
    users = User.objects.bulk_create([User(email=member.email, password=password) for member in members])
    for member, user in zip(members, users, strict=True):
        member.user = user
    Member.objects.bulk_update(members, ["user"])
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    keys = []
    for user in users:
        session = store_class()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        keys.append(session.session_key)
    return keys


class _Window:
    """What the server and the database do in one measured window, read by a thread of its own (with its own
    database connection) every 0.2 s:

    - the CPU seconds of the server's worker processes and of this database's PostgreSQL backends (same host).
      Each process's last reading counts, so a backend that ends within the window (Django closes a connection
      at CONN_MAX_AGE, 60 s, and opens another) keeps what it used up to its last reading;
    - what those backends wait on: the average number per state and wait event. `active` with a Lock wait is
      a transaction queued behind another's row lock; `idle in transaction` is one waiting for the
      application (its Python between two statements, or a worker waiting for a core)."""

    WAITS = (  # the server's backends: not this command's connections (the build's, the sampler's)
        "SELECT pid, state, COALESCE(wait_event_type || '/' || wait_event, 'on CPU') FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid NOT IN (pg_backend_pid(), %s)"
        " AND backend_type = 'client backend'"
    )

    def __init__(self, server: LocalServer | None) -> None:
        self.server = server
        self.waits: Counter = Counter()
        self.samples = 0
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.kinds: dict[int, str] = {}
        self.started = False
        self.command_pid = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _cpu_seconds(pid: int) -> float | None:
        import psutil

        try:
            times = psutil.Process(pid).cpu_times()
        except (psutil.Error, OSError):
            return None
        return times.user + times.system

    def _read(self, cursor) -> None:
        pids = dict.fromkeys(self.server.worker_pids() if self.server else [], "server")
        if cursor is not None:
            cursor.execute(self.WAITS, [self.command_pid])
            for pid, state, wait in cursor.fetchall():
                pids[pid] = "database"
                if state == "active":
                    self.waits[f"active: {wait}"] += 1
                elif state == "idle in transaction":
                    self.waits[state] += 1
            self.samples += 1
        for pid, kind in pids.items():
            if (seconds := self._cpu_seconds(pid)) is not None:
                self.kinds[pid] = kind
                # A process already there at the start counts from its reading then; a newer one from zero.
                self.first.setdefault(pid, 0.0 if self.started else seconds)
                self.last[pid] = seconds

    def _run(self) -> None:
        try:
            with contextlib.ExitStack() as stack:
                cursor = stack.enter_context(connection.cursor()) if connection.vendor == "postgresql" else None
                while not self.stopping.wait(0.2):
                    self._read(cursor)
        finally:
            connection.close()

    def start(self) -> _Window:
        """Reads the processes present now (their CPU so far is not the window's), then starts the thread."""
        with contextlib.ExitStack() as stack:
            cursor = stack.enter_context(connection.cursor()) if connection.vendor == "postgresql" else None
            if cursor is not None:
                cursor.execute("SELECT pg_backend_pid()")
                self.command_pid = cursor.fetchone()[0]
            self._read(cursor)
        self.waits.clear()
        self.samples = 0
        self.started = True
        self.thread.start()
        return self

    def stop(self) -> dict:
        self.stopping.set()
        self.thread.join()
        cpu = {"server": 0.0, "database": 0.0}
        for pid, seconds in self.last.items():
            cpu[self.kinds[pid]] += seconds - self.first[pid]
        waits = {name: count / self.samples for name, count in self.waits.most_common()} if self.samples else {}
        return {**cpu, "waits": waits}


def _truthy(name: str) -> bool:
    return environ.Env().bool(name, default=False)


class Command(BaseCommand):
    help = "Sustained load over HTTP with locust: a purchase-heavy mix, or one hot member (writes data)."

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=10_000, help="Members built (default 10,000).")
        parser.add_argument("--users", type=int, default=None,
                            help="Concurrent locust users (default 24; 100 with --hot).")
        parser.add_argument("--duration", type=float, default=60.0, help="Seconds of the measured mix (or hot) run.")
        parser.add_argument("--warmup", type=float, default=5.0, help="Seconds before each phase is measured.")
        parser.add_argument("--ratio-seconds", type=float, default=20.0,
                            help="Seconds of each ratio phase (purchases only, trivial POST, trivial write), "
                                 "in two interleaved halves; 0 skips them.")
        parser.add_argument("--portal-members", type=int, default=200, help="Members signed in to the portal.")
        parser.add_argument("--hot", action="store_true", help="One member under all the users instead of the mix.")
        parser.add_argument("--hot-points", type=int, default=HOT_OPENING_POINTS,
                            help=f"The hot member's opening balance (default {HOT_OPENING_POINTS:,}).")
        parser.add_argument("--url", help="Load this server (on this same database) instead of starting one.")
        # Default: one gthread worker per core, 4 threads each (keep-alive like a till's client; the threads
        # overlap their database waits). On this 2-core machine it beat 4 x 2 in interleaved runs (README).
        parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                            help=f"gunicorn workers (default: one per core, {os.cpu_count() or 2} here).")
        parser.add_argument("--worker-class", choices=("sync", "gthread"), default="gthread",
                            help="gunicorn worker class (default gthread).")
        parser.add_argument("--threads", type=int, default=4, help="Threads per gthread worker (default 4).")
        parser.add_argument("--check", action="store_true", help="Exit non-zero when a target is missed.")
        parser.add_argument("--noinput", "--no-input", action="store_true", help="Do not ask for confirmation.")

    def handle(self, *args, **options):
        # Only look for locust: importing it here would monkeypatch this process (and its database connection)
        # with gevent. It runs in a child process (loyalty.loadtest).
        if importlib.util.find_spec("locust") is None:
            raise CommandError("bench_load needs locust: pip install -e '.[dev]'")
        hot = options["hot"]
        users = options["users"] or (100 if hot else 24)
        members, duration, warmup = options["members"], options["duration"], options["warmup"]
        ratio_seconds = 0.0 if hot else options["ratio_seconds"]
        portal_members = min(options["portal_members"], members)
        if members < 1 or users < 1 or duration <= 0 or warmup < 0 or ratio_seconds < 0 or portal_members < 1:
            raise CommandError("Use --members, --users, --duration and --portal-members >= 1, --warmup and "
                               "--ratio-seconds >= 0.")
        database = f"{connection.vendor} ({connection.settings_dict['NAME']})"
        if not options["noinput"]:
            answer = input(f"This writes benchmark data into {database}. Use a throwaway database. Go on? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                raise CommandError("Cancelled.")

        started = time.perf_counter()
        data = load_data_build(members=members, portal_members=portal_members, hot=hot,
                               hot_points=options["hot_points"])
        self.stdout.write(f"bench_load on {database}, cache {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}"
                          f": built {members:,} members ({members * LOTS_PER_MEMBER:,} opening lots), "
                          f"{portal_members} portal sessions in {time.perf_counter() - started:.1f} s")

        with tempfile.TemporaryDirectory(prefix="bench_load-") as workdir:
            server = None
            if options["url"]:
                url = options["url"].rstrip("/")
                self.stdout.write(f"target: {url} (not started here; it must use this database)")
            else:
                server = self._server_start(options, Path(workdir) / "gunicorn.log")
                url = server.url
            try:
                results = self._run(data, url=url, server=server, workdir=Path(workdir), users=users,
                                    duration=duration, warmup=warmup, ratio_seconds=ratio_seconds, hot=hot)
            finally:
                if server is not None:
                    server.stop()
        self._report(data, results, hot=hot, check=options["check"])

    def _server_start(self, options, log: Path) -> LocalServer:
        if not _truthy("DEBUG") and not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
            # Without DEBUG the portal's pages need the static files' manifest, as in production (once; slow).
            self.stdout.write("collectstatic (the portal pages need the manifest without DEBUG) ...")
            call_command("collectstatic", interactive=False, verbosity=0)
        workers, worker_class, threads = options["workers"], options["worker_class"], options["threads"]
        threads = threads if worker_class == "gthread" else 1
        try:
            url = database_url()
        except RuntimeError:
            raise CommandError("bench_load needs PostgreSQL or an SQLite file the server process can open.") from None
        server = LocalServer(app=SERVER_APP, env={"DATABASE_URL": url}, workers=workers, worker_class=worker_class,
                             threads=threads, log=log)
        try:
            server.start(timeout=60)
        except RuntimeError:
            raise CommandError(f"gunicorn did not start: {log.read_text()[-2000:]}") from None
        shape = f" x {threads} threads, keep-alive" if worker_class == "gthread" else " (a new connection per request)"
        self.stdout.write(f"server: gunicorn at {server.url}, {workers} {worker_class} worker(s){shape}")
        return server

    def _run(self, data: LoadData, *, url: str, server: LocalServer | None, workdir: Path, users: int,
             duration: float, warmup: float, ratio_seconds: float, hot: bool) -> list[dict]:
        """Runs the load generator (one child process, every phase in turn) and watches the server's workers and
        the database's backends over each measured window, as the child announces them (_Window)."""
        phases = [{"phase": "hot" if hot else "mix", "users": users, "warmup": warmup, "seconds": duration}]
        if ratio_seconds:
            ratio_warmup = min(warmup, 2.0)
            phases += [{"phase": phase, "users": users, "warmup": ratio_warmup, "seconds": ratio_seconds / 2}
                       for _half in range(2) for phase in RATIO_PHASES]
        plan = {
            "url": url, "api_key": data.api_key, "currency": program_get().currency, "tag": data.tag,
            "members": data.loyalty_ids, "hot_member": data.hot_member.loyalty_id if data.hot_member else "",
            "reward": data.reward, "sessions": data.sessions, "session_cookie": settings.SESSION_COOKIE_NAME,
            "phases": phases,
        }
        plan_path, result_path = workdir / "plan.json", workdir / "result.json"
        plan_path.write_text(json.dumps(plan))
        windows: list[dict] = []
        window = _Window(server)
        self.server_measured = server is not None
        log = workdir / "loadtest.log"
        with log.open("w") as errors:
            child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "loyalty.loadtest", str(plan_path), str(result_path)],
                cwd=settings.BASE_DIR, stdout=subprocess.PIPE, stderr=errors, text=True,
            )
            assert child.stdout is not None
            for line in child.stdout:
                if line.startswith("MEASURE "):
                    window = _Window(server).start()
                elif line.startswith("MEASURED "):
                    windows.append({**window.stop(), "load_average": os.getloadavg()})
        if child.wait() != 0:
            raise CommandError(f"the load generator failed: {log.read_text()[-3000:]}")
        result = json.loads(result_path.read_text())
        if not result["trivial_endpoint"]:
            self.stdout.write("ratio phases skipped: the server has no trivial endpoint (/bench/ok/)")
        results = result["phases"]
        for phase, measured in zip(results, windows, strict=True):
            phase["load_average"] = measured.pop("load_average")
            phase["waits"] = measured.pop("waits")
            phase["process_cpu"] = measured
        self._phase_print(results[0])
        return results

    def _phase_print(self, result: dict) -> None:
        seconds = result["seconds"]
        load = ", ".join(f"{value:.1f}" for value in result["load_average"])
        self.stdout.write(f"\n{result['phase']}: {result['users']} users, {seconds:.1f} s measured; "
                          f"load average {load}")
        self.stdout.write(f"{'operation':<14}{'requests':>9}{'/s':>9}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}"
                          f"{'errors':>8}{'5xx':>6}{'refused':>9}")
        operations = result["operations"]
        for name in [*OPERATIONS, *sorted(set(operations) - set(OPERATIONS))]:
            if name not in operations:
                continue
            op = operations[name]
            self.stdout.write(f"{name:<14}{op['requests']:>9}{op['per_second']:>9.1f}{op['p50']:>8.0f}"
                              f"{op['p95']:>8.0f}{op['p99']:>8.0f}{op['failures']:>8}{op['server_errors']:>6}"
                              f"{op['refused']:>9}")
        total = sum(op["requests"] for op in operations.values())
        self.stdout.write(f"{'all':<14}{total:>9}{total / seconds:>9.1f}")
        refusals = ", ".join(f"{op}: {what}" for op, what in EXPECTED_REFUSALS.items())
        self.stdout.write(f"(refused: expected refusals, not errors; {refusals})")
        answered = "; ".join(f"{op} " + ", ".join(f"{status} x {count}" for status, count in sorted(statuses.items()))
                             for op, statuses in result["answered"].items())
        self.stdout.write(f"answered over the whole phase (warm-up and stop included): {answered}")
        self._errors_print(result)
        self._cpu_print(result)
        if result["waits"]:
            waits = ", ".join(f"{name} {count:.1f}" for name, count in result["waits"].items() if count >= 0.05)
            self.stdout.write(f"PostgreSQL backends of this database, average count in the window: {waits or '-'}")

    def _errors_print(self, result: dict) -> None:
        """The unexpected answers of the whole phase (warm-up and the users' graceful stop included)."""
        for error in result["errors"][:10]:
            self.stdout.write(f"ERROR ({result['phase']}) {error['operation']}: {error['count']} x {error['error']}")

    def _cpu_print(self, result: dict) -> None:
        seconds, cpu = result["seconds"], result["process_cpu"]
        requests = sum(op["requests"] for op in result["operations"].values()) or 1

        def share(name: str, cpu_seconds: float | None) -> str:
            if cpu_seconds is None:
                return f"{name} not measured"
            return f"{name} {cpu_seconds / seconds:.0%} = {cpu_seconds / requests * 1000:.1f} ms"

        parts = [share("load generator (its own process)", result["cpu_seconds"]),
                 share("server workers", cpu["server"] if self.server_measured else None),
                 share("PostgreSQL backends", cpu["database"] if connection.vendor == "postgresql" else None)]
        self.stdout.write(f"CPU in the measured window, per second of wall ({os.cpu_count()} cores: "
                          f"{(os.cpu_count() or 1) * 100} %) and per request: {'; '.join(parts)}")

    def _report(self, data: LoadData, results: list[dict], *, hot: bool, check: bool) -> None:
        main = results[0]
        errors = sum(error["count"] for result in results for error in result["errors"])
        server_errors = sum(count for result in results for statuses in result["answered"].values()
                            for status, count in statuses.items() if int(status) >= 500)
        answered = sum(result["answered"].get("purchase", {}).get("201", 0) for result in results)
        recorded = Purchase.objects.filter(store=data.store).count()
        started = time.perf_counter()
        problems = ledger_verify()
        self.stdout.write(f"\nverify_ledger: {len(problems)} problem(s) in {time.perf_counter() - started:.1f} s; "
                          f"purchases answered 201: {answered}, recorded: {recorded}")
        for problem in problems:
            self.stderr.write(f"BROKEN {problem}")
        targets = [
            ("zero errors (unexpected answers, any phase)", errors == 0, f"{errors} error(s)"),
            ("zero drift (verify_ledger; every purchase answered 201 recorded once)",
             not problems and answered == recorded, f"{len(problems)} problem(s), {answered} vs {recorded}"),
        ]
        if hot:
            member = data.hot_member
            assert member is not None
            lowest = LedgerTransaction.objects.filter(member=member).order_by("balance_after").first()
            balance = LedgerAccount.objects.get(member=member, kind=AccountKind.AVAILABLE).balance
            low = lowest.balance_after if lowest else 0
            seen = main["min_available"]
            ok = low >= 0 and balance >= 0 and (seen is None or seen >= 0)
            targets += [
                ("no overdraft (the hot member's balance never below 0)", ok,
                 f"lowest balance_after {low}, now {balance}, lowest seen by a client {seen}"),
                ("no 5xx", server_errors == 0, f"{server_errors} 5xx"),
            ]
        else:
            purchase = main["operations"].get("purchase", {"per_second": 0.0, "p95": float("inf")})
            targets += [
                (f"purchases >= {TARGET_PURCHASES_PER_SECOND:.0f}/s sustained (mix)",
                 purchase["per_second"] >= TARGET_PURCHASES_PER_SECOND, f"{purchase['per_second']:.1f}/s"),
                (f"purchase p95 < {TARGET_P95_MS:.0f} ms (mix)", purchase["p95"] < TARGET_P95_MS,
                 f"{purchase['p95']:.0f} ms"),
            ]
            ratio = self._ratios(results[1:])
            if ratio is not None:
                targets.append((f"purchases / trivial POST >= {TARGET_PURCHASES:.0%} (bench_api's target), "
                                "same users", ratio >= TARGET_PURCHASES, f"{ratio:.0%}"))
        self.stdout.write("")
        for name, ok, value in targets:
            self.stdout.write(f"{'PASS' if ok else 'FAIL'}  {name}: {value}")
        if check and not all(ok for _name, ok, _value in targets):
            raise CommandError("A target was missed.")

    def _ratios(self, results: list[dict]) -> float | None:
        """Prints the purchases-only and trivial phases (summed over their halves); returns purchases / trivial
        POST, or None when they did not run."""
        if not results:
            return None
        names = {"purchases": "purchase", "trivial_post": "trivial POST", "trivial_write": "trivial write"}
        totals: dict[str, dict[str, float]] = {}
        for result in results:
            self._errors_print(result)
            op = result["operations"].get(names[result["phase"]], {"requests": 0, "failures": 0, "p95": 0})
            total = totals.setdefault(result["phase"], dict.fromkeys(("requests", "seconds", "cpu", "p95", "server",
                                                                     "database"), 0.0))
            total["requests"] += op["requests"]
            total["seconds"] += result["seconds"]
            total["cpu"] += result["cpu_seconds"]
            total["server"] += result["process_cpu"]["server"]
            total["database"] += result["process_cpu"]["database"]
            total["p95"] = max(total["p95"], op["p95"])
        rate = {phase: total["requests"] / total["seconds"] for phase, total in totals.items()}
        loads = ", ".join(f"{result['load_average'][0]:.1f}" for result in results)
        self.stdout.write(f"\nsame {results[0]['users']} users, one endpoint at a time, two interleaved halves each "
                          f"(1-minute load average after each: {loads})")
        for phase, total in totals.items():
            per_request = max(total["requests"], 1) / 1000
            server = f"server {total['server'] / per_request:.1f} ms, " if self.server_measured else ""
            database = (f"PostgreSQL {total['database'] / per_request:.1f} ms, "
                        if connection.vendor == "postgresql" else "")
            self.stdout.write(
                f"{names[phase]:<16}{rate[phase]:>9.1f}/s  p95 {total['p95']:.0f} ms (worst half); CPU per request: "
                f"{server}{database}generator {total['cpu'] / per_request:.1f} ms "
                f"({total['cpu'] / total['seconds']:.0%} of a core)"
            )
        self.stdout.write(f"purchases / trivial POST {rate['purchases'] / rate['trivial_post']:.0%}, "
                          f"purchases / trivial write {rate['purchases'] / rate['trivial_write']:.0%}")
        return rate["purchases"] / rate["trivial_post"]
