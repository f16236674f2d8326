from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class PromotionKind(models.TextChoices):
    MULTIPLIER = "multiplier", _("Points multiplier")
    FLAT = "flat", _("Flat bonus")
    THRESHOLD = "threshold", _("Bonus on orders from a minimum total")
    FIRST_PURCHASE = "first_purchase", _("First-purchase bonus")


class Promotion(models.Model):
    """A time-limited earning bonus, added to a purchase's points by campaigns.services.promotions.promotion_bonuses.

    `skus`, `categories` and `tiers` (tier codes) are JSON lists; an empty list means "any".
    """

    name = models.CharField(_("name"), max_length=100, help_text=_("Members see this name on their receipts."))
    kind = models.CharField(_("kind"), max_length=14, choices=PromotionKind.choices)
    multiplier = models.DecimalField(
        _("multiplier"),
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("2.00 doubles the base points (the bonus is base points x (multiplier - 1))."),
    )
    points = models.PositiveIntegerField(_("bonus points"), null=True, blank=True)
    min_total = models.DecimalField(
        _("minimum order total"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("For a threshold bonus: orders with at least this total qualify."),
    )
    skus = models.JSONField(_("SKUs"), default=list, blank=True, help_text=_("Only lines with these SKUs."))
    categories = models.JSONField(
        _("categories"), default=list, blank=True, help_text=_("Only lines in these categories.")
    )
    tiers = models.JSONField(_("tiers"), default=list, blank=True, help_text=_("Only members in these tiers (codes)."))
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    exclusive = models.BooleanField(
        _("exclusive"),
        default=False,
        help_text=_("Does not combine: when an exclusive promotion applies, only the largest exclusive one counts."),
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("promotion")
        verbose_name_plural = _("promotions")
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(multiplier__isnull=True) | Q(multiplier__gt=1), name="promotion_multiplier_above_one"
            ),
            models.CheckConstraint(
                condition=Q(min_total__isnull=True) | Q(min_total__gte=0), name="promotion_min_total_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True) | Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="promotion_window_ordered",
            ),
            models.CheckConstraint(
                condition=~Q(kind=PromotionKind.MULTIPLIER) | Q(multiplier__isnull=False),
                name="promotion_multiplier_kind_has_multiplier",
            ),
            models.CheckConstraint(
                condition=~Q(kind=PromotionKind.FLAT) | Q(points__gt=0), name="promotion_flat_kind_has_points"
            ),
            models.CheckConstraint(
                condition=~Q(kind=PromotionKind.THRESHOLD)
                | (Q(min_total__isnull=False) & (Q(points__gt=0) | Q(multiplier__isnull=False))),
                name="promotion_threshold_kind_complete",
            ),
            models.CheckConstraint(
                condition=~Q(kind=PromotionKind.FIRST_PURCHASE) | Q(points__gt=0) | Q(multiplier__isnull=False),
                name="promotion_first_purchase_kind_complete",
            ),
        ]
        indexes = [models.Index(fields=["active", "starts_at", "ends_at"], name="promotion_live")]

    def __str__(self) -> str:
        return self.name
