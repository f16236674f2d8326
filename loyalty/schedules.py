"""Default Celery beat schedules, added by data migrations (django-celery-beat; editable in the admin).

Times are in the site's time zone (settings.TIME_ZONE at migration time). An entry with the same name is left
as it is, so re-running a migration never overwrites an operator's edits.
"""

import json

from django.conf import settings
from django.utils import timezone

# Each schedule: (name, task, (minute, hour) or (minute, hour, day of the month), description).
Schedule = tuple[str, str, tuple[str, ...], str]


def beat_schedules_add(apps, schedules: list[Schedule]) -> None:
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    tz = getattr(settings, "CELERY_TIMEZONE", None) or settings.TIME_ZONE
    for name, task, (minute, hour, *day), description in schedules:
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        crontab, _created = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_week="*", day_of_month=day[0] if day else "*", month_of_year="*",
            timezone=tz,
        )
        PeriodicTask.objects.create(
            name=name, task=task, crontab=crontab, args="[]", kwargs=json.dumps({}), description=description,
            enabled=True,
        )
    # Tell a running beat (DatabaseScheduler) that its schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def beat_schedules_remove(apps, schedules: list[Schedule]) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[name for name, *_rest in schedules]
    ).delete()
