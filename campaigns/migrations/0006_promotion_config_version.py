from django.db import migrations

from loyalty.db import ConfigVersionTrigger


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0005_referral_job_schedule"),
        ("loyalty", "0012_config_version"),
    ]

    operations = [ConfigVersionTrigger("campaigns_promotion")]
