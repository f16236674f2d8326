"""The built-in action types as rules the merchant switches on (inactive until then): a product review (once per
product), a social media share (once a day) and a survey (once per survey). Existing rules are left alone."""

from django.db import migrations

BUILT_IN = [
    # type, name, points, once_per_reference, per_day
    ("review", "Product review", 50, True, None),
    ("social_share", "Social media share", 10, False, 1),
    ("survey", "Survey", 25, True, None),
]


def forwards(apps, schema_editor):
    ActionRule = apps.get_model("campaigns", "ActionRule")
    for type_, name, points, once, per_day in BUILT_IN:
        ActionRule.objects.get_or_create(
            type=type_,
            defaults={"name": name, "points": points, "once_per_reference": once, "per_day": per_day, "active": False},
        )


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0003_actions_referrals")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
