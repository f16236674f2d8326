"""Challenge progress `cancelled`: the member's membership was closed before the challenge was completed.

Unfinished progress of members closed before this migration (left `in_progress`, where it could never
complete) is cancelled now, keeping its value, as closing a membership does from now on."""

from django.db import migrations, models
from django.utils import timezone


def closed_members_progress_cancel(apps, schema_editor):
    ChallengeProgress = apps.get_model("campaigns", "ChallengeProgress")
    ChallengeProgress.objects.filter(status="in_progress", member__status="closed").update(
        status="cancelled", updated_at=timezone.now()
    )


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0010_challenge_progress_started_at"),
        ("members", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="challengeprogress",
            name="status",
            field=models.CharField(
                choices=[("in_progress", "In progress"), ("completed", "Completed"), ("expired", "Expired"),
                         ("cancelled", "Cancelled: membership closed")],
                default="in_progress", max_length=12, verbose_name="status",
            ),
        ),
        migrations.RunPython(closed_members_progress_cancel, migrations.RunPython.noop),
    ]
