from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.core.validators import FileExtensionValidator, MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from loyalty.branding import HEX_COLOUR, MIN_TEXT_CONTRAST, contrast_ratio

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise


class Rounding(models.TextChoices):
    ROUND = "round", _("Round half up")
    FLOOR = "floor", _("Round down")
    CEIL = "ceil", _("Round up")


class ExpiryExtension(models.TextChoices):
    NONE = "none", _("No extension")
    MONTH_END = "month_end", _("To the end of the month")
    YEAR_END = "year_end", _("To the end of the year")


class TierMetric(models.TextChoices):
    POINTS = "points", _("Points earned")
    SPEND = "spend", _("Net spend")


class TierWindow(models.TextChoices):
    ROLLING = "rolling", _("Rolling months")
    CALENDAR_YEAR = "calendar_year", _("Calendar year")
    LIFETIME = "lifetime", _("Lifetime")


LOGO_MAX_BYTES = 1024 * 1024
# Raster formats only: an SVG could carry script.
LOGO_EXTENSIONS = ["png", "jpg", "jpeg", "gif", "webp"]
colour_validator = RegexValidator(HEX_COLOUR, _("Use a colour like #24324a."))


class Program(models.Model):
    """The loyalty program's settings: exactly one row (pk 1), edited in the admin or the API."""

    name = models.CharField(_("name"), max_length=100, default="Loyalty")
    currency = models.CharField(_("currency"), max_length=3, default="EUR", help_text=_("ISO 4217 code"))
    earn_rate = models.DecimalField(
        _("earn rate"), max_digits=8, decimal_places=2, default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0"))], help_text=_("Points per currency unit."),
    )
    rounding = models.CharField(_("rounding"), max_length=5, choices=Rounding.choices, default=Rounding.ROUND)
    include_tax = models.BooleanField(_("tax earns points"), default=False)
    point_value = models.DecimalField(
        _("point value"), max_digits=8, decimal_places=4, default=Decimal("0.01"),
        validators=[MinValueValidator(Decimal("0.0001"))], help_text=_("Currency value of one point."),
    )
    min_redeem_points = models.PositiveIntegerField(_("minimum points to redeem"), default=0)
    max_discount_percent = models.PositiveSmallIntegerField(
        _("maximum discount (% of subtotal)"), default=100, validators=[MaxValueValidator(100)]
    )
    pending_days = models.PositiveIntegerField(_("pending days"), default=0)
    points_valid_days = models.PositiveIntegerField(
        _("points valid for (days)"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_("Empty: points never expire."),
    )
    expiry_extends_to = models.CharField(
        _("extend expiry to"), max_length=10, choices=ExpiryExtension.choices, default=ExpiryExtension.NONE
    )
    expiry_warning_days = models.PositiveIntegerField(_("expiry warning (days ahead)"), default=14)
    tier_metric = models.CharField(
        _("tier metric"), max_length=6, choices=TierMetric.choices, default=TierMetric.POINTS
    )
    tier_window = models.CharField(
        _("tier window"), max_length=13, choices=TierWindow.choices, default=TierWindow.LIFETIME
    )
    tier_window_months = models.PositiveIntegerField(
        _("tier window (months)"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_("For a rolling window. Empty with a rolling window means lifetime."),
    )
    tier_hold_months = models.PositiveIntegerField(_("months a tier is held before a downgrade"), default=0)
    signup_bonus = models.PositiveIntegerField(_("sign-up bonus"), default=0)
    birthday_bonus = models.PositiveIntegerField(_("birthday bonus"), default=0)
    referral_referrer_bonus = models.PositiveIntegerField(_("referrer bonus"), default=0)
    referral_referee_bonus = models.PositiveIntegerField(_("referee bonus"), default=0)
    referral_cap = models.PositiveIntegerField(
        _("referrals rewarded per referrer"), null=True, blank=True, help_text=_("Empty: no cap.")
    )
    coupon_valid_days = models.PositiveIntegerField(
        _("coupon validity (days)"), default=90, validators=[MinValueValidator(1)]
    )
    # Branding: the portal, the emails and the admin header show the name, logo and colours.
    logo = models.ImageField(
        _("logo"), upload_to="branding/", blank=True,
        validators=[FileExtensionValidator(LOGO_EXTENSIONS)],
        help_text=_("PNG, JPEG, GIF or WebP, at most 1 MB; shown about 40 pixels high."),
    )
    brand_colour = models.CharField(
        _("brand colour"), max_length=7, default="#24324a", validators=[colour_validator],
        help_text=_("The header's background. Its text turns black or white, whichever reads better."),
    )
    accent_colour = models.CharField(
        _("accent colour"), max_length=7, default="#1a56c4", validators=[colour_validator],
        help_text=_("Links and buttons. Must be dark enough to read on white (contrast 4.5:1)."),
    )
    terms = models.TextField(
        _("programme terms"), blank=True,
        help_text=_("Shown on the terms page; members accept them when they sign up. Blank lines separate "
                    "paragraphs."),
    )
    # Which emails the programme sends (members switch the last three off for themselves in the portal).
    welcome_email = models.BooleanField(
        _("welcome email"), default=True, help_text=_("Sent to a new member with their loyalty card.")
    )
    tier_upgrade_email = models.BooleanField(_("tier upgrade email"), default=True)
    reward_redeemed_email = models.BooleanField(
        _("reward redeemed email"), default=True, help_text=_("Sent with the coupon when a member redeems a reward.")
    )
    expiry_reminder_email = models.BooleanField(
        _("expiry reminder email"), default=True,
        help_text=_("Sent the set number of days before points expire (see Expiry)."),
    )

    class Meta:
        verbose_name = _("program")
        verbose_name_plural = _("program")
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="program_single_row"),
            models.CheckConstraint(condition=Q(earn_rate__gte=0), name="program_earn_rate_non_negative"),
            models.CheckConstraint(condition=Q(point_value__gt=0), name="program_point_value_positive"),
            models.CheckConstraint(
                condition=Q(max_discount_percent__gte=0, max_discount_percent__lte=100),
                name="program_max_discount_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(points_valid_days__isnull=True) | Q(points_valid_days__gte=1),
                name="program_points_valid_days_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.pk = 1
        self.currency = self.currency.upper()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        """Rules that span fields; single-field limits are the fields' validators."""
        errors: dict[str, str | StrPromise] = {}
        if self.currency and not (len(self.currency) == 3 and self.currency.isascii() and self.currency.isalpha()):
            errors["currency"] = _("Use a three-letter ISO 4217 code such as EUR.")
        if self.tier_window == TierWindow.ROLLING and not self.tier_window_months:
            errors["tier_window_months"] = _("A rolling tier window needs a number of months.")
        if self.expiry_extends_to != ExpiryExtension.NONE and self.points_valid_days is None:
            errors["expiry_extends_to"] = _("Points that never expire cannot have their expiry extended.")
        if HEX_COLOUR.match(self.accent_colour or "") and (
            ratio := contrast_ratio(self.accent_colour, "#ffffff")
        ) < MIN_TEXT_CONTRAST:
            errors["accent_colour"] = _(
                "This colour is too light for links on white (contrast %(ratio)s:1, at least 4.5:1 is needed)."
            ) % {"ratio": f"{ratio:.1f}"}
        if self.logo and getattr(self.logo, "size", 0) > LOGO_MAX_BYTES:
            errors["logo"] = _("The logo may be at most 1 MB.")
        if errors:
            raise ValidationError(errors)
