from typing import ClassVar

from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields) -> "User":
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields) -> "User":
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A login: members and staff alike. Signs in with email; there is no username."""

    username = None  # type: ignore[assignment]
    email = models.EmailField(_("email address"), unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects = UserManager()  # type: ignore[misc,assignment]  # email-only manager replaces the username one

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_unique_ci")]

    def __str__(self) -> str:
        return self.email


class MemberStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    CLOSED = "closed", _("Closed")


class Member(models.Model):
    """A loyalty customer. May exist without a login (enrolled at a till) until the email is verified."""

    user = models.OneToOneField(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="member", verbose_name=_("login")
    )
    loyalty_id = models.CharField(_("loyalty ID"), max_length=16, unique=True, editable=False)
    email = models.EmailField(_("email address"))
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    language = models.CharField(_("language"), max_length=5, default="en")
    marketing_consent = models.BooleanField(_("marketing consent"), default=False)
    marketing_consent_at = models.DateTimeField(_("consent given at"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=MemberStatus.choices, default=MemberStatus.ACTIVE)
    referral_code = models.CharField(_("referral code"), max_length=12, unique=True, editable=False)
    referred_by = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="referrals", verbose_name=_("referred by")
    )
    nickname = models.CharField(_("nickname"), max_length=40, blank=True)
    leaderboard_opt_in = models.BooleanField(_("show me on the leaderboard"), default=False)
    joined_at = models.DateTimeField(_("joined"), default=timezone.now)
    # Points earned net of reversals; kept by the ledger's posting service alongside the balances.
    lifetime_earned = models.BigIntegerField(_("points earned"), default=0, editable=False)
    # Not indexed, and on PostgreSQL over half of each page is kept free (fillfactor, members migrations 0004
    # and 0005): a tier change, like the stored metric and lifetime_earned, is then an in-place (HOT) update
    # that writes no index entry. Only the admin's filter and a tier's deletion look members up by tier.
    tier = models.ForeignKey(
        "loyalty.Tier", on_delete=models.PROTECT, null=True, blank=True, related_name="members", verbose_name=_("tier"),
        db_index=False,
    )
    tier_since = models.DateTimeField(_("tier since"), null=True, blank=True)
    tier_floor = models.ForeignKey(
        "loyalty.Tier", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("tier floor"),
    )
    tier_floor_reason = models.CharField(_("tier floor reason"), max_length=255, blank=True)
    # The tier qualification metric (points, or spend in the program currency) as last computed by the tier
    # code: exact after each posting (the upgrade check), refreshed nightly by the recalculation for points
    # that age out of the window. Read by the tier progress so a member read is O(1) in the history.
    tier_metric_value = models.DecimalField(
        _("tier qualification metric"), max_digits=14, decimal_places=2, default=0, editable=False
    )
    tier_metric_at = models.DateTimeField(_("tier metric computed at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="member_email_unique_ci"),
            models.CheckConstraint(condition=Q(loyalty_id__regex=r"^[0-9]{16}$"), name="member_loyalty_id_digits"),
            models.CheckConstraint(
                condition=Q(tier_floor__isnull=True) | ~Q(tier_floor_reason=""), name="member_tier_floor_has_reason"
            ),
            models.CheckConstraint(condition=~Q(referred_by=models.F("id")), name="member_no_self_referral"),
            # Nicknames name members on the leaderboard: one spelling per member, whatever the case.
            models.UniqueConstraint(Lower("nickname"), condition=~Q(nickname=""), name="member_nickname_unique_ci"),
        ]
        indexes = [models.Index(fields=["birthday"], name="member_birthday")]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name or self.email} ({self.loyalty_id})"

    @property
    def is_active_member(self) -> bool:
        return self.status == MemberStatus.ACTIVE
