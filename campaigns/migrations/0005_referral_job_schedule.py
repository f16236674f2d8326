"""The beat schedule of the referral catch-up job (django-celery-beat; edit or disable it in the admin).
An existing entry with the same name is left as it is."""

import json

from django.conf import settings
from django.db import migrations
from django.utils import timezone

NAME = "Reward referrals (hourly, at :30)"


def forwards(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    if PeriodicTask.objects.filter(name=NAME).exists():
        return
    tz = getattr(settings, "CELERY_TIMEZONE", None) or settings.TIME_ZONE
    crontab, _created = CrontabSchedule.objects.get_or_create(
        minute="30", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone=tz
    )
    PeriodicTask.objects.create(
        name=NAME, task="campaigns.tasks.reward_referrals", crontab=crontab, args="[]", kwargs=json.dumps({}),
        description="Pays referrers whose friend's first purchase with points is released, if the live reward "
        "missed it.", enabled=True,
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0004_builtin_action_rules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
