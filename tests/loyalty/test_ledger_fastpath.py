"""The ledger writer's short cuts keep its invariants: cached system account ids heal themselves, a
duplicate key that slips past the look-up is still a clean IdempotencyConflict, one UPDATE moves all balances."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loyalty.models import AccountKind, LedgerAccount, LedgerTransaction, PointLot, Program
from loyalty.services import ledger
from loyalty.services.ledger import Audit, IdempotencyConflict, points_credit
from loyalty.services.program import config_memo
from loyalty.services.verify import ledger_verify
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def balance(member, kind=AccountKind.AVAILABLE):
    return LedgerAccount.objects.get(member=member, kind=kind).balance


def test_a_stale_system_account_id_is_refetched(member, monkeypatch):
    other = MemberFactory()
    wrong = LedgerAccount.objects.get(member=other, kind=AccountKind.AVAILABLE).pk
    key = (AccountKind.ISSUED, ledger.system_shard(member.pk))
    monkeypatch.setitem(ledger._system_ids_cache, key, wrong)  # e.g. after a database restore
    txn = points_credit(member=member, points=40, audit=Audit(reason="t"))
    issued = LedgerAccount.objects.get(member=None, kind=AccountKind.ISSUED, shard=key[1])
    assert ledger._system_ids_cache[key] == issued.pk
    assert (balance(member), balance(other), issued.balance) == (40, 0, -40)
    assert {entry.account_id for entry in txn.entries.all()} == {issued.pk, balance_account(member).pk}
    monkeypatch.setitem(ledger._system_ids_cache, AccountKind.ISSUED, 10**9)  # an id that no longer exists
    points_credit(member=member, points=2, audit=Audit(reason="t"))
    assert balance(member) == 42
    assert ledger_verify() == []


def balance_account(member):
    return LedgerAccount.objects.get(member=member, kind=AccountKind.AVAILABLE)


def test_a_duplicate_key_past_the_lookup_is_an_idempotency_conflict(member, monkeypatch):
    other = MemberFactory()
    points_credit(member=other, points=5, audit=Audit(reason="t", idempotency_key="k1"))
    monkeypatch.setattr(ledger, "_replay", lambda audit, **kwargs: None)  # as if posted concurrently
    with pytest.raises(IdempotencyConflict):
        points_credit(member=member, points=7, audit=Audit(reason="t", idempotency_key="k1"))
    assert balance(member) == 0  # nothing of the refused posting is left
    assert not LedgerTransaction.objects.filter(member=member).exists()
    assert not PointLot.objects.filter(member=member).exists()
    points_credit(member=member, points=7, audit=Audit(reason="t", idempotency_key="k2"))  # still usable
    assert balance(member) == 7
    assert ledger_verify() == []


def test_one_update_moves_every_balance_and_the_new_lot_rides_on_the_transaction(member):
    points_credit(member=member, points=1, audit=Audit(reason="warm"))
    with CaptureQueriesContext(connection) as queries:
        txn = points_credit(member=member, points=30, audit=Audit(reason="t"))
    sqls = [query["sql"] for query in queries.captured_queries]
    updates = [sql for sql in sqls if re.search(r'UPDATE "loyalty_ledgeraccount"( a)? SET', sql)]  # PG: in one WITH
    assert len(updates) == 1
    assert txn.lot == PointLot.objects.get(transaction=txn) and txn.lot.remaining == 30
    issued = sum(LedgerAccount.objects.filter(member=None, kind=AccountKind.ISSUED).values_list("balance", flat=True))
    assert (balance(member), issued) == (31, -31)
    assert ledger_verify() == []


def _written(member) -> dict:
    """What the ledger holds for `member`, without ids and clock times."""
    txns = LedgerTransaction.objects.filter(member=member).order_by("id")
    return {
        "transactions": [
            (t.kind, t.reason, t.reference, t.store_id, t.job, t.points, t.balance_after, t.metadata,
             t.idempotency_key.replace(str(member.pk), "M"), t.occurred_at)
            for t in txns
        ],
        "entries": [
            sorted((e.account.kind, e.account.member_id is None, e.points) for e in t.entries.all()) for t in txns
        ],
        "lots": list(PointLot.objects.filter(member=member).order_by("id").values_list(
            "points", "remaining", "earned_at", "available_at", "released_at", "expires_at")),
        "balances": sorted(LedgerAccount.objects.filter(member=member).values_list("kind", "balance")),
        "lifetime_earned": type(member).objects.get(pk=member.pk).lifetime_earned,
    }


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement credit is PostgreSQL's")
def test_the_one_statement_credit_writes_what_the_orm_path_writes(monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from loyalty.services.ledger import points_reverse

    now = timezone.now().replace(microsecond=0)
    results = []
    for vendor in ("postgresql", "orm"):
        member = MemberFactory()
        with monkeypatch.context() as patch:
            if vendor == "orm":
                patch.setattr(connection, "vendor", "other")  # the generic path (SQLite's)
            def credit(points, key, **kwargs):
                return points_credit(member=member, points=points, now=now, audit=Audit(
                    reason="r", reference="ref", idempotency_key=f"{key}:{member.pk}", occurred_at=now,
                    metadata={"n": points}), **kwargs)
            credit(10, "a")
            credit(5, "b", available_at=now + timedelta(days=3))  # pending
            credit(7, "c", kind="bonus", expires_at=now + timedelta(days=30))
            points_reverse(member=member, points=30, audit=Audit(reason="debt", idempotency_key=f"d:{member.pk}",
                                                                occurred_at=now))
            credit(20, "e")  # pays the debt of 13 first
            assert credit(20, "e").points == 20  # a replay writes nothing
        results.append(_written(member))
    assert results[0] == results[1]
    assert results[0]["balances"] == [("available", 7), ("pending", 5)]
    assert ledger_verify() == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement credit is PostgreSQL's")
def test_a_credit_is_one_statement_after_the_lock(member, django_capture_on_commit_callbacks):
    Program.objects.get_or_create(pk=1)
    with config_memo():  # as in a request or a job: the configuration version is read once
        with django_capture_on_commit_callbacks(execute=True):  # warm: the cached program
            points_credit(member=member, points=1, audit=Audit(reason="warm"))
        with CaptureQueriesContext(connection) as queries:
            points_credit(member=member, points=30, audit=Audit(reason="t"))
    sqls = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(sqls) == 2 and "FOR UPDATE" in sqls[0] and sqls[1].lstrip().startswith("WITH"), [s[:60] for s in sqls]
