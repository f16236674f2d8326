"""PostgreSQL only: entries of a ledger transaction must sum to zero (checked at commit), and entries are
append-only. SQLite relies on the one posting service and on `verify_ledger`."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION loyalty_ledger_transaction_balanced() RETURNS trigger AS $$
DECLARE
    total bigint;
BEGIN
    SELECT COALESCE(SUM(points), 0) INTO total FROM loyalty_ledgerentry WHERE transaction_id = NEW.transaction_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: entries sum to %', NEW.transaction_id, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER loyalty_ledgerentry_balanced
    AFTER INSERT ON loyalty_ledgerentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION loyalty_ledger_transaction_balanced();

CREATE OR REPLACE FUNCTION loyalty_ledgerentry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only: correct them with a reversing transaction'
        USING ERRCODE = 'check_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER loyalty_ledgerentry_no_change
    BEFORE UPDATE OR DELETE ON loyalty_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION loyalty_ledgerentry_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS loyalty_ledgerentry_no_change ON loyalty_ledgerentry;
DROP FUNCTION IF EXISTS loyalty_ledgerentry_append_only();
DROP TRIGGER IF EXISTS loyalty_ledgerentry_balanced ON loyalty_ledgerentry;
DROP FUNCTION IF EXISTS loyalty_ledger_transaction_balanced();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0002_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
