"""Reward catalogue, partner voucher-code pools and redemptions (with their one-time coupon codes).

Points only move through loyalty.services.ledger; a Redemption keeps the ledger transaction that paid
for it (and the one that gave the points back when it was cancelled).
"""

from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rewards.images import thumbnail_sync

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise


class RewardKind(models.TextChoices):
    FIXED_DISCOUNT = "fixed_discount", _("Fixed discount")
    PERCENTAGE_DISCOUNT = "percentage_discount", _("Percentage discount")
    FREE_PRODUCT = "free_product", _("Free product")
    FREE_SHIPPING = "free_shipping", _("Free shipping")
    PARTNER_VOUCHER = "partner_voucher", _("Partner voucher")
    CHARITY_DONATION = "charity_donation", _("Charity donation")
    CASHBACK = "cashback", _("Cashback / statement credit")
    EXPERIENCE = "experience", _("Experience")


class Reward(models.Model):
    """Something a member can buy with points from the catalogue."""

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=RewardKind.choices)
    cost_points = models.PositiveIntegerField(_("cost in points"), validators=[MinValueValidator(1)])
    value = models.DecimalField(
        _("value"), max_digits=12, decimal_places=2, default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_(
            "Currency value of the reward (the discount, the donation, the cashback credit). For a percentage "
            "discount: the percentage (1-100)."
        ),
    )
    stock = models.PositiveIntegerField(
        _("stock"), null=True, blank=True, help_text=_("Empty: unlimited. Goes down by one per redemption.")
    )
    per_member_limit = models.PositiveIntegerField(
        _("limit per member"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_("Empty: unlimited. Cancelled redemptions do not count."),
    )
    min_tier = models.ForeignKey(
        "loyalty.Tier", on_delete=models.PROTECT, null=True, blank=True, related_name="rewards",
        verbose_name=_("minimum tier"), help_text=_("Only members in this tier or a higher one may redeem it."),
    )
    required_badge = models.ForeignKey(
        "campaigns.Badge", on_delete=models.PROTECT, null=True, blank=True, related_name="rewards",
        verbose_name=_("required badge"), help_text=_("Only members who hold this badge may redeem it."),
    )
    available_from = models.DateTimeField(_("available from"), null=True, blank=True)
    available_until = models.DateTimeField(_("available until"), null=True, blank=True)
    image = models.ImageField(_("image"), upload_to="rewards/", blank=True)
    # Made from `image` on save (see rewards.images): at most 400 px, JPEG (PNG when transparent).
    thumbnail = models.ImageField(_("thumbnail"), upload_to="rewards/thumbnails/", blank=True, editable=False)
    active = models.BooleanField(_("active"), default=True)
    charity_name = models.CharField(
        _("charity"), max_length=100, blank=True, help_text=_("For a charity donation: who receives the money.")
    )
    partner_name = models.CharField(
        _("partner"), max_length=100, blank=True, help_text=_("For a partner voucher: whose voucher it is.")
    )
    sku = models.CharField(_("SKU"), max_length=100, blank=True, help_text=_("For a free product: which product."))
    how_to_use = models.TextField(
        _("how to use"), blank=True,
        help_text=_("Shown with the member's coupon. Empty: a standard text for the reward's kind."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        ordering = ["cost_points", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(cost_points__gt=0), name="reward_cost_points_positive"),
            models.CheckConstraint(condition=Q(value__gte=0), name="reward_value_non_negative"),
            models.CheckConstraint(condition=Q(stock__isnull=True) | Q(stock__gte=0), name="reward_stock_non_negative"),
            models.CheckConstraint(
                condition=Q(per_member_limit__isnull=True) | Q(per_member_limit__gte=1),
                name="reward_per_member_limit_positive",
            ),
            models.CheckConstraint(
                condition=~Q(kind=RewardKind.PERCENTAGE_DISCOUNT) | (Q(value__gt=0) & Q(value__lte=100)),
                name="reward_percentage_in_range",
            ),
            models.CheckConstraint(
                condition=~Q(kind=RewardKind.CHARITY_DONATION) | ~Q(charity_name=""),
                name="reward_donation_has_charity",
            ),
            models.CheckConstraint(
                condition=Q(available_from__isnull=True)
                | Q(available_until__isnull=True)
                | Q(available_until__gt=F("available_from")),
                name="reward_window_ordered",
            ),
        ]
        indexes = [models.Index(fields=["active", "cost_points"], name="reward_catalogue")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        kwargs = thumbnail_sync(self, kwargs)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from loyalty.services.program import program_get

        errors: dict[str, str | StrPromise] = {}
        if self.kind == RewardKind.PERCENTAGE_DISCOUNT and not (Decimal("0") < (self.value or 0) <= 100):
            errors["value"] = _("A percentage discount needs a percentage between 1 and 100.")
        if self.kind == RewardKind.CHARITY_DONATION and not self.charity_name.strip():
            errors["charity_name"] = _("Name the charity that receives the donation.")
        if self.kind == RewardKind.CASHBACK and self.cost_points:
            # Cashback is money out of the merchant's till: worth less than the same points as a discount.
            discount_value = self.cost_points * program_get().point_value
            if self.value >= discount_value:
                errors["value"] = _(
                    "Cashback must be worth less than the same points spent as a discount (%(value)s)."
                ) % {"value": f"{discount_value:.2f}"}
        if self.available_from and self.available_until and self.available_until <= self.available_from:
            errors["available_until"] = _("The end of the window must come after its start.")
        if errors:
            raise ValidationError(errors)

    def is_available(self, now=None) -> bool:
        now = now or timezone.now()
        return (
            self.active
            and (self.available_from is None or self.available_from <= now)
            and (self.available_until is None or now < self.available_until)
        )


class VoucherCode(models.Model):
    """A partner's code in a reward's pool; handed to exactly one redemption, never reused."""

    reward = models.ForeignKey(Reward, on_delete=models.CASCADE, related_name="voucher_codes", verbose_name=_("reward"))
    code = models.CharField(_("code"), max_length=100)
    redemption = models.OneToOneField(
        "rewards.Redemption", on_delete=models.PROTECT, null=True, blank=True, related_name="voucher",
        verbose_name=_("redemption"),
    )
    imported_at = models.DateTimeField(_("imported"), default=timezone.now)
    assigned_at = models.DateTimeField(_("assigned"), null=True, blank=True)

    class Meta:
        verbose_name = _("voucher code")
        verbose_name_plural = _("voucher codes")
        constraints = [
            models.UniqueConstraint(fields=["reward", "code"], name="voucher_code_unique_per_reward"),
            models.CheckConstraint(condition=~Q(code=""), name="voucher_code_not_empty"),
            models.CheckConstraint(
                condition=Q(redemption__isnull=True, assigned_at__isnull=True)
                | Q(redemption__isnull=False, assigned_at__isnull=False),
                name="voucher_code_assigned_with_time",
            ),
        ]
        indexes = [
            models.Index(fields=["reward", "id"], condition=Q(redemption__isnull=True), name="voucher_code_free"),
        ]

    def __str__(self) -> str:
        return self.code


PAY_WITH_POINTS = "pay_with_points"


# A redemption's kind: the reward's kind, or pay with points (a checkout discount, no reward).
REDEMPTION_KIND_CHOICES = [(PAY_WITH_POINTS, _("Pay with points")), *RewardKind.choices]


# What a member does with a coupon, when the reward says nothing of its own (Reward.how_to_use).
HOW_TO_USE = {
    PAY_WITH_POINTS: _("Enter the code at checkout: the discount is taken off that order."),
    RewardKind.FIXED_DISCOUNT: _(
        "Show the code at the till or enter it at checkout in the web shop: the discount is taken off your order."
    ),
    RewardKind.PERCENTAGE_DISCOUNT: _(
        "Show the code at the till or enter it at checkout in the web shop: the discount is taken off your order."
    ),
    RewardKind.FREE_PRODUCT: _("Show the code at the till to collect your product."),
    RewardKind.FREE_SHIPPING: _("Enter the code at checkout in the web shop: shipping on that order is free."),
    RewardKind.PARTNER_VOUCHER: _("Use the partner code with the partner, as they explain on their site."),
    RewardKind.CHARITY_DONATION: _("Nothing to do: we pass your donation on. Keep the code as your receipt."),
    RewardKind.CASHBACK: _("Show the code at the till: the amount is paid out or credited to you."),
    RewardKind.EXPERIENCE: _("Show the code at the entrance."),
}


class RedemptionStatus(models.TextChoices):
    ISSUED = "issued", _("Issued")
    USED = "used", _("Used")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")


class Redemption(models.Model):
    """Points spent on a reward or on a checkout discount; the member gets a one-time coupon code."""

    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("member")
    )
    reward = models.ForeignKey(
        Reward, on_delete=models.PROTECT, null=True, blank=True, related_name="redemptions", verbose_name=_("reward")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=REDEMPTION_KIND_CHOICES)
    points = models.PositiveIntegerField(_("points"))
    value = models.DecimalField(_("value"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    code = models.CharField(_("coupon code"), max_length=32, unique=True)
    status = models.CharField(
        _("status"), max_length=10, choices=RedemptionStatus.choices, default=RedemptionStatus.ISSUED
    )
    issued_at = models.DateTimeField(_("issued"))
    expires_at = models.DateTimeField(_("expires"))
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    used_order_id = models.CharField(_("used on order"), max_length=100, blank=True)
    used_store = models.ForeignKey(
        "loyalty.Store", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("used at store"),
    )
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    cancel_reason = models.CharField(_("cancel reason"), max_length=255, blank=True)
    order_id = models.CharField(
        _("order id"), max_length=100, blank=True, help_text=_("Pay with points: the order the discount is for.")
    )
    subtotal = models.DecimalField(_("cart subtotal"), max_digits=12, decimal_places=2, null=True, blank=True)
    store = models.ForeignKey(
        "loyalty.Store", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("issued by store"),
    )
    # Copied from the reward when redeemed, so totals do not move when the reward is edited later.
    charity_name = models.CharField(_("charity"), max_length=100, blank=True)
    transaction = models.OneToOneField(
        "loyalty.LedgerTransaction", on_delete=models.PROTECT, related_name="+", verbose_name=_("debit")
    )
    cancel_transaction = models.OneToOneField(
        "loyalty.LedgerTransaction", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("points returned"),
    )

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="redemption_points_positive"),
            models.CheckConstraint(condition=Q(status__in=RedemptionStatus.values), name="redemption_status_valid"),
            models.CheckConstraint(condition=Q(value__gte=0), name="redemption_value_non_negative"),
            models.CheckConstraint(condition=Q(expires_at__gt=F("issued_at")), name="redemption_expires_after_issue"),
            # used_at is set exactly when the coupon is used; a used coupon cancelled by a full refund of
            # its order keeps its used_at as history.
            models.CheckConstraint(
                condition=Q(status=RedemptionStatus.USED, used_at__isnull=False)
                | Q(status=RedemptionStatus.CANCELLED)
                | (Q(status__in=[RedemptionStatus.ISSUED, RedemptionStatus.EXPIRED]) & Q(used_at__isnull=True)),
                name="redemption_used_at_iff_used",
            ),
            models.CheckConstraint(
                condition=Q(used_at__isnull=False) | Q(used_order_id=""), name="redemption_used_order_only_if_used"
            ),
            models.CheckConstraint(
                condition=Q(
                    status=RedemptionStatus.CANCELLED, cancelled_at__isnull=False, cancel_transaction__isnull=False
                )
                | (
                    ~Q(status=RedemptionStatus.CANCELLED)
                    & Q(cancelled_at__isnull=True, cancel_transaction__isnull=True)
                ),
                name="redemption_cancelled_iff_points_returned",
            ),
            models.CheckConstraint(
                condition=Q(kind=PAY_WITH_POINTS, reward__isnull=True)
                | (~Q(kind=PAY_WITH_POINTS) & Q(reward__isnull=False)),
                name="redemption_reward_unless_pay_with_points",
            ),
            models.CheckConstraint(
                condition=Q(kind=PAY_WITH_POINTS) | Q(order_id=""), name="redemption_order_only_pay_with_points"
            ),
        ]
        indexes = [
            models.Index(fields=["member", "-issued_at"], name="redemption_member_recent"),
            models.Index(fields=["reward", "member"], name="redemption_reward_member"),
            models.Index(fields=["order_id"], condition=~Q(order_id=""), name="redemption_order"),
            models.Index(fields=["expires_at"], condition=Q(status="issued"), name="redemption_issued_expiry"),
        ]

    def __str__(self) -> str:
        return self.code

    def status_at(self, now=None) -> str:
        """The status a member should see: an issued coupon past its expiry reads as expired."""
        if self.status == RedemptionStatus.ISSUED and self.expires_at <= (now or timezone.now()):
            return RedemptionStatus.EXPIRED
        return self.status

    def status_label(self) -> "str | StrPromise":
        return RedemptionStatus(self.status_at()).label

    def how_to_use(self) -> "str | StrPromise":
        """What the member does with the coupon: the reward's own words, else the text for its kind."""
        if self.reward is not None and self.reward.how_to_use.strip():
            return self.reward.how_to_use
        return HOW_TO_USE.get(self.kind, HOW_TO_USE[PAY_WITH_POINTS])

    def member_may_cancel(self, now=None) -> bool:
        """A member may cancel their own catalogue coupon while it can still be used. Not a partner voucher
        (its partner code has been shown) and not a pay-with-points discount (it belongs to an order)."""
        return (
            self.reward_id is not None
            and self.kind != RewardKind.PARTNER_VOUCHER
            and self.status_at(now) == RedemptionStatus.ISSUED
        )
