"""Index changes on the large tables the purchase path writes are built without blocking writes on
PostgreSQL (CREATE/DROP INDEX CONCURRENTLY, loyalty.db.AddIndexConcurrently), and plainly elsewhere (every
test run on SQLite applies them)."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection


def sql(*args) -> str:
    out = StringIO()
    call_command("sqlmigrate", *args, stdout=out)
    return out.getvalue()


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_open_lots_index_is_built_and_dropped_concurrently_on_postgresql():
    forwards, backwards = sql("loyalty", "0021"), sql("--backwards", "loyalty", "0021")
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "point_lot_expiry"' in forwards
    assert 'CREATE INDEX CONCURRENTLY "point_lot_open_expiry"' in forwards
    assert 'CREATE INDEX CONCURRENTLY "point_lot_expiry"' in backwards
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "point_lot_open_expiry"' in backwards
    assert "BEGIN" not in forwards  # outside a transaction (atomic = False)


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_dates_of_postings_and_purchases_have_brin_indexes_on_postgresql():
    """The tier recalculation reads what left its window from them (migration 0025)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE '%%_brin'")
        indexes = dict(cursor.fetchall())
    assert set(indexes) == {"ledger_txn_occurred_brin", "purchase_occurred_brin", "purchase_available_brin"}
    assert all("USING brin" in definition for definition in indexes.values())
