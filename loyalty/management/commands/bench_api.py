"""Benchmark the API in-process: purchases/s and balance reads/s next to a trivial endpoint.

    python manage.py bench_api [--n 300] [--history 100000] [--rounds 5] [--server] [--check] [--noinput]

Every request goes through the whole stack (URL routing, middleware, API-key authentication, DRF,
serializers, services, the database), one at a time. By default with Django's test Client in this
process: the network and the WSGI server are left out, so the figures compare the application's own work.
With --server the requests go over HTTP (one kept-alive connection) to a local gunicorn process serving
the same code, as a till or webshop calls it, less the network between them.
Next to the real endpoints the command measures a trivial DRF endpoint with the same authentication
(`{"ok": true}`, GET and POST, mounted only for the benchmark through a temporary URLconf) and prints the
ratios. A third baseline, the trivial write, inserts one row in a transaction and commits: a purchase
must commit, and the commit's flush to disk (fsync, 10-25 ms on some VMs) is paid by no read-only baseline,
so purchases are compared with both (the trivial POST is the issue's target; the write shows the cost
left once the commit is paid by both). Two tiers are configured when none exist (--no-tiers: leave them),
since the member read shows the progress to the next tier. Requests of the different kinds take turns,
one each in a shuffled order, so a busy machine slows them alike; each figure is the median over the rounds.

It WRITES to the configured database (a store, API key, members, purchases and a bulk-built history of
`--history` ledger entries): run it on a throwaway database, e.g.
    DATABASE_URL=sqlite:////tmp/bench.sqlite3 python manage.py migrate && ... bench_api
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import secrets
import statistics
import time
import types
from datetime import timedelta
from unittest import mock

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import F
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from django.utils import timezone
from rest_framework.response import Response

from loyalty.api.base import PosApi
from loyalty.localserver import LocalServer, database_url
from loyalty.models import (
    AccountKind,
    IdempotencyRecord,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    LotAllocation,
    PointLot,
    Store,
    Tier,
)
from loyalty.services import api_keys
from loyalty.services import program as program_service
from loyalty.services.api_keys import api_key_create
from loyalty.services.ledger import Audit, points_credit
from loyalty.services.program import program_get
from loyalty.services.verify import ledger_verify
from members.models import Member
from members.services import member_create

TARGET_PURCHASES = 0.40
TARGET_READS = 0.80
TARGET_HISTORY = 0.10
# The configuration version (every process sees a change on its next request) may cost a purchase at most 5 %.
TARGET_CONFIG_VERSION = 0.95
UNVERSIONED = "POST /purchases/ (no config version)"


@contextlib.contextmanager
def _without_config_version():
    """The purchase as it was before the configuration version: no version read with the API key, cache keys
    without it. For the in-process A/B only (the measure of what the version costs), never in a server."""
    unversioned = api_keys._lookup_sql().replace(f"({program_service.config_version_sql()})", "''")
    with (
        mock.patch.object(api_keys, "_lookup_sql", lambda: unversioned),
        mock.patch.object(program_service, "_config_version", lambda: "unversioned"),
    ):
        yield
BATCH = 5_000


class BenchTrivialApi(PosApi):
    """The floor: the same authentication and base class as the real endpoints, and no work."""

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        request.data  # noqa: B018 - parse the JSON body like the real endpoint does
        return Response({"ok": True})


class BenchTrivialWriteApi(PosApi):
    """The floor of a write: one row inserted in a transaction that commits (the commit flushes to disk).

    A purchase must commit; on a VM the commit's fsync alone can cost more than the application's work,
    and no read-only baseline pays it.
    """

    def post(self, request):
        request.data  # noqa: B018 - parse the JSON body like the real endpoint does
        with transaction.atomic():
            IdempotencyRecord.objects.create(
                scope="bench_api", key=secrets.token_hex(16), request_hash="", status_code=200, response_body=b""
            )
        return Response({"ok": True})


def bench_urlconf() -> types.ModuleType:
    module = types.ModuleType("bench_api_urls")
    module.urlpatterns = [  # type: ignore[attr-defined]
        path("bench/ok/", BenchTrivialApi.as_view()),
        path("bench/write/", BenchTrivialWriteApi.as_view()),
        path("", include(settings.ROOT_URLCONF)),
    ]
    return module


class _HttpResponse:
    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code, self.content = status_code, content


class _HttpClient:
    """The test Client's get/post, over one kept-alive HTTP connection to the bench server."""

    def __init__(self, port: int, key: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Api-Key {key}", "Host": "127.0.0.1"}

    def _send(self, method: str, path: str, body: bytes | None, headers: dict) -> _HttpResponse:
        self.connection.request(method, path, body=body, headers={**self.headers, **headers})
        response = self.connection.getresponse()
        return _HttpResponse(response.status, response.read())

    def get(self, path: str, **_kwargs) -> _HttpResponse:
        return self._send("GET", path, None, {})

    def post(self, path: str, data, content_type: str = "application/json", **_kwargs) -> _HttpResponse:
        payload = data if isinstance(data, str | bytes) else json.dumps(data)
        body = payload.encode() if isinstance(payload, str) else payload
        return self._send("POST", path, body, {"Content-Type": content_type})

    def close(self) -> None:
        self.connection.close()


class BenchServer:
    """gunicorn serving the project plus the trivial endpoints (_bench_server.py) on a free local port."""

    def start(self, key: str) -> _HttpClient:
        self.server = LocalServer(
            app="loyalty.management.commands._bench_server:application", worker_class="gthread",
            env={"DATABASE_URL": self._database_url()},
        )
        try:
            self.server.start(timeout=60)
        except RuntimeError:
            raise CommandError("The bench server did not start.") from None
        self.address = f"127.0.0.1:{self.server.port} (one worker, one thread, keep-alive)"
        self.client = _HttpClient(self.server.port, key)
        return self.client

    @staticmethod
    def _database_url() -> str:
        try:
            return database_url()
        except RuntimeError:
            raise CommandError("--server needs PostgreSQL or an SQLite file the server process can open.") from None

    def stop(self) -> None:
        self.client.close()
        self.server.stop()


def bench_tiers_ensure() -> int:
    """Real programs have tiers, and the member read shows the progress to the next one: configure two
    tiers when none exist (Silver is reached by the bench's long history; Gold is out of reach)."""
    if not Tier.objects.exists():
        Tier.objects.create(code="bench-silver", name="Silver", rank=1, threshold=1_000)
        Tier.objects.create(code="bench-gold", name="Gold", rank=2, threshold=10**9)
    return Tier.objects.count()


def history_build(*, member: Member, entries: int, points: int = 10) -> None:
    """Give `member` a consistent history of `entries` ledger entries on their account, by bulk inserts.

    Pairs of transactions: an earn of `points` into a new lot, then a redemption taking that whole lot
    (with its LotAllocation), spread over the past year. Each transaction has two entries summing to zero
    (member available vs system issued/redeemed); balances and lifetime_earned are updated by the totals,
    so `verify_ledger` stays clean. This is what the posting service would have written, without posting
    100,000 transactions one by one.
    """
    pairs = entries // 2
    if pairs == 0:
        return
    now = timezone.now()
    step = timedelta(days=365) / (pairs + 1)
    tag = secrets.token_hex(4)
    available = LedgerAccount.objects.get(member=member, kind=AccountKind.AVAILABLE)
    issued, _ = LedgerAccount.objects.get_or_create(member=None, kind=AccountKind.ISSUED, shard=0)
    redeemed, _ = LedgerAccount.objects.get_or_create(member=None, kind=AccountKind.REDEEMED, shard=0)
    with transaction.atomic():
        for start in range(0, pairs, BATCH):
            count = min(BATCH, pairs - start)
            transactions = []
            for i in range(start, start + count):
                at = now - timedelta(days=365) + step * (i + 1)
                common = {"member": member, "occurred_at": at, "metadata": {"bench": True}}
                transactions.append(
                    LedgerTransaction(
                        kind="earn",
                        reason="Bench purchase",
                        reference=f"bench-{i}",
                        points=points,
                        balance_after=points,
                        idempotency_key=f"bench:{tag}:{member.pk}:earn:{i}",
                        **common,
                    )
                )
                transactions.append(
                    LedgerTransaction(
                        kind="redeem",
                        reason="Bench reward",
                        reference=f"bench-{i}",
                        points=-points,
                        balance_after=0,
                        idempotency_key=f"bench:{tag}:{member.pk}:redeem:{i}",
                        **common,
                    )
                )
            transactions = LedgerTransaction.objects.bulk_create(transactions)
            if any(txn.pk is None for txn in transactions):  # databases that cannot return ids
                keys = [txn.idempotency_key for txn in transactions]
                by_key = dict(
                    LedgerTransaction.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", "pk")
                )
                for txn in transactions:
                    txn.pk = by_key[txn.idempotency_key]
            earns, redeems = transactions[0::2], transactions[1::2]
            LedgerEntry.objects.bulk_create(
                [LedgerEntry(transaction=t, account=available, points=points) for t in earns]
                + [LedgerEntry(transaction=t, account=issued, points=-points) for t in earns]
                + [LedgerEntry(transaction=t, account=available, points=-points) for t in redeems]
                + [LedgerEntry(transaction=t, account=redeemed, points=points) for t in redeems]
            )
            lots = PointLot.objects.bulk_create(
                [
                    PointLot(
                        member=member,
                        transaction=t,
                        points=points,
                        remaining=0,
                        earned_at=t.occurred_at,
                        available_at=t.occurred_at,
                        released_at=t.occurred_at,
                        expires_at=None,
                    )
                    for t in earns
                ]
            )
            if any(lot.pk is None for lot in lots):
                lots = list(PointLot.objects.filter(transaction__in=earns).order_by("transaction_id"))
            LotAllocation.objects.bulk_create(
                [LotAllocation(transaction=t, lot=lot, points=points) for t, lot in zip(redeems, lots, strict=True)]
            )
        total = pairs * points
        LedgerAccount.objects.filter(pk=issued.pk).update(balance=F("balance") - total)
        LedgerAccount.objects.filter(pk=redeemed.pk).update(balance=F("balance") + total)
        Member.objects.filter(pk=member.pk).update(lifetime_earned=F("lifetime_earned") + total)


class Command(BaseCommand):
    help = "Measure purchases/s and balance reads/s through the API next to a trivial endpoint (writes data)."

    def add_arguments(self, parser):
        parser.add_argument("--n", type=int, default=300, help="Requests per kind (split over the rounds).")
        parser.add_argument("--history", type=int, default=100_000, help="Ledger entries of the long-history member.")
        parser.add_argument("--rounds", type=int, default=5, help="Interleaved rounds; figures are medians.")
        parser.add_argument("--check", action="store_true", help="Exit non-zero when a target is missed.")
        parser.add_argument("--noinput", "--no-input", action="store_true", help="Do not ask for confirmation.")
        parser.add_argument("--no-verify", action="store_true", help="Skip verify_ledger at the end.")
        parser.add_argument(
            "--no-tiers", action="store_true", help="Do not configure tiers when none exist (by default two are)."
        )
        parser.add_argument(
            "--server",
            action="store_true",
            help="Send the requests over HTTP to a local gunicorn process (one worker, one thread, keep-alive) "
            "instead of calling the application in this process.",
        )
        parser.add_argument(
            "--no-sync",
            action="store_true",
            help="Do not wait for the disk flush at commit (PostgreSQL: synchronous_commit off; SQLite: "
            "synchronous OFF) for this connection: separates the application's own cost from the disk's "
            "fsync latency. Not durable; for measuring only.",
        )

    def handle(self, *args, **options):
        n, history, rounds = options["n"], options["history"], options["rounds"]
        check, noinput, no_verify, no_sync = (options[name] for name in ("check", "noinput", "no_verify", "no_sync"))
        if n < rounds or rounds < 1 or history < 10:
            raise CommandError("Use --n >= --rounds >= 1 and --history >= 10.")
        database = f"{connection.vendor} ({connection.settings_dict['NAME']})"
        if not noinput:
            answer = input(f"This writes benchmark data into {database}. Use a throwaway database. Go on? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                raise CommandError("Cancelled.")
        if no_sync:
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    cursor.execute("SET synchronous_commit TO OFF")
                else:
                    cursor.execute("PRAGMA synchronous = OFF")
            database += ", commits not flushed to disk (--no-sync)"
        program = program_get()
        tiers = Tier.objects.count() if options["no_tiers"] else bench_tiers_ensure()
        tag = secrets.token_hex(3)
        store = Store.objects.create(slug=f"bench-{tag}", name=f"Benchmark {tag}")
        _key, raw_key = api_key_create(store=store, scope="pos", name="bench_api")
        buyers = [member_create(email=f"bench-{tag}-buyer{i}@example.invalid") for i in range(10)]
        short = member_create(email=f"bench-{tag}-short@example.invalid")
        long = member_create(email=f"bench-{tag}-long@example.invalid")
        started = time.perf_counter()
        history_build(member=short, entries=10)
        history_build(member=long, entries=history)
        built = time.perf_counter() - started
        for member in (short, long):  # the same current balance and open lot for both readers
            points_credit(
                member=member,
                points=500,
                audit=Audit(reason="Bench balance", idempotency_key=f"bench:{tag}:{member.pk}:open"),
            )
        entries = {m.pk: LedgerEntry.objects.filter(account__member=m).count() for m in (short, long)}
        self.stdout.write(
            f"Database: {database}; {tiers} tiers configured; "
            f"history of {entries[long.pk]} entries built in {built:.1f} s "
            f"(short member: {entries[short.pk]} entries)"
        )

        server = BenchServer() if options["server"] else None
        if server is not None:
            client = server.start(raw_key)
            self.stdout.write(f"Requests go over HTTP to a local gunicorn process at {server.address}")
        else:
            client = Client(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
        try:
            self._run(client, server is not None, program=program, short=short, long=long, buyers=buyers,
                      entries=entries, tag=tag, n=n, rounds=rounds, check=check, no_verify=no_verify)
        finally:
            if server is not None:
                server.stop()

    def _run(self, client, over_http, *, program, short, long, buyers, entries, tag, n, rounds, check, no_verify):
        body = {
            "total": "59.90",
            "currency": program.currency,
            "lines": [
                {"sku": "MUG-01", "quantity": 2, "amount": "12.00"},
                {"sku": "TEE-L", "quantity": 1, "amount": "35.90"},
            ],
        }
        counter = iter(range(10**9))

        def trivial_get():
            return client.get("/bench/ok/", secure=True)

        def trivial_post():
            return client.post(
                "/bench/ok/",
                {**body, "member": short.loyalty_id, "order_id": "x"},
                content_type="application/json",
                secure=True,
            )

        def trivial_write():
            return client.post("/bench/write/", body, content_type="application/json", secure=True)

        def purchase():
            i = next(counter)
            data = {**body, "member": buyers[i % len(buyers)].loyalty_id, "order_id": f"bench-{tag}-{i}"}
            return client.post("/api/v1/purchases/", json.dumps(data), content_type="application/json", secure=True)

        def purchase_unversioned():
            with _without_config_version():
                return purchase()

        def read_short():
            return client.get(f"/api/v1/members/{short.loyalty_id}/", secure=True)

        def read_long():
            return client.get(f"/api/v1/members/{long.loyalty_id}/", secure=True)

        def balance_short():
            return client.get(f"/api/v1/members/{short.loyalty_id}/balance/", secure=True)

        def balance_long():
            return client.get(f"/api/v1/members/{long.loyalty_id}/balance/", secure=True)

        kinds = {
            "trivial GET": (trivial_get, 200),
            "trivial POST": (trivial_post, 200),
            "trivial write (1 INSERT + commit)": (trivial_write, 200),
            "POST /purchases/": (purchase, 201),
            f"GET /members/{{id}}/ ({entries[short.pk]} entries)": (read_short, 200),
            f"GET /members/{{id}}/ ({entries[long.pk]} entries)": (read_long, 200),
            f"GET .../balance/ ({entries[short.pk]} entries)": (balance_short, 200),
            f"GET .../balance/ ({entries[long.pk]} entries)": (balance_long, 200),
        }
        if not over_http:  # the A/B of the configuration version needs the purchase in this process
            kinds[UNVERSIONED] = (purchase_unversioned, 201)
        rates: dict[str, list[float]] = {name: [] for name in kinds}
        per_round = max(n // rounds, 1)
        shuffle = random.Random(0)  # noqa: S311 - ordering requests, not security
        with override_settings(ROOT_URLCONF=bench_urlconf(), ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
            queries: dict[str, int | str] = {}
            for name, (request, expected) in kinds.items():  # warm up caches, connections, imports
                for _ in range(3):
                    self._expect(request(), expected)
                with CaptureQueriesContext(connection) as captured:
                    self._expect(request(), expected)
                queries[name] = "-" if over_http else len(captured)  # the server's queries are not seen here
            for _round in range(rounds):
                spent = dict.fromkeys(kinds, 0.0)
                for _ in range(per_round):  # one request of each kind in turn: load changes hit all alike,
                    order = list(kinds.items())
                    shuffle.shuffle(order)  # in a new order each time, so no kind always follows a write
                    for name, (request, expected) in order:
                        started = time.perf_counter()
                        response = request()
                        spent[name] += time.perf_counter() - started
                        self._expect(response, expected)
                for name in kinds:
                    rates[name].append(per_round / spent[name])

        median = {name: statistics.median(values) for name, values in rates.items()}
        names = list(kinds)
        names.remove("trivial write (1 INSERT + commit)")
        write_name = "trivial write (1 INSERT + commit)"
        self.stdout.write(
            f"\n{'endpoint':<40} {'req/s':>9} {'ms/req':>8} {'SQL/req':>8}   ({rounds} rounds x {per_round}, median)"
        )
        for name in kinds:
            self.stdout.write(f"{name:<40} {median[name]:>9.1f} {1000 / median[name]:>8.2f} {queries[name]!s:>8}")
        purchases = median[names[2]] / median[names[1]]
        purchases_write = median[names[2]] / median[write_name]
        reads = median[names[3]] / median[names[0]]
        long_reads = median[names[4]] / median[names[0]]
        history_ratio = median[names[4]] / median[names[3]]
        balance = median[names[5]] / median[names[0]]
        long_balance = median[names[6]] / median[names[0]]
        balance_history = median[names[6]] / median[names[5]]
        results = [
            ("purchases / trivial POST (read-only)", purchases, purchases >= TARGET_PURCHASES,
             f">= {TARGET_PURCHASES:.0%}"),
            ("purchases / trivial write (commits)", purchases_write, purchases_write >= TARGET_PURCHASES,
             f">= {TARGET_PURCHASES:.0%}"),
            ("balance read / trivial GET", balance, balance >= TARGET_READS, f">= {TARGET_READS:.0%}"),
            ("long-history balance / trivial GET", long_balance, long_balance >= TARGET_READS,
             f">= {TARGET_READS:.0%}"),
            (
                f"balance with {entries[long.pk]} vs {entries[short.pk]}",
                balance_history,
                abs(1 - balance_history) <= TARGET_HISTORY,
                f"within {TARGET_HISTORY:.0%}",
            ),
            (
                f"read with {entries[long.pk]} vs {entries[short.pk]} entries",
                history_ratio,
                abs(1 - history_ratio) <= TARGET_HISTORY,
                f"within {TARGET_HISTORY:.0%}",
            ),
        ]
        if UNVERSIONED in median:
            versioned = median["POST /purchases/"] / median[UNVERSIONED]
            results.append(("purchases with / without config version", versioned,
                            versioned >= TARGET_CONFIG_VERSION, f">= {TARGET_CONFIG_VERSION:.0%}"))
        self.stdout.write("")
        for label, value, ok, target in results:
            self.stdout.write(f"{label:<40} {value:>8.0%}   target {target:<11} {'OK' if ok else 'MISSED'}")
        # The issue's read target is the balance read; the full member read adds the tier progress and the
        # expiring points (more queries): shown for information, not held to the 80 %.
        informational = (("full member read / trivial GET", reads), ("long-history member / trivial GET", long_reads))
        for label, value in informational:
            self.stdout.write(f"{label:<40} {value:>8.0%}   (information, no target)")
        if not no_verify:
            started = time.perf_counter()
            problems = ledger_verify()
            self.stdout.write(f"\nverify_ledger: {problems or 'sound'} ({time.perf_counter() - started:.1f} s)")
            if problems:
                raise CommandError("The ledger does not verify after the benchmark.")
        if check and not all(ok for *_rest, ok, _target in results):
            raise CommandError("A target was missed.")

    @staticmethod
    def _expect(response, status: int) -> None:
        if response.status_code != status:
            raise CommandError(f"{response.status_code} instead of {status}: {response.content[:300]!r}")
