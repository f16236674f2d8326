"""The double-entry points ledger. Only loyalty.services.ledger writes these rows."""

from django.conf import settings
from django.db import models
from django.db.models import F, JSONField, Q, Value
from django.utils.translation import gettext_lazy as _

from loyalty.reasons import reason_render


class AccountKind(models.TextChoices):
    AVAILABLE = "available", _("Available")
    PENDING = "pending", _("Pending")
    ISSUED = "issued", _("Issued")
    REDEEMED = "redeemed", _("Redeemed")
    EXPIRED = "expired", _("Expired")
    ADJUSTMENTS = "adjustments", _("Adjustments")


MEMBER_ACCOUNT_KINDS = (AccountKind.AVAILABLE, AccountKind.PENDING)
SYSTEM_ACCOUNT_KINDS = (AccountKind.ISSUED, AccountKind.REDEEMED, AccountKind.EXPIRED, AccountKind.ADJUSTMENTS)
# Every posting locks the system account its points come from or go to until it commits. With one row per
# kind, every purchase waited for the one before it to commit: the ledger's throughput was one posting at a
# time whatever the number of workers (bench_load, README "Sizing"). So each system kind has this many rows
# (shards); a posting takes the shard its member falls in, and a kind's balance is the sum of its shards.
SYSTEM_ACCOUNT_SHARDS = 64


class LedgerAccount(models.Model):
    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_accounts",
        verbose_name=_("member"),
    )
    kind = models.CharField(_("kind"), max_length=12, choices=AccountKind.choices)
    # Cached sum of this account's entries; written only by the posting service, with F(). Not indexed, and
    # PostgreSQL keeps free space on each page (fillfactor, migration 0008): balance updates stay in place.
    balance = models.BigIntegerField(_("balance"), default=0)
    # db_default too: bulk inserts that do not name it (COPY in the benchmarks) make shard 0.
    shard = models.PositiveSmallIntegerField(_("shard"), default=0, db_default=0)  # system accounts (see above)

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "kind"], condition=Q(member__isnull=False), name="ledger_account_one_per_member_kind"
            ),
            models.UniqueConstraint(
                fields=["kind", "shard"], condition=Q(member__isnull=True),
                name="ledger_account_one_system_account_per_kind_shard",
            ),
            models.CheckConstraint(
                condition=Q(shard__lt=SYSTEM_ACCOUNT_SHARDS) & (Q(member__isnull=True) | Q(shard=0)),
                name="ledger_account_shard_of_system_accounts",
            ),
            models.CheckConstraint(
                condition=(Q(member__isnull=False) & Q(kind__in=MEMBER_ACCOUNT_KINDS))
                | (Q(member__isnull=True) & Q(kind__in=SYSTEM_ACCOUNT_KINDS)),
                name="ledger_account_kind_matches_owner",
            ),
            models.CheckConstraint(
                condition=~Q(kind=AccountKind.PENDING) | Q(balance__gte=0),
                name="ledger_account_pending_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}:{self.kind}" if self.member_id else f"system:{self.kind}:{self.shard}"


class TransactionKind(models.TextChoices):
    EARN = "earn", _("Earned")
    BONUS = "bonus", _("Bonus")
    RELEASE = "release", _("Released")
    REDEEM = "redeem", _("Redeemed")
    CANCEL_REDEMPTION = "cancel_redemption", _("Redemption cancelled")
    REVERSE = "reverse", _("Reversed")
    EXPIRE = "expire", _("Expired")
    ADJUST = "adjust", _("Adjusted")
    TRANSFER = "transfer", _("Transferred")


class LedgerTransaction(models.Model):
    """One business event. Its entries sum to zero."""

    kind = models.CharField(_("kind"), max_length=20, choices=TransactionKind.choices)
    # No index of its own: ledger_txn_member_history leads with the member.
    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_transactions",
        db_index=False,
        verbose_name=_("member"),
    )
    # The reason in English (what the admin searches; the fallback), and the message id and parameters it
    # was rendered from, so each reader sees it in their own language (loyalty.reasons). Staff-typed
    # reasons have no message id and are shown as typed.
    reason = models.CharField(_("reason"), max_length=255)
    # db_default too: bulk inserts that do not name them (COPY, the expiry bound in bench_jobs) get none.
    reason_msgid = models.CharField(_("reason message id"), max_length=255, blank=True, default="", db_default="")
    reason_params = models.JSONField(
        _("reason parameters"), default=dict, blank=True, db_default=Value({}, JSONField())
    )
    reference = models.CharField(_("reference"), max_length=255, blank=True)
    # store and staff_user: indexed only where set (see Meta); job postings have neither.
    store = models.ForeignKey(
        "loyalty.Store", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False,
        verbose_name=_("store"),
    )
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False,
        verbose_name=_("staff user"),
    )
    job = models.CharField(_("job"), max_length=50, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, unique=True)
    # Written by the posting service under the member's locks: the change to available + pending
    # and the sum of both afterwards, so history reads need no window functions.
    points = models.BigIntegerField(_("points"), default=0)
    balance_after = models.BigIntegerField(_("total after"), default=0)
    metadata = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("ledger transaction")
        verbose_name_plural = _("ledger transactions")
        indexes = [
            models.Index(fields=["member", "-occurred_at", "-id"], name="ledger_txn_member_history"),
            models.Index(fields=["store"], condition=Q(store__isnull=False), name="ledger_txn_store"),
            models.Index(fields=["staff_user"], condition=Q(staff_user__isnull=False), name="ledger_txn_staff_user"),
            # Reversals count against the tier metric of every member: rare rows, read for everyone.
            models.Index(fields=["member", "occurred_at"], condition=Q(kind="reverse"), name="ledger_txn_reversals"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.points:+d}"

    @property
    def reason_text(self) -> str:
        """The reason in the active language (the member's, in the portal and their emails)."""
        return reason_render(self.reason_msgid, self.reason_params, self.reason)


class LedgerEntry(models.Model):
    """Signed points on one account. Append-only: never updated or deleted."""

    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries", verbose_name=_("transaction")
    )
    # No index of its own: ledger_entry_account leads with the account.
    account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="entries", db_index=False, verbose_name=_("account")
    )
    points = models.BigIntegerField(_("points"))

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [models.CheckConstraint(condition=~Q(points=0), name="ledger_entry_points_non_zero")]
        indexes = [models.Index(fields=["account", "transaction"], name="ledger_entry_account")]

    def __str__(self) -> str:
        return f"{self.account} {self.points:+d}"


class PointLot(models.Model):
    """A bucket of earned points: remaining = points - what postings took (LotAllocations) - expired.

    Spending consumes lots FIFO and records LotAllocations (a cancellation gives exactly those back);
    the expiry job moves whatever is left into `expired`, on the lot itself (no allocation rows).
    """

    # No index of its own: point_lot_member_fifo leads with the member.
    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="lots", db_index=False, verbose_name=_("member")
    )
    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="lots", verbose_name=_("transaction")
    )
    points = models.BigIntegerField(_("points"))
    remaining = models.BigIntegerField(_("remaining"))
    # Points that expired from this lot: what was left at its expiry, plus points given back to it after
    # that date (they expire at the next run). db_default too: inserts that do not name it (COPY, raw SQL)
    # get 0.
    expired = models.BigIntegerField(_("expired"), default=0, db_default=0)
    earned_at = models.DateTimeField(_("earned at"))
    available_at = models.DateTimeField(_("available from"))
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    class Meta:
        verbose_name = _("point lot")
        verbose_name_plural = _("point lots")
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="point_lot_points_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=F("points") - F("expired")),
                name="point_lot_remaining_in_range",
            ),
            models.CheckConstraint(condition=Q(expired__gte=0), name="point_lot_expired_non_negative"),
        ]
        # Only point_lot_open_expiry mentions `remaining`: the lots still holding points by expiry date, so
        # the expiry job and the reminders read the lots due, not every member's history (migration 0020).
        # A change of `remaining` is therefore not a HOT update any more (one entry in each other index);
        # half of each page is still kept free (fillfactor, migration 0008) so the new row version stays on
        # its page. An emptied lot stays in the other indexes: finding a member's open lots reads all of
        # that member's lots.
        indexes = [
            models.Index(fields=["member", "expires_at", "earned_at", "id"], name="point_lot_member_fifo"),
            models.Index(
                fields=["expires_at", "member"], condition=Q(remaining__gt=0), name="point_lot_open_expiry"
            ),
            models.Index(
                fields=["member", "available_at"], condition=Q(released_at__isnull=True), name="point_lot_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"lot #{self.pk}: {self.remaining}/{self.points}"

    @property
    def is_released(self) -> bool:
        return self.released_at is not None


class LotAllocation(models.Model):
    """Points a transaction took from a lot (positive) or gave back to it (negative)."""

    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("transaction")
    )
    lot = models.ForeignKey(PointLot, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("lot"))
    points = models.BigIntegerField(_("points"))

    class Meta:
        verbose_name = _("lot allocation")
        verbose_name_plural = _("lot allocations")
        constraints = [models.CheckConstraint(condition=~Q(points=0), name="lot_allocation_points_non_zero")]
        indexes = [models.Index(fields=["lot"], name="lot_allocation_lot")]

    def __str__(self) -> str:
        return f"txn #{self.transaction_id} lot #{self.lot_id} {self.points:+d}"
