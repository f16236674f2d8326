"""Badges: earned from challenges, given on reaching a tier, or granted by staff; a reward may require one."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from rewards.images import thumbnail_sync


class Badge(models.Model):
    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(
        _("description"), blank=True, help_text=_("What the badge is for, as members read it.")
    )
    image = models.ImageField(_("image"), upload_to="badges/", blank=True)
    # Made from `image` on save (rewards.images): at most 400 px, JPEG (PNG when transparent).
    thumbnail = models.ImageField(_("thumbnail"), upload_to="badges/thumbnails/", blank=True, editable=False)
    tier = models.ForeignKey(
        "loyalty.Tier", on_delete=models.PROTECT, null=True, blank=True, related_name="badges",
        verbose_name=_("given on reaching tier"),
        help_text=_("Members who reach this tier, or a higher one, get the badge automatically."),
    )
    active = models.BooleanField(_("active"), default=True, help_text=_("Inactive badges are not shown or given."))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("badge")
        verbose_name_plural = _("badges")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        kwargs = thumbnail_sync(self, kwargs)
        super().save(*args, **kwargs)


class BadgeSource(models.TextChoices):
    CHALLENGE = "challenge", _("Challenge completed")
    TIER = "tier", _("Tier reached")
    STAFF = "staff", _("Granted by staff")


class BadgeAward(models.Model):
    """A badge a member holds: at most once per member and badge (a database constraint)."""

    badge = models.ForeignKey(Badge, on_delete=models.PROTECT, related_name="awards", verbose_name=_("badge"))
    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="badge_awards", verbose_name=_("member"),
        db_index=False,
    )
    source = models.CharField(_("source"), max_length=10, choices=BadgeSource.choices)
    challenge = models.ForeignKey(
        "campaigns.Challenge", on_delete=models.PROTECT, null=True, blank=True, related_name="badge_awards",
        verbose_name=_("challenge"),
    )
    tier = models.ForeignKey(
        "loyalty.Tier", on_delete=models.PROTECT, null=True, blank=True, related_name="badge_awards",
        verbose_name=_("tier"),
    )
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("granted by"),
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True, help_text=_("Shown to the member."))
    awarded_at = models.DateTimeField(_("awarded at"))

    class Meta:
        verbose_name = _("badge award")
        verbose_name_plural = _("badge awards")
        ordering = ["-awarded_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "badge"], name="badge_award_once_per_member"),
            models.CheckConstraint(
                condition=~Q(source=BadgeSource.CHALLENGE) | Q(challenge__isnull=False),
                name="badge_award_challenge_names_it",
            ),
            models.CheckConstraint(
                condition=~Q(source=BadgeSource.TIER) | Q(tier__isnull=False), name="badge_award_tier_names_it"
            ),
            models.CheckConstraint(
                condition=~Q(source=BadgeSource.STAFF) | ~Q(reason=""), name="badge_award_staff_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.badge} - {self.member_id}"
