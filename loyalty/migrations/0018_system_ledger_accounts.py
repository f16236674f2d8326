"""The system ledger accounts (issued, redeemed, expired, adjustments) exist from the start: made on first use,
two postings at once on a fresh database could deadlock creating them. The posting service still makes one
that is missing (a flushed test database)."""

from django.db import migrations

SYSTEM_KINDS = ("issued", "redeemed", "expired", "adjustments")


def forwards(apps, schema_editor):
    LedgerAccount = apps.get_model("loyalty", "LedgerAccount")
    for kind in SYSTEM_KINDS:
        LedgerAccount.objects.get_or_create(member=None, kind=kind)


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0017_api_key_lookups_limited_until")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
