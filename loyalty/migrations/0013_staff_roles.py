"""Staff roles: the groups "Program manager" and "Support" with explicit permissions.

- Program manager: everything in the programme (members, the ledger, purchases, tiers, rewards, campaigns,
  stores and API keys, job schedules, the KPI dashboard, imports and bulk actions, the audit log), but not
  logins and groups (whoever may change users may make themselves a superuser).
- Support: look members up, adjust their points, see their ledger history and purchases, cancel
  redemptions. No programme settings, earning rules, tiers, rewards, promotions, stores or API keys.

Later features that add models grant their permissions to the roles in a migration of their own.
"""

from django.db import migrations

PROGRAM_MANAGER = "Program manager"
SUPPORT = "Support"

# (app label, model) whose add/change/delete/view permissions the programme manager gets.
PROGRAM_MANAGER_MODELS = [
    ("loyalty", model) for model in (
        "program", "ledgertransaction", "ledgerentry", "ledgeraccount", "pointlot", "lotallocation", "store",
        "apikey", "idempotencyrecord", "purchase", "refund", "earningrule", "expiryreminder", "tier",
        "tierhistory", "tiermembership", "staffaction",
    )
] + [("members", "member")] + [
    ("rewards", model) for model in ("reward", "vouchercode", "redemption")
] + [("campaigns", "promotion")] + [
    ("django_celery_beat", model) for model in (
        "periodictask", "intervalschedule", "crontabschedule", "solarschedule", "clockedschedule", "periodictasks",
    )
]
PROGRAM_MANAGER_EXTRA = [
    ("loyalty", "view_kpi_dashboard"), ("loyalty", "run_bulk_actions"), ("loyalty", "import_data"),
]
SUPPORT_PERMISSIONS = [
    ("members", "view_member"),
    ("loyalty", "add_ledgertransaction"),  # adjust points (with view_member)
    ("loyalty", "view_ledgertransaction"),
    ("loyalty", "view_pointlot"),
    ("loyalty", "view_purchase"),
    ("loyalty", "view_refund"),
    ("rewards", "view_redemption"),
    ("rewards", "change_redemption"),  # cancel redemptions
]


def _permissions(apps, pairs):
    Permission = apps.get_model("auth", "Permission")
    found = []
    for app_label, codename in pairs:
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after the last migration; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    manager_pairs = [
        (app_label, f"{action}_{model}")
        for app_label, model in PROGRAM_MANAGER_MODELS
        for action in ("add", "change", "delete", "view")
    ] + PROGRAM_MANAGER_EXTRA
    manager, _created = Group.objects.get_or_create(name=PROGRAM_MANAGER)
    manager.permissions.add(*_permissions(apps, manager_pairs))
    support, _created = Group.objects.get_or_create(name=SUPPORT)
    support.permissions.add(*_permissions(apps, SUPPORT_PERMISSIONS))


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[PROGRAM_MANAGER, SUPPORT]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("loyalty", "0012_staff_action"),
        ("members", "0005_member_fillfactor_45"),
        ("rewards", "0002_verbose_name_plural"),
        ("campaigns", "0002_verbose_name_plural"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
