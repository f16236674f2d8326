"""The staff roles get the permissions of the action rules, action events, referrals, challenges, badges and
leaderboards (loyalty.roles)."""

from django.db import migrations


def forwards(apps, schema_editor):
    from loyalty.roles import staff_roles_ensure

    staff_roles_ensure(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0008_challenge_leaderboard_job_schedules"),
        ("loyalty", "0014_staff_roles"),
    ]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
