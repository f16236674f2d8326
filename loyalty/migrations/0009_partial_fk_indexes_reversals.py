"""Foreign keys that are mostly empty are indexed only where set (a transaction's store and staff user, a tier
change's previous tier and staff user): the expiry and tier jobs write 100,000s of rows with none of them.
Reversals get a small partial index: the tier metric reads them for every member.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('loyalty', '0008_lot_expired_hot_updates'),
        ('members', '0004_member_tier_hot_updates'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='ledgertransaction',
            name='staff_user',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='ledgertransaction',
            name='store',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='loyalty.store'),
        ),
        migrations.AlterField(
            model_name='tierhistory',
            name='from_tier',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='loyalty.tier'),
        ),
        migrations.AlterField(
            model_name='tierhistory',
            name='staff_user',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddIndex(
            model_name='ledgertransaction',
            index=models.Index(condition=models.Q(('store__isnull', False)), fields=['store'], name='ledger_txn_store'),
        ),
        migrations.AddIndex(
            model_name='ledgertransaction',
            index=models.Index(condition=models.Q(('staff_user__isnull', False)), fields=['staff_user'], name='ledger_txn_staff_user'),
        ),
        migrations.AddIndex(
            model_name='ledgertransaction',
            index=models.Index(condition=models.Q(('kind', 'reverse')), fields=['member', 'occurred_at'], name='ledger_txn_reversals'),
        ),
        migrations.AddIndex(
            model_name='tierhistory',
            index=models.Index(condition=models.Q(('from_tier__isnull', False)), fields=['from_tier'], name='tier_history_from_tier'),
        ),
        migrations.AddIndex(
            model_name='tierhistory',
            index=models.Index(condition=models.Q(('staff_user__isnull', False)), fields=['staff_user'], name='tier_history_staff_user'),
        ),
    ]
