"""`python manage.py bench_portal`: server-side render times of every portal page for a member with a long
history (10,000 ledger transactions by default), with the SQL queries each page asks.

It writes data (a member, their ledger, coupons, a reward), so run it on a throwaway database:

    DATABASE_URL=sqlite:////tmp/bench-portal.sqlite3 DEBUG=true python manage.py migrate
    DATABASE_URL=sqlite:////tmp/bench-portal.sqlite3 DEBUG=true python manage.py bench_portal --noinput

Each page is requested in-process (Django's test client: routing, middleware, session, views, templates,
database) `--n` times after two warm-up requests; the median and 90th percentile are printed against the
target (100 ms). Downloads (the CSV history, the data file) are listed for information.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, reset_queries, transaction
from django.db.models import F
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone

from loyalty.models import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    LotAllocation,
    PointLot,
    Tier,
)
from loyalty.services.ledger import _system_account_ids
from loyalty.services.tiers import member_tier_upgrade_check, tier_create
from members.models import Member, User
from members.services import member_create

TARGET_MS = 100
BENCH_DOMAIN = "bench-portal.example.com"
# One group of postings, repeated: a pending purchase and its release, purchases, a bonus, a redemption.
GROUP = [("earn", 60, True), ("release", 60, False), ("earn", 35, False), ("earn", 80, False),
         ("bonus", 25, False), ("earn", 45, False), ("earn", 70, False), ("redeem", 150, False),
         ("earn", 55, False), ("earn", 30, False)]


def portal_history_build(*, member: Member, transactions: int, now: datetime | None = None) -> int:
    """Give `member` a consistent ledger of `transactions` postings over the years before `now` (bulk
    inserts, not the services: 10,000 postings in about a second). Every redemption gets a coupon.
    Returns the number of coupons made."""
    from rewards.models import Redemption, RedemptionStatus, Reward, RewardKind

    now = now or timezone.now()
    issued, redeemed = _system_account_ids([AccountKind.ISSUED, AccountKind.REDEEMED])
    accounts = {account.kind: account for account in LedgerAccount.objects.filter(member=member)}
    available, pending = accounts[AccountKind.AVAILABLE], accounts[AccountKind.PENDING]
    reward, _created = Reward.objects.get_or_create(
        code="bench-coffee", defaults={"name": "Bench coffee", "kind": RewardKind.FREE_PRODUCT, "cost_points": 150}
    )
    step = timedelta(hours=6)
    start = now - step * (transactions + 1)
    txns: list[LedgerTransaction] = []
    entries: list[LedgerEntry] = []
    lots: list[PointLot] = []
    allocations: list[LotAllocation] = []
    coupons: list[Redemption] = []
    balance = earned = 0
    open_lots: list[list] = []  # [lot index, remaining], oldest first
    open_total = 0
    pending_lot, pending_index = None, -1
    with transaction.atomic():
        first_id = (LedgerTransaction.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        first_lot = (PointLot.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        for index in range(transactions):
            kind, points, is_pending = GROUP[index % len(GROUP)]
            when = start + step * index
            txn_id = first_id + index
            if kind == "redeem" and open_total < points:
                kind, points = "earn", 40
            change = 0
            if kind in ("earn", "bonus"):
                account = pending if is_pending else available
                entries += [LedgerEntry(transaction_id=txn_id, account_id=account.pk, points=points),
                            LedgerEntry(transaction_id=txn_id, account_id=issued, points=-points)]
                lot = PointLot(
                    id=first_lot + len(lots), member=member, transaction_id=txn_id, points=points, remaining=points,
                    earned_at=when, available_at=when + (timedelta(days=14) if is_pending else timedelta(0)),
                    released_at=None if is_pending else when, expires_at=when + timedelta(days=365 * 4),
                )
                lots.append(lot)
                if is_pending:
                    pending_lot, pending_index = lot, len(lots) - 1
                else:
                    open_lots.append([len(lots) - 1, points])
                    open_total += points
                change, earned = points, earned + points
                reason = (
                    ("Purchase %(order)s", {"order": f"B-{txn_id:06d}"}) if kind == "earn" else ("Birthday bonus", {})
                )
                metadata: dict = {}
            elif kind == "release":
                assert pending_lot is not None
                entries += [LedgerEntry(transaction_id=txn_id, account_id=pending.pk, points=-pending_lot.points),
                            LedgerEntry(transaction_id=txn_id, account_id=available.pk, points=pending_lot.points)]
                pending_lot.released_at = when
                open_lots.append([pending_index, pending_lot.points])
                open_total += pending_lot.points
                reason, metadata = ("Pending points released", {}), {"lots": [pending_lot.id]}
                pending_lot = None
            else:  # redeem, FIFO from the open lots
                entries += [LedgerEntry(transaction_id=txn_id, account_id=available.pk, points=-points),
                            LedgerEntry(transaction_id=txn_id, account_id=redeemed, points=points)]
                left = points
                while left:
                    lot_index, remaining = open_lots[0]
                    take = min(remaining, left)
                    allocations.append(LotAllocation(transaction_id=txn_id, lot_id=lots[lot_index].id, points=take))
                    lots[lot_index].remaining -= take
                    left -= take
                    if take == remaining:
                        open_lots.pop(0)
                    else:
                        open_lots[0][1] -= take
                open_total -= points
                change = -points
                reason, metadata = ("Reward redeemed: %(name)s", {"name": reward.name}), {"reward": reward.code}
                used = len(coupons) % 4 != 0
                coupons.append(Redemption(
                    member=member, reward=reward, kind=reward.kind, points=points, value=reward.value, currency="EUR",
                    code=f"BENCH{txn_id:011d}", issued_at=when, expires_at=when + timedelta(days=90),
                    status=RedemptionStatus.USED if used else RedemptionStatus.EXPIRED,
                    used_at=when + timedelta(days=3) if used else None, used_order_id="B-USED" if used else "",
                    transaction_id=txn_id,
                ))
            balance += change
            msgid, params = reason
            txns.append(LedgerTransaction(
                id=txn_id, kind=kind, member=member, reason=msgid % params if params else msgid, reason_msgid=msgid,
                reason_params=params, occurred_at=when, idempotency_key=f"bench-portal:{member.pk}:{index}",
                points=change, balance_after=balance, metadata=metadata,
                reference=params.get("order", ""),
            ))
        LedgerTransaction.objects.bulk_create(txns, batch_size=2000)
        LedgerEntry.objects.bulk_create(entries, batch_size=2000)
        PointLot.objects.bulk_create(lots, batch_size=2000)
        LotAllocation.objects.bulk_create(allocations, batch_size=2000)
        Redemption.objects.bulk_create(coupons, batch_size=2000)
        pending_total = pending_lot.remaining if pending_lot is not None else 0
        LedgerAccount.objects.filter(pk=pending.pk).update(balance=pending_total)
        LedgerAccount.objects.filter(pk=available.pk).update(balance=balance - pending_total)
        for system, delta in ((issued, -earned), (redeemed, earned - balance)):
            LedgerAccount.objects.filter(pk=system).update(balance=F("balance") + delta)
        Member.objects.filter(pk=member.pk).update(lifetime_earned=earned, tier_metric_at=None)
    return len(coupons)


class Command(BaseCommand):
    help = "Server-side render times and SQL query counts of the portal's pages for a member with a long history."

    def add_arguments(self, parser):
        parser.add_argument("--transactions", type=int, default=10_000, help="Ledger postings of the member.")
        parser.add_argument("--n", type=int, default=20, help="Requests per page (after two warm-ups).")
        parser.add_argument("--noinput", "--no-input", action="store_true", help="Do not ask for confirmation.")
        parser.add_argument("--check", action="store_true", help="Exit non-zero when a page misses the target.")

    def handle(self, *args, **options):
        if not options["noinput"]:
            answer = input(f"This writes a bench member to {connection.settings_dict['NAME']}. Continue? [y/N] ")
            if answer.strip().lower() != "y":
                raise CommandError("Cancelled.")
        member, user = self._member(options["transactions"])
        client = Client()
        client.force_login(user)
        coupon = member.redemptions.order_by("-pk").first()
        pages = [
            ("dashboard", reverse("portal:dashboard")),
            ("history", reverse("portal:history")),
            ("history, page 40", reverse("portal:history") + "?page=40"),
            ("history, filtered", reverse("portal:history") + "?kind=earn&date_from="
             + (timezone.localdate() - timedelta(days=400)).isoformat()),
            ("card", reverse("portal:card")),
            ("profile", reverse("portal:profile")),
            ("close membership", reverse("portal:close_account")),
            ("rewards", reverse("rewards:catalogue")),
            ("reward", reverse("rewards:reward", args=["bench-coffee"])),
            ("my coupons", reverse("rewards:my_coupons")),
            ("coupon", reverse("rewards:coupon", args=[coupon.pk])),
        ]
        downloads = [
            ("history CSV (download)", reverse("portal:history_csv")),
            ("my data JSON (download)", reverse("portal:data_download")),
        ]
        engine = connection.vendor
        self.stdout.write(f"{engine}: member with {member.ledger_transactions.count():,} transactions, "
                          f"{member.redemptions.count():,} coupons; {options['n']} requests per page")
        self.stdout.write(f"{'page':<26}{'median ms':>10}{'p90 ms':>9}{'queries':>9}  target < {TARGET_MS} ms")
        missed = []
        for name, url in pages + downloads:
            median, p90, queries = self._time(client, url, options["n"])
            verdict = "" if (name, url) in downloads else ("PASS" if median < TARGET_MS else "FAIL")
            if verdict == "FAIL":
                missed.append(name)
            self.stdout.write(f"{name:<26}{median:>10.1f}{p90:>9.1f}{queries:>9}  {verdict}")
        if missed and options["check"]:
            raise CommandError(f"over {TARGET_MS} ms: {', '.join(missed)}")

    def _member(self, transactions: int) -> tuple[Member, User]:
        email = f"member{transactions}@{BENCH_DOMAIN}"
        member = Member.objects.filter(email=email).first()
        if member is None:
            if not Tier.objects.exists():  # the dashboard's tier progress is part of what is measured
                for rank, (code, threshold) in enumerate((("bronze", 0), ("silver", 10**6), ("gold", 10**7)), 1):
                    tier_create(code=f"bench-{code}", name=f"Bench {code.title()}", rank=rank, threshold=threshold)
            user = User.objects.create_user(email=email, password=None)
            member = member_create(email=email, first_name="Bench", last_name="Member", user=user)
            started = time.perf_counter()
            portal_history_build(member=member, transactions=transactions)
            member_tier_upgrade_check(member=member)  # stores the tier metric, as every posting does
            self.stdout.write(f"built {transactions:,} transactions in {time.perf_counter() - started:.1f} s")
        assert member.user is not None
        return member, member.user

    @staticmethod
    def _time(client: Client, url: str, n: int) -> tuple[float, float, int]:
        """Median and 90th percentile of `n` requests in ms (after two warm-ups), and the page's SQL count."""
        for _warm_up in range(2):
            response = client.get(url)
            if response.status_code != 200:
                raise CommandError(f"{url} answered {response.status_code}")
            if response.streaming:
                b"".join(response.streaming_content)  # type: ignore[attr-defined]
        times = []
        with override_settings(DEBUG=True):
            reset_queries()
            response = client.get(url)
            if response.streaming:
                b"".join(response.streaming_content)  # type: ignore[attr-defined]
            queries = len(connection.queries)
        debug = settings.DEBUG
        settings.DEBUG = False  # no SQL log while timing
        try:
            for _request in range(n):
                started = time.perf_counter()
                response = client.get(url)
                if response.streaming:
                    b"".join(response.streaming_content)  # type: ignore[attr-defined]
                times.append((time.perf_counter() - started) * 1000)
        finally:
            settings.DEBUG = debug
        times.sort()
        return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.9))], queries
