"""Block-range (BRIN) indexes on the dates of postings and purchases, PostgreSQL only: the tier recalculation
reads from them what leaves a rolling or calendar-year window since its last run (and, for the spend metric,
the purchases whose pending period ended). Rows are appended in about date order, so a range of a few pages
per day is enough; a BRIN index costs an insert next to nothing (no entry per row, unlike a B-tree), so the
purchase path keeps its speed. Built CONCURRENTLY (the tables are the largest the purchase path writes);
SQLite has no BRIN and reads those tables whole (its deployments are small)."""

from django.db import migrations

INDEXES = (
    ("ledger_txn_occurred_brin", "loyalty_ledgertransaction", "occurred_at"),
    ("purchase_occurred_brin", "loyalty_purchase", "occurred_at"),
    ("purchase_available_brin", "loyalty_purchase", "available_at"),
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, table, column in INDEXES:
            schema_editor.execute(
                f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON "{table}" USING brin ("{column}")'
            )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, _table, _column in INDEXES:
            schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("loyalty", "0024_kpi_rollups"),
    ]

    operations = [migrations.RunPython(create, drop)]
