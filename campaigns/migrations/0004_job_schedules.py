"""Default Celery beat schedules of the campaign jobs (django-celery-beat; edit or disable them in the admin).

Times are in the site's time zone. Existing entries with the same name are left as they are.
"""

import json

from django.conf import settings
from django.db import migrations
from django.utils import timezone

# name, task, cron (minute, hour, day of month), description
SCHEDULES = [
    ("Close challenges (hourly)", "campaigns.tasks.close_challenges", ("5", "*", "*"),
     "Closes challenges whose window ended: a last count, then unfinished progress expires."),
    ("Refresh leaderboards (daily 01:30)", "campaigns.tasks.refresh_leaderboards", ("30", "1", "*"),
     "Recomputes the current leaderboards from the ledger and prunes old periods."),
    ("Award leaderboard prizes (monthly, the 1st at 02:30)", "campaigns.tasks.award_leaderboard_prizes",
     ("30", "2", "1"), "Pays the prizes for the top places of last month's leaderboard."),
]


def forwards(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    tz = getattr(settings, "CELERY_TIMEZONE", None) or settings.TIME_ZONE
    for name, task, (minute, hour, day), description in SCHEDULES:
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        crontab, _created = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_week="*", day_of_month=day, month_of_year="*", timezone=tz
        )
        PeriodicTask.objects.create(
            name=name, task=task, crontab=crontab, args="[]", kwargs=json.dumps({}), description=description,
            enabled=True,
        )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def backwards(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, *_rest in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0003_challenges_badges_leaderboards"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
