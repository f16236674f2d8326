"""Action rules (points for a review, a share, a survey or a custom slug) and the events recorded under them.

For other modules (challenges count actions, see campaigns.services.actions):
- `ActionEvent` is one recorded action: `member`, `type` (the rule's slug, kept as text so that deleting a
  rule keeps its history), `reference`, `occurred_at`, `points`, `transaction` (the ledger posting, null
  when it earned nothing) and `capped` (a cap stopped it). The index `action_event_member_type_time`
  answers "how many events of this type did this member have between two times" from the index alone.
- `campaigns.signals.action_recorded` (kwarg `event`) is sent after the commit of every newly recorded
  event, capped ones included, never for a replayed one.
"""

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

ACTION_TYPE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"


class BuiltInAction(models.TextChoices):
    REVIEW = "review", _("Product review")
    SOCIAL_SHARE = "social_share", _("Social media share")
    SURVEY = "survey", _("Survey")


class CapPeriod(models.TextChoices):
    DAY = "day", _("day")
    WEEK = "week", _("week")
    MONTH = "month", _("month")
    LIFETIME = "lifetime", _("lifetime")


def _cap(label):
    return models.PositiveIntegerField(
        label, null=True, blank=True, validators=[MinValueValidator(1)], help_text=_("Empty: no limit.")
    )


class ActionRule(models.Model):
    """How many points an action of one type earns, and how often it may earn them."""

    type = models.CharField(
        _("type"),
        max_length=40,
        unique=True,
        validators=[RegexValidator(ACTION_TYPE_PATTERN, _("Lower-case letters, digits, - and _ only."))],
        help_text=_("review, social_share, survey, or your own slug (e.g. newsletter_signup): what the shop sends."),
    )
    name = models.CharField(_("name"), max_length=100, help_text=_("For staff; the member's history says what it was."))
    points = models.PositiveIntegerField(_("points"), validators=[MinValueValidator(1)])
    active = models.BooleanField(_("active"), default=True)
    once_per_reference = models.BooleanField(
        _("once per reference"),
        default=True,
        help_text=_(
            "A member earns once per reference (e.g. one review per product SKU); a repeat is answered with the "
            "first result. Off: every event counts, within the caps."
        ),
    )
    per_day = _cap(_("at most per day"))
    per_week = _cap(_("at most per week"))
    per_month = _cap(_("at most per month"))
    lifetime = _cap(_("at most ever"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("action rule")
        verbose_name_plural = _("action rules")
        ordering = ["type"]
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="action_rule_points_positive"),
            models.CheckConstraint(condition=Q(type__regex=ACTION_TYPE_PATTERN), name="action_rule_type_slug"),
            *[
                models.CheckConstraint(condition=Q(**{f"{cap}__isnull": True}) | Q(**{f"{cap}__gt": 0}),
                                       name=f"action_rule_{cap}_positive")
                for cap in ("per_day", "per_week", "per_month", "lifetime")
            ],
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"

    def caps(self) -> list[tuple[str, int]]:
        """(period, limit) for each cap set, shortest period first."""
        limits = [(CapPeriod.DAY, self.per_day), (CapPeriod.WEEK, self.per_week), (CapPeriod.MONTH, self.per_month),
                  (CapPeriod.LIFETIME, self.lifetime)]
        return [(str(period), limit) for period, limit in limits if limit]


class ActionEvent(models.Model):
    """One action a member did, as reported by the shop, a till or staff; written by campaigns.services.actions."""

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="action_events",
                               verbose_name=_("member"))
    type = models.CharField(_("type"), max_length=40)
    rule = models.ForeignKey(ActionRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="events",
                             verbose_name=_("rule"))
    reference = models.CharField(_("reference"), max_length=255, blank=True)
    # Whether the rule counted this reference once when the event was recorded (the unique constraint's scope).
    once_per_reference = models.BooleanField(default=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    points = models.PositiveIntegerField(_("points"), default=0)
    capped = models.BooleanField(_("capped"), default=False)
    cap = models.CharField(_("stopped by the cap per"), max_length=8, choices=CapPeriod.choices, blank=True)
    transaction = models.OneToOneField(
        "loyalty.LedgerTransaction", on_delete=models.PROTECT, null=True, blank=True, related_name="action_event",
        verbose_name=_("transaction"),
    )
    store = models.ForeignKey("loyalty.Store", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                              verbose_name=_("store"))
    staff_user = models.ForeignKey("members.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                   verbose_name=_("recorded by"))
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("action")
        verbose_name_plural = _("actions")
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "type", "reference"], condition=Q(once_per_reference=True),
                name="action_event_once_per_reference",
            ),
            models.CheckConstraint(
                condition=(Q(capped=True) & Q(points=0) & Q(transaction__isnull=True) & ~Q(cap=""))
                | (Q(capped=False) & Q(cap="")),
                name="action_event_capped_earns_nothing",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "type", "occurred_at"], name="action_event_member_type_time"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.reference}".strip()
