"""PostgreSQL only: member rows keep 55% of each page free instead of 50%. A member's first tier fills
tier, tier_since and the stored metric (about 24 more bytes per row); with short rows, half a page is not
enough room for every row of a page to be rewritten in place (a HOT update) when a recalculation moves
them all, and each row that does not fit writes a new entry into every index of the table. The setting
applies to pages written from now on; `VACUUM FULL` (or pg_repack) applies it to existing rows.
"""

from django.db import migrations


def fillfactor_set(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE members_member SET (fillfactor = 45)")


def fillfactor_back(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE members_member SET (fillfactor = 50)")


class Migration(migrations.Migration):
    dependencies = [("members", "0004_member_tier_hot_updates")]
    operations = [migrations.RunPython(fillfactor_set, fillfactor_back)]
