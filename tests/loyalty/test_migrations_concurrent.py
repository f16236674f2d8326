"""Index changes on the large tables the purchase path writes are built without blocking writes on
PostgreSQL (CREATE/DROP INDEX CONCURRENTLY, loyalty.db.AddIndexConcurrently), and plainly elsewhere (every
test run on SQLite applies them)."""

from io import StringIO

import pytest
from django.core.management import call_command


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
