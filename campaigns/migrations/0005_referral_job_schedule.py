"""The beat schedule of the referral catch-up job (django-celery-beat; edit or disable it in the admin)."""

from django.db import migrations

from loyalty.schedules import beat_schedules_add, beat_schedules_remove

SCHEDULES = [
    ("Reward referrals (hourly, at :30)", "campaigns.tasks.reward_referrals", ("30", "*"),
     "Pays referrers whose friend's first purchase with points is released, if the live reward missed it."),
]


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0004_builtin_action_rules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: beat_schedules_add(apps, SCHEDULES),
            lambda apps, schema_editor: beat_schedules_remove(apps, SCHEDULES),
        )
    ]
