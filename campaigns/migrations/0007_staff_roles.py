"""The staff roles get the permissions of the action rules, action events and referrals (loyalty.roles)."""

from django.db import migrations


def forwards(apps, schema_editor):
    from loyalty.roles import staff_roles_ensure

    staff_roles_ensure(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0006_promotion_config_version"),
        ("loyalty", "0014_staff_roles"),
    ]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
