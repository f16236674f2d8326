"""When each member's progress on a challenge started, for the KPI dashboard's challenge completion table.

Rows written before this migration get the earliest moment known of them: the completion, or the last update
(an upper bound: the first progress came no later). Rows without progress (a value taken back to 0 by a refund
and never completed) keep none, as the admin's "started" count leaves them out too."""

from django.db import migrations, models
from django.db.models import Q
from django.db.models.functions import Coalesce, Least


def started_at_backfill(apps, schema_editor):
    ChallengeProgress = apps.get_model("campaigns", "ChallengeProgress")
    ChallengeProgress.objects.filter(Q(value__gt=0) | Q(status="completed"), started_at__isnull=True).update(
        # SQLite's MIN() of a NULL is NULL (PostgreSQL's LEAST skips it): then the last update.
        started_at=Coalesce(Least("completed_at", "updated_at"), "updated_at")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0009_staff_roles"),
    ]

    operations = [
        migrations.AddField(
            model_name="challengeprogress",
            name="started_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="started at"),
        ),
        migrations.AddIndex(
            model_name="challengeprogress",
            index=models.Index(fields=["started_at"], name="challenge_progress_started"),
        ),
        migrations.RunPython(started_at_backfill, migrations.RunPython.noop),
    ]
