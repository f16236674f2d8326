"""System ledger accounts split into shards (loyalty.models.ledger.SYSTEM_ACCOUNT_SHARDS): with one row per kind
every posting waited for the one before it to commit. The existing rows become shard 0; the other shards start
at a balance of 0, so every kind's sum is unchanged."""

from django.db import migrations, models
from django.db.models import Q

SYSTEM_KINDS = ("issued", "redeemed", "expired", "adjustments")
SHARDS = 64


def forwards(apps, schema_editor):
    LedgerAccount = apps.get_model("loyalty", "LedgerAccount")
    for kind in SYSTEM_KINDS:
        for shard in range(SHARDS):
            LedgerAccount.objects.get_or_create(member=None, kind=kind, shard=shard)


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0019_staff_action_referral_reviews")]

    operations = [
        migrations.AddField(
            model_name="ledgeraccount", name="shard",
            field=models.PositiveSmallIntegerField(db_default=0, default=0, verbose_name="shard"),
        ),
        migrations.RemoveConstraint(model_name="ledgeraccount", name="ledger_account_one_system_account_per_kind"),
        migrations.AddConstraint(
            model_name="ledgeraccount",
            constraint=models.UniqueConstraint(
                condition=Q(member__isnull=True), fields=("kind", "shard"),
                name="ledger_account_one_system_account_per_kind_shard",
            ),
        ),
        migrations.AddConstraint(
            model_name="ledgeraccount",
            constraint=models.CheckConstraint(
                condition=Q(shard__lt=SHARDS) & (Q(member__isnull=True) | Q(shard=0)),
                name="ledger_account_shard_of_system_accounts",
            ),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
