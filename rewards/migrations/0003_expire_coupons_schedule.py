"""The beat schedule of rewards.expire_coupons (the README listed it; no migration made it)."""

from django.db import migrations

from loyalty.schedules import beat_schedules_add, beat_schedules_remove

SCHEDULES = [
    ("Expire unused coupons (daily 01:00)", "rewards.expire_coupons", ("0", "1"),
     "Marks issued coupons past their expiry date as expired."),
]


class Migration(migrations.Migration):
    dependencies = [
        ("rewards", "0002_verbose_name_plural"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: beat_schedules_add(apps, SCHEDULES),
            lambda apps, schema_editor: beat_schedules_remove(apps, SCHEDULES),
        )
    ]
