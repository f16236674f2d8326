"""Challenges and milestones (a milestone is a challenge without an end), and each member's progress."""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ChallengeGoal(models.TextChoices):
    POINTS_EARNED = "points_earned", _("Points earned")
    PURCHASES = "purchases", _("Purchases made")
    AMOUNT_SPENT = "amount_spent", _("Amount spent")
    DISTINCT_CATEGORIES = "distinct_categories", _("Different categories bought")
    ACTIONS = "actions", _("Actions of one type")
    WEEKLY_STREAK = "weekly_streak", _("Weeks in a row with a purchase")


class Challenge(models.Model):
    """A goal with a target, counted over [starts_at, ends_at) (no end: a milestone), and a prize paid once
    per member: bonus points, a badge and/or a reward that only the members who completed it may redeem."""

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    goal = models.CharField(_("goal"), max_length=20, choices=ChallengeGoal.choices)
    action_type = models.SlugField(
        _("action type"), max_length=50, blank=True, help_text=_("For the actions goal: which action counts.")
    )
    target = models.PositiveIntegerField(
        _("target"),
        help_text=_(
            "Points, purchases, whole currency units spent, different categories, actions, or weeks in a row."
        ),
    )
    starts_at = models.DateTimeField(
        _("starts at"), default=timezone.now, help_text=_("What members did from this moment on counts.")
    )
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True, help_text=_("Empty: a milestone, no end."))
    tiers = models.ManyToManyField(
        "loyalty.Tier", blank=True, related_name="challenges", verbose_name=_("tiers"),
        help_text=_("Only members in these tiers take part. None: everyone."),
    )
    prize_points = models.PositiveIntegerField(_("prize: bonus points"), default=0)
    prize_badge = models.ForeignKey(
        "campaigns.Badge", on_delete=models.PROTECT, null=True, blank=True, related_name="challenges",
        verbose_name=_("prize: badge"),
    )
    prize_reward = models.ForeignKey(
        "rewards.Reward", on_delete=models.PROTECT, null=True, blank=True, related_name="unlocking_challenges",
        verbose_name=_("prize: unlocked reward"),
        help_text=_("Only members who completed this challenge may redeem the reward."),
    )
    active = models.BooleanField(_("active"), default=True)
    # Set by close_challenges once the window has ended and unfinished progress is marked expired.
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("challenge")
        verbose_name_plural = _("challenges")
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(target__gte=1), name="challenge_target_positive"),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")), name="challenge_window_ordered"
            ),
            models.CheckConstraint(
                condition=(Q(goal=ChallengeGoal.ACTIONS) & ~Q(action_type=""))
                | (~Q(goal=ChallengeGoal.ACTIONS) & Q(action_type="")),
                name="challenge_action_type_iff_actions",
            ),
            models.CheckConstraint(
                condition=Q(prize_points__gt=0) | Q(prize_badge__isnull=False) | Q(prize_reward__isnull=False),
                name="challenge_has_a_prize",
            ),
        ]
        indexes = [models.Index(fields=["active", "ends_at"], name="challenge_open")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_milestone(self) -> bool:
        return self.ends_at is None


class ProgressStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", _("In progress")
    COMPLETED = "completed", _("Completed")
    EXPIRED = "expired", _("Expired")
    # The membership was closed before the challenge was completed: the progress stays as it was (the KPI
    # dashboard counts it as started, not completed) and never moves again.
    CANCELLED = "cancelled", _("Cancelled: membership closed")


class ChallengeProgress(models.Model):
    """A member's progress on a challenge, recomputed from their history after each purchase, refund or
    action; frozen once completed (completed once: the unique constraint and the status move from
    in_progress, which exactly one writer wins)."""

    challenge = models.ForeignKey(
        Challenge, on_delete=models.PROTECT, related_name="progress", verbose_name=_("challenge")
    )
    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="challenge_progress", verbose_name=_("member")
    )
    # Counts are whole numbers; the amount spent has cents.
    value = models.DecimalField(_("progress"), max_digits=14, decimal_places=2, default=0)
    status = models.CharField(
        _("status"), max_length=12, choices=ProgressStatus.choices, default=ProgressStatus.IN_PROGRESS
    )
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    prize_transaction = models.OneToOneField(
        "loyalty.LedgerTransaction", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("prize posting"),
    )
    # When the member's first progress was counted (kept when a refund takes it back to 0): the KPI
    # dashboard's "started in the range".
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("challenge progress")
        verbose_name_plural = _("challenge progress")
        constraints = [
            models.UniqueConstraint(fields=["challenge", "member"], name="challenge_progress_once_per_member"),
            models.CheckConstraint(
                condition=(Q(status=ProgressStatus.COMPLETED) & Q(completed_at__isnull=False))
                | (~Q(status=ProgressStatus.COMPLETED) & Q(completed_at__isnull=True)),
                name="challenge_progress_completed_iff_completed_at",
            ),
            models.CheckConstraint(condition=Q(value__gte=0), name="challenge_progress_non_negative"),
        ]
        indexes = [
            models.Index(fields=["member", "status"], name="challenge_progress_member"),
            models.Index(fields=["started_at"], name="challenge_progress_started"),
        ]

    def __str__(self) -> str:
        return f"{self.challenge_id}/{self.member_id}: {self.value}"
