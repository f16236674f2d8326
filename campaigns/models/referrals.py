"""Referrals: who brought whom, and what each side was paid. Written by campaigns.services.referrals only."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class ReferralStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for the first purchase")
    REWARDED = "rewarded", _("Rewarded")
    BLOCKED = "blocked", _("Blocked")
    CAPPED = "capped", _("Over the referrer's limit")
    CANCELLED = "cancelled", _("Cancelled")


class BlockReason(models.TextChoices):
    SAME_EMAIL = "same_email", _("The new member's email is the referrer's own (an alias with +tag or dots).")
    REFERRER_INACTIVE = "referrer_inactive", _("The referrer's membership is not active.")
    IP_LIMIT = "ip_limit", _("More than ten portal sign-ups with a referral from one IP address in a week.")


class ReferralChannel(models.TextChoices):
    PORTAL = "portal", _("Portal sign-up")
    API = "api", _("API or till")


class Referral(models.Model):
    """One referred member (the referee) and the member who referred them (the referrer)."""

    referrer = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="referrals_made",
                                 verbose_name=_("referrer"))
    referee = models.OneToOneField("members.Member", on_delete=models.PROTECT, related_name="referral",
                                   verbose_name=_("new member"))
    status = models.CharField(_("status"), max_length=10, choices=ReferralStatus.choices,
                              default=ReferralStatus.PENDING)
    block_reason = models.CharField(_("blocked because"), max_length=20, choices=BlockReason.choices, blank=True)
    channel = models.CharField(_("channel"), max_length=10, choices=ReferralChannel.choices,
                               default=ReferralChannel.API)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    # A portal sign-up earns nothing before its email address is confirmed.
    referee_confirmed = models.BooleanField(_("email confirmed"), default=True)
    referee_points = models.PositiveIntegerField(_("points to the new member"), default=0)
    referee_transaction = models.OneToOneField(
        "loyalty.LedgerTransaction", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("new member's bonus"),
    )
    referrer_points = models.PositiveIntegerField(_("points to the referrer"), default=0)
    referrer_transaction = models.OneToOneField(
        "loyalty.LedgerTransaction", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("referrer's bonus"),
    )
    purchase = models.ForeignKey("loyalty.Purchase", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+", verbose_name=_("qualifying purchase"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    rewarded_at = models.DateTimeField(_("rewarded at"), null=True, blank=True)
    decided_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    decided_by = models.ForeignKey("members.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                   verbose_name=_("reviewed by"))

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(referrer=models.F("referee")), name="referral_not_self"),
            models.CheckConstraint(
                condition=Q(status=ReferralStatus.BLOCKED, block_reason__in=BlockReason.values)
                | (~Q(status=ReferralStatus.BLOCKED) & Q(block_reason="")),
                name="referral_blocked_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status=ReferralStatus.REWARDED) | Q(rewarded_at__isnull=False),
                name="referral_rewarded_has_time",
            ),
            # The referrer's bonus is paid for rewarded referrals only.
            models.CheckConstraint(
                condition=Q(referrer_transaction__isnull=True) | Q(status=ReferralStatus.REWARDED),
                name="referral_referrer_paid_only_rewarded",
            ),
        ]
        indexes = [
            models.Index(fields=["referrer", "status"], name="referral_referrer_status"),
            models.Index(fields=["ip_address", "created_at"], name="referral_ip_recent",
                         condition=Q(channel="portal")),
        ]

    def __str__(self) -> str:
        return f"{self.referrer} → {self.referee}"
