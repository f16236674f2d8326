from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Tier(models.Model):
    code = models.SlugField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=60)
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True, help_text=_("Higher is better."))
    threshold = models.PositiveIntegerField(
        _("threshold"), default=0, help_text=_("Points earned, or currency units spent, in the tier window.")
    )
    multiplier = models.DecimalField(
        _("earn multiplier"), max_digits=5, decimal_places=2, default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("1.00"))],
    )
    benefits = models.TextField(_("benefits"), blank=True)
    colour = models.CharField(
        _("colour"), max_length=7, default="#8c6d3f",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", _("Use a colour like #c0c0c0."))],
    )
    icon = models.ImageField(_("icon"), upload_to="tiers/", blank=True)
    price = models.DecimalField(
        _("price"), max_digits=10, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0"))], help_text=_("Set for a paid tier."),
    )
    period_months = models.PositiveIntegerField(
        _("paid period (months)"), null=True, blank=True, validators=[MinValueValidator(1)]
    )

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["rank"]
        constraints = [
            models.CheckConstraint(condition=Q(multiplier__gte=1), name="tier_multiplier_at_least_one"),
            models.CheckConstraint(
                # period_months IS NOT NULL spelled out: a CHECK passes when its condition is NULL.
                condition=Q(price__isnull=True)
                | (Q(price__gte=0) & Q(period_months__isnull=False) & Q(period_months__gte=1)),
                name="tier_paid_needs_period",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_paid(self) -> bool:
        return self.price is not None


class TierChangeKind(models.TextChoices):
    UPGRADE = "upgrade", _("Upgrade")
    DOWNGRADE = "downgrade", _("Downgrade")
    FLOOR = "floor", _("Tier floor set by staff")
    PAID = "paid", _("Paid membership")


class TierHistory(models.Model):
    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="tier_history", verbose_name=_("member")
    )
    # from_tier and staff_user: indexed only where set (see Meta); a first tier and the jobs have neither.
    from_tier = models.ForeignKey(
        Tier, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False,
        verbose_name=_("from tier"),
    )
    to_tier = models.ForeignKey(
        Tier, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("to tier")
    )
    kind = models.CharField(_("change"), max_length=10, choices=TierChangeKind.choices)
    reason = models.CharField(_("reason"), max_length=255)
    changed_at = models.DateTimeField(_("changed at"))
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False,
        verbose_name=_("staff user"),
    )

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier history")
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(fields=["from_tier"], condition=Q(from_tier__isnull=False), name="tier_history_from_tier"),
            models.Index(fields=["staff_user"], condition=Q(staff_user__isnull=False), name="tier_history_staff_user"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.from_tier_id} -> {self.to_tier_id}"


class TierMembership(models.Model):
    """A paid tier bought by the member: holds them at least at `tier` until `ends_at`."""

    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="tier_memberships", verbose_name=_("member")
    )
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="memberships", verbose_name=_("tier"))
    store = models.ForeignKey(
        "loyalty.Store", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("store")
    )
    order_id = models.CharField(_("order id"), max_length=100)
    price = models.DecimalField(_("price"), max_digits=10, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("staff user"),
    )

    class Meta:
        verbose_name = _("paid tier membership")
        verbose_name_plural = _("paid tier memberships")
        constraints = [
            models.UniqueConstraint(fields=["store", "order_id"], name="tier_membership_unique_order"),
            # Recorded in the admin (no store): NULLs are distinct in a unique index, so say it again.
            models.UniqueConstraint(
                fields=["order_id"], condition=Q(store__isnull=True), name="tier_membership_unique_order_no_store"
            ),
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="tier_membership_period"),
            models.CheckConstraint(condition=Q(price__gte=0), name="tier_membership_price_non_negative"),
        ]
        indexes = [models.Index(fields=["member", "ends_at"], name="tier_membership_active")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.tier} until {self.ends_at:%Y-%m-%d}"


class TierRecalculation(models.Model):
    """One finished run of the tier recalculation (tiers_recalculate): what the next run starts from.

    A run looks only at the members with something new since the run before (postings, members and paid
    memberships with a higher id than it saw, paid memberships starting or ending, reviews due) as long as
    what it decides on is the same: the fingerprint of the tiers and the programme's tier settings.
    Otherwise it looks at every member (`full`)."""

    as_of = models.DateTimeField(_("as of"))
    full = models.BooleanField(_("every member"), default=False)
    # The highest ledger transaction, member and paid membership ids the run saw when it started.
    ledger_high = models.BigIntegerField(_("last ledger transaction"))
    member_high = models.BigIntegerField(_("last member"))
    membership_high = models.BigIntegerField(_("last paid membership"))
    fingerprint = models.CharField(_("tier settings"), max_length=64)
    counts = models.JSONField(_("counts"), default=dict)
    finished_at = models.DateTimeField(_("finished at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tier recalculation")
        verbose_name_plural = _("tier recalculations")

    def __str__(self) -> str:
        return f"{self.as_of:%Y-%m-%d %H:%M} ({'full' if self.full else 'changes'})"


class TierReview(models.Model):
    """A member the tier recalculation must look at again from `due_at`, though nothing new happened to
    them: held in a tier by the hold period (due when it ends), or a staff floor lowered or removed."""

    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="+", db_index=False, verbose_name=_("member")
    )
    due_at = models.DateTimeField(_("due at"), db_index=True)

    class Meta:
        verbose_name = _("tier review")
        verbose_name_plural = _("tier reviews")
        constraints = [models.UniqueConstraint(fields=["member", "due_at"], name="tier_review_unique")]

    def __str__(self) -> str:
        return f"{self.member_id} at {self.due_at:%Y-%m-%d}"
