"""Expiry is recorded on the lot (`PointLot.expired`) instead of one LotAllocation per expired lot, and the
tables that the postings and the expiry job update keep room for in-place (HOT) updates.

- `expired` has a database default of 0, so inserts that do not name it (COPY, raw SQL) keep working.
  Expiries recorded before this migration stay LotAllocations of their `expire` transactions;
  `verify_ledger` counts both. point_lot_remaining_in_range becomes 0 <= remaining <= points - expired.
- No index on point lots mentions `remaining` (nor `expired`): the partial "open lots" indexes become
  plain ones, so emptying a lot does not have to write index entries.
- Indexes covered by a wider one that leads with the same column are dropped (lot member, transaction
  member, entry account).
- PostgreSQL only: point lots and ledger accounts keep half of each page free (fillfactor 50), so a lot's
  or a balance's new row version fits on its own page. The setting applies to pages written from now on;
  `VACUUM FULL` (or pg_repack) applies it to the existing rows.
"""

import django.db.models.deletion
import django.db.models.expressions
from django.db import migrations, models

FILLFACTOR = {"loyalty_pointlot": 50, "loyalty_ledgeraccount": 50}


def fillfactor_set(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table, percent in FILLFACTOR.items():
            schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {int(percent)})")


def fillfactor_reset(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table in FILLFACTOR:
            schema_editor.execute(f"ALTER TABLE {table} RESET (fillfactor)")


class Migration(migrations.Migration):

    dependencies = [
        ('loyalty', '0007_verbose_name_plural'),
        ('members', '0003_verbose_name_plural'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='pointlot',
            name='point_lot_remaining_in_range',
        ),
        migrations.RemoveIndex(
            model_name='pointlot',
            name='point_lot_fifo_open',
        ),
        migrations.RemoveIndex(
            model_name='pointlot',
            name='point_lot_expiring',
        ),
        migrations.RemoveIndex(
            model_name='pointlot',
            name='point_lot_pending',
        ),
        migrations.AddField(
            model_name='pointlot',
            name='expired',
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.AlterField(
            model_name='ledgerentry',
            name='account',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='entries', to='loyalty.ledgeraccount'),
        ),
        migrations.AlterField(
            model_name='ledgertransaction',
            name='member',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='ledger_transactions', to='members.member'),
        ),
        migrations.AlterField(
            model_name='pointlot',
            name='member',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='lots', to='members.member'),
        ),
        migrations.AddIndex(
            model_name='pointlot',
            index=models.Index(fields=['member', 'expires_at', 'earned_at', 'id'], name='point_lot_member_fifo'),
        ),
        migrations.AddIndex(
            model_name='pointlot',
            index=models.Index(fields=['expires_at'], name='point_lot_expiry'),
        ),
        migrations.AddIndex(
            model_name='pointlot',
            index=models.Index(condition=models.Q(('released_at__isnull', True)), fields=['member', 'available_at'], name='point_lot_pending'),
        ),
        migrations.AddConstraint(
            model_name='pointlot',
            constraint=models.CheckConstraint(condition=models.Q(('remaining__gte', 0), ('remaining__lte', django.db.models.expressions.CombinedExpression(models.F('points'), '-', models.F('expired')))), name='point_lot_remaining_in_range'),
        ),
        migrations.AddConstraint(
            model_name='pointlot',
            constraint=models.CheckConstraint(condition=models.Q(('expired__gte', 0)), name='point_lot_expired_non_negative'),
        ),
        migrations.RunPython(fillfactor_set, fillfactor_reset),
    ]
