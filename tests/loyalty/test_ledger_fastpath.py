"""The ledger writer's short cuts keep its invariants: cached system account ids heal themselves, a
duplicate key that slips past the look-up is still a clean IdempotencyConflict, one UPDATE moves all balances."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loyalty.models import AccountKind, LedgerAccount, LedgerTransaction, PointLot
from loyalty.services import ledger
from loyalty.services.ledger import Audit, IdempotencyConflict, points_credit
from loyalty.services.verify import ledger_verify
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def balance(member, kind=AccountKind.AVAILABLE):
    return LedgerAccount.objects.get(member=member, kind=kind).balance


def test_a_stale_system_account_id_is_refetched(member, monkeypatch):
    other = MemberFactory()
    wrong = LedgerAccount.objects.get(member=other, kind=AccountKind.AVAILABLE).pk
    monkeypatch.setitem(ledger._system_ids_cache, AccountKind.ISSUED, wrong)  # e.g. after a database restore
    txn = points_credit(member=member, points=40, audit=Audit(reason="t"))
    issued = LedgerAccount.objects.get(member=None, kind=AccountKind.ISSUED)
    assert ledger._system_ids_cache[AccountKind.ISSUED] == issued.pk
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
    updates = [sql for sql in sqls if sql.startswith("UPDATE") and "ledgeraccount" in sql]
    assert len(updates) == 1
    assert txn.lot == PointLot.objects.get(transaction=txn) and txn.lot.remaining == 30
    assert (balance(member), LedgerAccount.objects.get(member=None, kind=AccountKind.ISSUED).balance) == (31, -31)
    assert ledger_verify() == []
