from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Purchase(models.Model):
    store = models.ForeignKey(
        "loyalty.Store", on_delete=models.PROTECT, related_name="purchases", verbose_name=_("store")
    )
    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="purchases", verbose_name=_("member")
    )
    order_id = models.CharField(_("order id"), max_length=100)
    total = models.DecimalField(_("total"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    shipping = models.DecimalField(_("shipping"), max_digits=12, decimal_places=2, default=Decimal("0"))
    tax = models.DecimalField(_("tax"), max_digits=12, decimal_places=2, default=Decimal("0"))
    lines = models.JSONField(_("lines"), default=list, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    eligible_amount = models.DecimalField(_("eligible amount"), max_digits=12, decimal_places=2, default=Decimal("0"))
    points_base = models.BigIntegerField(_("base points"), default=0)
    points_bonus = models.BigIntegerField(_("bonus points"), default=0)
    breakdown = models.JSONField(_("breakdown"), default=list, blank=True)
    available_at = models.DateTimeField(_("points available from"), null=True, blank=True)
    refunded_total = models.DecimalField(_("refunded"), max_digits=12, decimal_places=2, default=Decimal("0"))
    points_reversed = models.BigIntegerField(_("points reversed"), default=0)
    transaction = models.ForeignKey(
        "loyalty.LedgerTransaction", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("ledger transaction"),
    )
    lot = models.ForeignKey(
        "loyalty.PointLot", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("point lot"),
    )
    request_hash = models.CharField(_("request fingerprint"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        constraints = [
            models.UniqueConstraint(fields=["store", "order_id"], name="purchase_unique_store_order"),
            models.CheckConstraint(condition=Q(total__gte=0), name="purchase_total_non_negative"),
            models.CheckConstraint(
                condition=Q(refunded_total__gte=0) & Q(refunded_total__lte=F("total")),
                name="purchase_refunded_within_total",
            ),
            models.CheckConstraint(
                condition=Q(points_reversed__gte=0) & Q(points_reversed__lte=F("points_base") + F("points_bonus")),
                name="purchase_reversed_within_awarded",
            ),
        ]
        indexes = [models.Index(fields=["member", "-occurred_at"], name="purchase_member_recent")]

    def __str__(self) -> str:
        return f"{self.store.slug}/{self.order_id}"

    @property
    def points_total(self) -> int:
        return self.points_base + self.points_bonus


class Refund(models.Model):
    purchase = models.ForeignKey(Purchase, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("purchase"))
    refund_id = models.CharField(_("refund id"), max_length=100)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    points_reversed = models.BigIntegerField(_("points reversed"), default=0)
    transaction = models.ForeignKey(
        "loyalty.LedgerTransaction", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("ledger transaction"),
    )
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [
            models.UniqueConstraint(fields=["purchase", "refund_id"], name="refund_unique_per_purchase"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.purchase} refund {self.refund_id}"


class EarningRule(models.Model):
    """A SKU or category override of the program's earn rate (SKU wins; the highest category wins)."""

    sku = models.CharField(_("SKU"), max_length=100, blank=True)
    category = models.CharField(_("category"), max_length=100, blank=True)
    points_per_unit = models.DecimalField(
        _("fixed points per unit"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    multiplier = models.DecimalField(_("multiplier"), max_digits=6, decimal_places=2, null=True, blank=True)
    excluded = models.BooleanField(_("earns nothing"), default=False)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("earning rule")
        verbose_name_plural = _("earning rules")
        constraints = [
            models.CheckConstraint(
                condition=(~Q(sku="") & Q(category="")) | (Q(sku="") & ~Q(category="")),
                name="earning_rule_sku_xor_category",
            ),
            models.CheckConstraint(
                condition=Q(points_per_unit__isnull=True) | Q(points_per_unit__gte=0),
                name="earning_rule_points_per_unit_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(multiplier__isnull=True) | Q(multiplier__gte=0), name="earning_rule_multiplier_non_negative"
            ),
            models.UniqueConstraint(
                fields=["sku"], condition=~Q(sku="") & Q(active=True), name="earning_rule_one_active_per_sku"
            ),
        ]

    def __str__(self) -> str:
        return self.sku or self.category


class ExpiryReminder(models.Model):
    """One reminder per member per expiry date."""

    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="expiry_reminders", verbose_name=_("member")
    )
    expires_on = models.DateField(_("expires on"))
    points = models.BigIntegerField(_("points"))
    sent_at = models.DateTimeField(_("sent at"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "expires_on"], name="expiry_reminder_once_per_date")
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.points} on {self.expires_on}"
