"""The KPI dashboard's rollups (loyalty.kpi_rollup writes them, loyalty.kpi reads them): sums per day, in the
site's time zone, of the ledger transactions and members the rollup job has read, so that the dashboard adds
up days instead of reading every row of a range."""

from datetime import date

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

# The first purchase day of members who have not bought anything yet (KpiJoined.first_purchase_on).
NEVER = date(9999, 12, 31)


class KpiDay(models.Model):
    """Points issued, redeemed and expired on one day, as the dashboard counts them (loyalty.kpi)."""

    day = models.DateField(_("day"), primary_key=True)
    points_issued = models.BigIntegerField(_("points issued"), default=0)
    points_redeemed = models.BigIntegerField(_("points redeemed"), default=0)
    points_expired = models.BigIntegerField(_("points expired"), default=0)

    class Meta:
        verbose_name = _("KPI day")
        verbose_name_plural = _("KPI days")

    def __str__(self) -> str:
        return f"{self.day}: +{self.points_issued} -{self.points_redeemed} -{self.points_expired}"


class KpiJoined(models.Model):
    """How many members joined on a day and made their first purchase on another (NEVER: not yet): members
    enrolled, new members and the activation rate, for any range of days."""

    joined_on = models.DateField(_("joined on"))
    first_purchase_on = models.DateField(_("first purchase on"))
    members = models.BigIntegerField(_("members"), default=0)

    class Meta:
        verbose_name = _("KPI members joined")
        verbose_name_plural = _("KPI members joined")
        constraints = [
            models.UniqueConstraint(fields=["joined_on", "first_purchase_on"], name="kpi_joined_one_per_days"),
            models.CheckConstraint(condition=Q(members__gte=0), name="kpi_joined_members_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.joined_on} / {self.first_purchase_on}: {self.members}"


class KpiRollup(models.Model):
    """How far the rollup job has read (one row): per source table, every row up to `read_up_to[source]`
    except the ids in `gaps[source]` ([first, last, found at, PostgreSQL snapshot xmax] ranges: ids not
    visible when the job passed them, maybe a transaction still in progress, read once they appear)."""

    time_zone = models.CharField(_("time zone"), max_length=64)
    read_up_to = models.JSONField(_("read up to"), default=dict)
    gaps = models.JSONField(_("ids not seen yet"), default=dict)
    version = models.BigIntegerField(_("version"), default=0)
    rolled_up_at = models.DateTimeField(_("rolled up at"), null=True, blank=True)

    class Meta:
        verbose_name = _("KPI rollup")
        verbose_name_plural = _("KPI rollups")

    def __str__(self) -> str:
        return f"KPI rollup v{self.version} ({self.time_zone})"
