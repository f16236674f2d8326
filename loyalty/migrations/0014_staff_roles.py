"""Staff roles: the groups "Program manager" and "Support" with explicit permissions.

- Program manager: everything in the programme (members, the ledger, purchases, tiers, rewards, campaigns,
  stores and API keys, job schedules, the KPI dashboard, imports and bulk actions, the audit log), but not
  logins and groups (whoever may change users may make themselves a superuser).
- Support: look members up, adjust their points, see their ledger history and purchases, cancel
  redemptions. No programme settings, earning rules, tiers, rewards, promotions, stores or API keys.

The roles and their permissions are listed in loyalty/roles.py. Later features that add models list them
there and call staff_roles_ensure from a migration of their own.
"""

from django.db import migrations

def create_roles(apps, schema_editor):
    from loyalty.roles import staff_roles_ensure

    staff_roles_ensure(apps)


def remove_roles(apps, schema_editor):
    from loyalty.roles import PROGRAM_MANAGER, SUPPORT

    apps.get_model("auth", "Group").objects.filter(name__in=[PROGRAM_MANAGER, SUPPORT]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("loyalty", "0013_staff_action"),
        ("members", "0005_member_fillfactor_45"),
        ("rewards", "0002_verbose_name_plural"),
        ("campaigns", "0002_verbose_name_plural"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
