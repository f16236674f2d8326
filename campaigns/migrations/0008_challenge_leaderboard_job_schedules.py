"""The beat schedules of the challenge and leaderboard jobs (django-celery-beat; edit or disable them in the admin)."""

from django.db import migrations

from loyalty.schedules import beat_schedules_add, beat_schedules_remove

SCHEDULES = [
    ("Close challenges (hourly, at :05)", "campaigns.tasks.close_challenges", ("5", "*"),
     "Closes challenges whose window ended: a last count, then unfinished progress expires."),
    ("Refresh leaderboards (daily 01:30)", "campaigns.tasks.refresh_leaderboards", ("30", "1"),
     "Recomputes the current leaderboards from the ledger and prunes old periods."),
    ("Award leaderboard prizes (monthly, the 1st at 02:30)", "campaigns.tasks.award_leaderboard_prizes",
     ("30", "2", "1"), "Pays the prizes for the top places of last month's leaderboard."),
]


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0007_challenges_badges_leaderboards"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: beat_schedules_add(apps, SCHEDULES),
            lambda apps, schema_editor: beat_schedules_remove(apps, SCHEDULES),
        )
    ]
