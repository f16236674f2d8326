"""Staff roles: the groups "Program manager" and "Support" and their explicit permissions.

- Program manager: everything in the programme (members, the ledger, purchases, tiers, rewards, campaigns,
  stores and API keys, job schedules, the KPI dashboard, imports and bulk actions, the audit log), but not
  logins and groups (whoever may change users may make themselves a superuser).
- Support: look members up, adjust their points, see their ledger history and purchases, cancel
  redemptions. No programme settings, earning rules, tiers, rewards, promotions, stores or API keys.

Created by migration 0013 (and again by `demo --reset`, whose flush empties them). A feature that adds models
lists their permissions here and calls `staff_roles_ensure` from a migration of its own.
"""

from __future__ import annotations

from django.apps import apps as global_apps

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
] + [
    ("campaigns", model) for model in (
        "promotion", "actionrule", "actionevent", "referral", "challenge", "challengeprogress", "badge", "badgeaward",
        "leaderboardscore", "leaderboardtally", "leaderboardprize", "leaderboardaward",
    )
] + [
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


def role_permissions() -> dict[str, list[tuple[str, str]]]:
    """Each role's (app label, codename) pairs."""
    manager = [
        (app_label, f"{action}_{model}")
        for app_label, model in PROGRAM_MANAGER_MODELS
        for action in ("add", "change", "delete", "view")
    ]
    return {PROGRAM_MANAGER: manager + PROGRAM_MANAGER_EXTRA, SUPPORT: list(SUPPORT_PERMISSIONS)}


def staff_roles_ensure(apps=global_apps) -> None:
    """Create the role groups if missing and give them their permissions (added, never taken away).

    `apps`: a migration's historical registry, or the project's. Permissions are normally created after the
    last migration; the groups need them now, so they are created first. A permission whose model does not
    exist yet (at an earlier migration) is skipped: the migration that adds the model grants it."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, pairs in role_permissions().items():
        group, _created = Group.objects.get_or_create(name=name)
        wanted = {(app_label, codename) for app_label, codename in pairs}
        found = [
            permission for permission in Permission.objects.filter(
                codename__in={codename for _label, codename in wanted}
            ).select_related("content_type")
            if (permission.content_type.app_label, permission.codename) in wanted
        ]
        group.permissions.add(*found)
