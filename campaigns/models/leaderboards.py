"""Leaderboards: each opted-in member's score per period (a table kept by campaigns.services.leaderboards),
the monthly prizes for the top places, and the prizes paid."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class LeaderboardPeriod(models.TextChoices):
    WEEK = "week", _("This week")
    MONTH = "month", _("This month")
    ALL = "all", _("All time")


class LeaderboardScore(models.Model):
    """Points earned (earn and bonus postings less reversals, prizes left out) by one member in one period:
    `period_key` is an ISO week ("2025-W49"), a month ("2025-12") or "all", in the site's time zone.

    Only members on the leaderboard (active, opted in, with a nickname) have rows. Ties go to whoever
    reached the score first: `reached_at` is the time of the last posting counted. `last_transaction_id` is
    the newest posting a computation saw; a computation that saw less never overwrites one that saw more.
    """

    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="leaderboard_scores", db_index=False
    )
    period_key = models.CharField(max_length=10)
    points = models.BigIntegerField()
    reached_at = models.DateTimeField()
    last_transaction_id = models.BigIntegerField()

    class Meta:
        verbose_name = _("leaderboard entry")
        verbose_name_plural = _("leaderboard")
        constraints = [
            models.UniqueConstraint(fields=["member", "period_key"], name="leaderboard_score_once_per_period"),
        ]
        indexes = [
            # The board in order (top N) and a member's rank (a count of the entries before them).
            models.Index(
                fields=["period_key", "-points", "reached_at", "member"], condition=Q(points__gt=0),
                name="leaderboard_rank",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period_key} {self.member_id}: {self.points}"


class LeaderboardTally(models.Model):
    """How many entries of a period's board fall in a group, so that a member's rank adds up a few hundred
    counts instead of counting the entries ahead one by one (campaigns.services.leaderboards):

    - level 0: each exact score (`key` = points);
    - level 1: each band of TALLY_BAND points (`key` = points // TALLY_BAND);
    - levels 2, 3 and 4, for the ties (a score many members share, e.g. everybody who only got the sign-up
      bonus): each score (`key` = points) and band of its `reached_at`, `band` = whole seconds since 1970 //
      TIE_BAND_SECONDS[level - 2] (about 48 days, 4.6 hours and 64 seconds; each band splits into 256 of the
      next level's).

    A member's rank = the level-1 bands above their score + the level-0 scores above theirs in their band +
    the ties reached in earlier level-2 bands + in earlier level-3 bands of their level-2 band + in earlier
    level-4 bands of their level-3 band + the ties read one by one in their own 64 seconds. Written with the
    scores, in the same transaction, and rebuilt from them by refresh_leaderboards."""

    period_key = models.CharField(max_length=10)
    level = models.PositiveSmallIntegerField()
    key = models.BigIntegerField()
    band = models.BigIntegerField(default=0)  # 0 at levels 0 and 1
    members = models.IntegerField()

    class Meta:
        verbose_name = _("leaderboard tally")
        verbose_name_plural = _("leaderboard tallies")
        constraints = [
            models.UniqueConstraint(fields=["period_key", "level", "key", "band"], name="leaderboard_tally_once"),
            models.CheckConstraint(condition=Q(members__gte=0), name="leaderboard_tally_non_negative"),
            models.CheckConstraint(condition=Q(level__in=[0, 1, 2, 3, 4]), name="leaderboard_tally_level"),
        ]

    def __str__(self) -> str:
        return f"{self.period_key} L{self.level} {self.key}/{self.band}: {self.members}"


TALLY_BAND = 1000
# The tie levels' bands in seconds (levels 2, 3, 4): powers of two, each 256 times the next, so that a band of
# one level is exactly 256 bands of the next and the rank reads at most 255 rows of levels 3 and 4.
TIE_BAND_SECONDS = (2**22, 2**14, 2**6)  # about 48.5 days, 4.6 hours and 64 seconds


class LeaderboardPrize(models.Model):
    """Bonus points for a place on last month's leaderboard, paid by award_leaderboard_prizes."""

    rank = models.PositiveSmallIntegerField(_("place"), unique=True)
    points = models.PositiveIntegerField(_("bonus points"))

    class Meta:
        verbose_name = _("leaderboard prize")
        verbose_name_plural = _("leaderboard prizes")
        ordering = ["rank"]
        constraints = [
            models.CheckConstraint(condition=Q(rank__gte=1), name="leaderboard_prize_rank_positive"),
            models.CheckConstraint(condition=Q(points__gte=1), name="leaderboard_prize_points_positive"),
        ]

    def __str__(self) -> str:
        return f"#{self.rank}: {self.points}"


class LeaderboardAward(models.Model):
    """A prize for a place in one month: decided once (unique per month and place, and per month and
    member), then paid through the ledger with the idempotency key `leaderboard:<month>:<place>`."""

    period_key = models.CharField(_("month"), max_length=10)
    rank = models.PositiveSmallIntegerField(_("place"))
    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="leaderboard_awards", verbose_name=_("member")
    )
    score = models.BigIntegerField(_("points that month"))
    prize_points = models.PositiveIntegerField(_("prize"))
    transaction = models.OneToOneField(
        "loyalty.LedgerTransaction", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("prize posting"),
    )
    awarded_at = models.DateTimeField(_("decided at"))

    class Meta:
        verbose_name = _("leaderboard prize paid")
        verbose_name_plural = _("leaderboard prizes paid")
        ordering = ["-period_key", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["period_key", "rank"], name="leaderboard_award_once_per_place"),
            models.UniqueConstraint(fields=["period_key", "member"], name="leaderboard_award_once_per_member"),
        ]

    def __str__(self) -> str:
        return f"{self.period_key} #{self.rank}"
