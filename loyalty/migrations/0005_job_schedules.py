"""Default Celery beat schedules for the jobs (django-celery-beat; edit or disable them in the admin).

Times are in the site's time zone (settings.TIME_ZONE at migration time). Existing entries with the same
name are left as they are, so re-running this never overwrites an operator's edits.
"""

import json

from django.conf import settings
from django.db import migrations
from django.utils import timezone

# name, task, cron (minute, hour), description
SCHEDULES = [
    ("Release pending points (hourly)", "loyalty.tasks.release_pending_points", ("0", "*"),
     "Moves pending points whose pending period ended to available."),
    ("Expire points (daily 02:00)", "loyalty.tasks.expire_points", ("0", "2"),
     "Expires the remaining points of lots past their expiry date."),
    ("Recalculate tiers (daily 03:00)", "loyalty.tasks.recalculate_tiers", ("0", "3"),
     "Applies tier downgrades and upgrades due today."),
    ("Verify ledger (daily 04:00)", "loyalty.tasks.verify_ledger", ("0", "4"),
     "Checks every ledger invariant; breaches are logged at ERROR level."),
    ("Award birthday bonuses (daily 06:00)", "loyalty.tasks.award_birthday_bonuses", ("0", "6"),
     "Credits the birthday bonus to members whose birthday is today."),
    ("Send expiry reminders (daily 09:00)", "loyalty.tasks.send_expiry_reminders", ("0", "9"),
     "Emails members whose points expire within the warning days."),
]


def forwards(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    tz = getattr(settings, "CELERY_TIMEZONE", None) or settings.TIME_ZONE
    for name, task, (minute, hour), description in SCHEDULES:
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        crontab, _created = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone=tz
        )
        PeriodicTask.objects.create(
            name=name, task=task, crontab=crontab, args="[]", kwargs=json.dumps({}), description=description,
            enabled=True,
        )
    # Tell a running beat (DatabaseScheduler) that its schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def backwards(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, *_rest in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty", "0004_tier_membership_unique_order_no_store"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
