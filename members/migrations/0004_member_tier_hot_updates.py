"""Member rows are updated in place: the tier, the stored tier metric and lifetime_earned change often (every
posting, the nightly tier recalculation), so none of them is indexed (the tier's FK index goes) and, on
PostgreSQL, half of each page is kept free (fillfactor 50) for the new row versions (HOT updates). The
setting applies to pages written from now on; `VACUUM FULL` (or pg_repack) applies it to existing rows.
"""

import django.db.models.deletion
from django.db import migrations, models


def fillfactor_set(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE members_member SET (fillfactor = 50)")


def fillfactor_reset(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE members_member RESET (fillfactor)")


class Migration(migrations.Migration):

    dependencies = [
        ('loyalty', '0008_lot_expired_hot_updates'),
        ('members', '0003_verbose_name_plural'),
    ]

    operations = [
        migrations.AlterField(
            model_name='member',
            name='tier',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='members', to='loyalty.tier', verbose_name='tier'),
        ),
        migrations.RunPython(fillfactor_set, fillfactor_reset),
    ]
