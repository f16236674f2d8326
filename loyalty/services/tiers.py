"""Tiers: the qualification metric, upgrades at once, the recalculation job, floors and paid tiers."""

from __future__ import annotations

import calendar
import contextlib
import functools
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import cast

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import ForeignObjectRel, ProtectedError, RestrictedError
from django.db.models.signals import post_save, pre_save
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from loyalty.models import (
    LedgerTransaction,
    LotAllocation,
    PointLot,
    Program,
    Purchase,
    Refund,
    Tier,
    TierChangeKind,
    TierHistory,
    TierMembership,
    TierMetric,
    TierRecalculation,
    TierReview,
    TierWindow,
    TransactionKind,
)
from loyalty.services.ledger import LedgerError, MemberUpdate, _member_update_apply
from loyalty.services.program import program_get, tiers_cached_get
from loyalty.signals import points_posted, tier_changed
from members.models import Member, MemberStatus

logger = logging.getLogger(__name__)

# -- time helpers ----------------------------------------------------------------------------------


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` moved by whole calendar months (negative goes back); the day is clamped to the month's end."""
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def tier_window_start(*, program: Program, as_of: datetime) -> datetime | None:
    """The first moment that counts towards the metric at `as_of` (None: lifetime)."""
    if program.tier_window == TierWindow.CALENDAR_YEAR:
        local = timezone.localtime(as_of)
        return local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if program.tier_window == TierWindow.ROLLING and program.tier_window_months:
        try:
            return add_months(as_of, -program.tier_window_months)
        except ValueError:  # a window reaching before year 1 counts everything
            return None
    return None


def _held_long_enough(tier_since: datetime | None, hold_months: int, as_of: datetime) -> bool:
    if tier_since is None:
        return True
    try:
        return add_months(tier_since, hold_months) <= as_of
    except ValueError:  # a hold reaching past year 9999 never ends
        return False


# -- the metric ------------------------------------------------------------------------------------


@functools.cache
def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _when(moment: datetime):
    """A datetime as the database stores it (SQLite: naive UTC text), for raw SQL parameters."""
    return connection.ops.adapt_datetimefield_value(moment)


def _members_condition(
    column: str, *, member_id: int | None = None, member_ids: list[int] | None = None
) -> tuple[str, list]:
    """SQL keeping the rows of one member (`member_id`), of some (`member_ids`, passed as one array or JSON
    parameter however many) or of all (neither), with its parameters."""
    if member_id is not None:
        return f"{column} = %s", [member_id]
    if member_ids is None:
        return "1 = 1", []
    if connection.vendor == "postgresql":
        return f"{column} = ANY(CAST(%s AS bigint[]))", ["{" + ",".join(map(str, member_ids)) + "}"]
    return f"{column} IN (SELECT value FROM json_each(%s))", [json.dumps(member_ids)]  # noqa: S608 - a name


def _points_metric_sql(*, start: datetime | None, as_of: datetime, members: tuple[str, list]) -> tuple[str, list]:
    """Points earned in the window: released earn/bonus credits, minus reversals.

    A reversal taken from a lot that is still pending does not count against: that lot's credit does
    not count yet either (and once it is released, the credit and the reversal both count).
    """
    txn, lot, allocation = _table(LedgerTransaction), _table(PointLot), _table(LotAllocation)
    window = "t.occurred_at <= %s" + (" AND t.occurred_at >= %s" if start is not None else "")
    when = _when(as_of)
    window_params: list = [when] + ([_when(start)] if start is not None else [])
    window += " AND " + members[0].format(column="t.member_id")
    window_params.extend(members[1])
    # Only table names from the models' _meta and fixed fragments are formatted in; values are parameters.
    sql = f"""
        SELECT member_id, SUM(points) AS metric FROM (
            SELECT t.member_id AS member_id, t.points AS points
              FROM {txn} t JOIN {lot} l ON l.transaction_id = t.id
             WHERE t.kind IN (%s, %s) AND l.released_at IS NOT NULL AND l.released_at <= %s AND {window}
            UNION ALL
            SELECT t.member_id, t.points
              FROM {txn} t
             WHERE t.kind = %s AND {window}
            UNION ALL
            SELECT t.member_id, a.points
              FROM {txn} t JOIN {allocation} a ON a.transaction_id = t.id JOIN {lot} l ON l.id = a.lot_id
             WHERE t.kind = %s AND (l.released_at IS NULL OR l.released_at > %s) AND {window}
        ) counted
        GROUP BY member_id
    """  # noqa: S608
    params = [
        TransactionKind.EARN, TransactionKind.BONUS, when, *window_params,
        TransactionKind.REVERSE, *window_params,
        TransactionKind.REVERSE, when, *window_params,
    ]
    return sql, params


def _spend_metric_sql(*, start: datetime | None, as_of: datetime, members: tuple[str, list]) -> tuple[str, list]:
    """Net spend in the window: purchase totals minus their refunds, once the purchase's points are released."""
    purchase = _table(Purchase)
    where = "p.occurred_at <= %s AND (p.available_at IS NULL OR p.available_at <= %s)"
    params: list = [_when(as_of), _when(as_of)]
    if start is not None:
        where += " AND p.occurred_at >= %s"
        params.append(_when(start))
    where += " AND " + members[0].format(column="p.member_id")
    params.extend(members[1])
    sql = f"""
        SELECT p.member_id AS member_id, SUM(p.total - p.refunded_total) AS metric
          FROM {purchase} p
         WHERE {where}
         GROUP BY p.member_id
    """  # noqa: S608
    return sql, params


def _metric_sql(
    *, program: Program, as_of: datetime, member_id: int | None = None, member_ids: list[int] | None = None
) -> tuple[str, list]:
    """The metric per member at `as_of`: of one member, of `member_ids`, or of every member (neither)."""
    start = tier_window_start(program=program, as_of=as_of)
    members = _members_condition("{column}", member_id=member_id, member_ids=member_ids)
    if program.tier_metric == TierMetric.SPEND:
        return _spend_metric_sql(start=start, as_of=as_of, members=members)
    return _points_metric_sql(start=start, as_of=as_of, members=members)


def _metric_value(program: Program, value) -> int | Decimal:
    """A metric as the database returned it, typed: int points, or a Decimal currency amount for spend."""
    if program.tier_metric == TierMetric.SPEND:
        return Decimal(str(value or 0)).quantize(Decimal("0.01"))
    return int(value or 0)


def tier_metrics_get(
    *, as_of: datetime, program: Program | None = None, member: Member | None = None
) -> dict[int, int | Decimal]:
    """The qualification metric per member id, in one aggregate query (for one member or for all).

    Points metric: int points; spend metric: Decimal currency amount. Members with nothing in the
    window are absent (their metric is 0). The value may be negative (reversals of older points).
    """
    program = program or program_get()
    sql, params = _metric_sql(program=program, as_of=as_of, member_id=member.pk if member is not None else None)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {row[0]: _metric_value(program, row[1]) for row in rows}


# Which postings change the points metric (a release counts its lots from then on).
_METRIC_KINDS = (TransactionKind.EARN, TransactionKind.BONUS, TransactionKind.REVERSE, TransactionKind.RELEASE)


def tier_metric_member_update(*, member: Member, as_of: datetime, plus: int | Decimal = 0) -> MemberUpdate:
    """Storing the member's metric at `as_of` on the member row, as an update the ledger writes with a
    credit (`plus`: what that credit adds, the history query not seeing it yet; see MemberUpdate).

    The points metric over a lifetime window is carried forward from the stored value when that value is
    still exact: stamped (the ledger clears the stamp on every credit, reversal and release that does not
    store the metric itself, and a change of the metric's settings clears every stamp), not after
    `as_of`, and no such posting dated after it. Otherwise, and for spend or a window (where time alone
    changes the metric), the metric is summed over the member's history: a cost that grows with it.
    One gap is left to the next recalculation: a back-dated posting committed while the recalculation's
    batch UPDATE for that member runs can have its cleared stamp overwritten by the job's value at `as_of`.
    """
    program, when = program_get(), _when(as_of)
    sql, params = _metric_sql(program=program, as_of=as_of, member_id=member.pk)
    expression = f"SELECT COALESCE(SUM(counted.metric), 0) FROM ({sql}) counted"  # noqa: S608 - no values
    if program.tier_metric == TierMetric.POINTS and tier_window_start(program=program, as_of=as_of) is None:
        members, stamp = _table(Member), _column(Member, "tier_metric_at")
        expression = f"""CASE WHEN {members}.{stamp} IS NOT NULL AND {members}.{stamp} <= %s AND NOT EXISTS (
            SELECT 1 FROM {_table(LedgerTransaction)} t WHERE t.member_id = %s AND t.occurred_at > {members}.{stamp}
               AND t.kind IN ({", ".join(["%s"] * len(_METRIC_KINDS))})
        ) THEN {members}.{_column(Member, "tier_metric_value")} ELSE ({expression}) END"""  # noqa: S608 - no values
        params = [when, member.pk, *_METRIC_KINDS, *params]
    return MemberUpdate(
        column="tier_metric_value", expression=expression,
        params=params, plus=plus, stamp_column="tier_metric_at", stamp=when,
    )


def tier_metric_plus(*, occurred_at: datetime, as_of: datetime, points: int, total: Decimal) -> int | Decimal:
    """What a purchase released at once adds to the metric at `as_of`: its points or its total, if it falls
    in the window."""
    program = program_get()
    start = tier_window_start(program=program, as_of=as_of)
    if occurred_at > as_of or (start is not None and occurred_at < start):
        return 0
    return total if program.tier_metric == TierMetric.SPEND else points


def _member_tier_metric_stored(member: Member, value, as_of: datetime) -> int | Decimal:
    """The metric as the database stored it, typed, and copied onto the member instance."""
    metric = _metric_value(program_get(), value)
    member.tier_metric_value, member.tier_metric_at = Decimal(metric).quantize(Decimal("0.01")), as_of
    return metric


def member_tier_metric_get(*, member: Member, as_of: datetime | None = None, program: Program | None = None):
    as_of = as_of or timezone.now()
    return tier_metrics_get(as_of=as_of, program=program, member=member).get(member.pk, 0)


# -- which tier a metric reaches -------------------------------------------------------------------


def _earnable(tier: Tier) -> bool:
    """A paid tier with threshold 0 can only be bought (or set as a floor); any other tier can be earned."""
    return not (tier.is_paid and tier.threshold == 0)


def tiers_list_get() -> list[Tier]:
    """Every tier ordered by rank, from the cache (the progress and upgrade code read it on every request)."""
    return tiers_cached_get()


def tiers_by_metric(tiers: list[Tier], metric) -> Tier | None:
    """The highest-ranked earnable tier whose threshold the metric reaches."""
    best = None
    for tier in tiers:
        if _earnable(tier) and max(metric, 0) >= tier.threshold and (best is None or tier.rank > best.rank):
            best = tier
    return best


def member_tier_metric_stored_get(*, member: Member, program: Program | None = None) -> int | Decimal:
    """The metric as last stored on the member row (no history query), typed like `tier_metrics_get`.

    Exact after each posting (the upgrade check stores it), refreshed nightly by `tiers_recalculate` for
    points ageing out of the window. A member whose metric was never stored gets it computed now.
    """
    program = program or program_get()
    if member.tier_metric_at is None:
        return member_tier_metric_get(member=member, program=program)
    value = member.tier_metric_value
    if program.tier_metric == TierMetric.SPEND:
        return Decimal(value).quantize(Decimal("0.01"))
    return int(value)


def member_tier_progress_get(*, member: Member, as_of: datetime | None = None) -> dict | None:
    """The next earnable tier above the member's current one and how much is still needed.

    `remaining` is points (int) for the points metric, a currency amount (Decimal) for spend.
    None at the top, or when no tiers exist. Reads the metric stored on the member row (see
    `member_tier_metric_stored_get`) unless `as_of` asks for another moment, then computes it.
    """
    current_rank = _rank(member.tier)
    next_tier = next(
        (tier for tier in tiers_list_get() if tier.rank > current_rank and _earnable(tier)), None
    )
    if next_tier is None:
        return None
    if as_of is None:
        metric = member_tier_metric_stored_get(member=member)
    else:
        metric = member_tier_metric_get(member=member, as_of=as_of)
    remaining = max(next_tier.threshold - metric, 0)
    return {"code": next_tier.code, "name": next_tier.name, "remaining": remaining}


# -- errors ----------------------------------------------------------------------------------------


class TierError(LedgerError):
    """A refused tier operation; the API's exception handler maps it by `code` and `status_code`."""

    def __init__(self, detail: str = "", *, code: str = "invalid", status_code: int = 422, field: str = "") -> None:
        super().__init__(detail, {field: [detail]} if field else None)
        self.code = code
        self.status_code = status_code
        self.field = field


# -- changing a member's tier ----------------------------------------------------------------------


@dataclass(frozen=True)
class TierChange:
    """One member's move, as loyalty.signals.tier_changed reports it after the commit."""

    member_id: int
    from_tier_id: int | None
    to_tier_id: int | None
    kind: str


def _tier_changed_send(changes: list[TierChange]) -> None:
    """tier_changed once the surrounding transaction commits (at once outside one)."""
    if changes:
        transaction.on_commit(lambda: tier_changed.send(sender=TierHistory, changes=changes))


def _rank(tier: Tier | None) -> int:
    return tier.rank if tier is not None else -1


def _reason(kind: str, to_tier: Tier | None) -> str:
    name = to_tier.name if to_tier is not None else ""
    if kind == TierChangeKind.UPGRADE:
        return _("You reached %(tier)s.") % {"tier": name}
    if kind == TierChangeKind.PAID:
        return _("Paid %(tier)s membership.") % {"tier": name}
    if to_tier is None:
        return _("Your qualifying activity is below the first tier.")
    return _("Your qualifying activity is below your tier: you are now %(tier)s.") % {"tier": name}


def _member_tier_change(
    *, member: Member, to_tier: Tier | None, kind: str, reason: str, changed_at: datetime, staff_user=None,
    extra: dict | None = None,
) -> TierHistory:
    """Move a locked member to `to_tier` now and keep the change in the history (`extra`: more columns)."""
    history = TierHistory.objects.create(
        member=member, from_tier_id=member.tier_id, to_tier=to_tier, kind=kind, reason=reason[:255],
        changed_at=changed_at, staff_user=staff_user,
    )
    Member.objects.filter(pk=member.pk).update(tier=to_tier, tier_since=changed_at, **(extra or {}))
    _tier_changed_send([TierChange(member.pk, member.tier_id, to_tier.pk if to_tier else None, kind)])
    member.tier, member.tier_since = to_tier, changed_at
    return history


def tier_entry_get() -> Tier | None:
    """The tier a new member starts in: the highest earnable tier a metric of 0 reaches (from the cache)."""
    return tiers_by_metric(tiers_list_get(), 0)


def member_entry_tier_record(*, member: Member, tier: Tier) -> TierHistory:
    """A new member's first tier, set on the member row by the enrolment itself (`tier_entry_get`), kept in
    the tier history like every other change."""
    return TierHistory.objects.create(
        member=member, from_tier=None, to_tier=tier, kind=TierChangeKind.UPGRADE,
        reason=_reason(TierChangeKind.UPGRADE, tier)[:255], changed_at=member.tier_since or member.joined_at,
    )


def _locked_member(member: Member) -> Member:
    return Member.objects.select_for_update(of=("self",)).select_related("tier").get(pk=member.pk)


@transaction.atomic
def member_tier_upgrade_check(*, member: Member, as_of: datetime | None = None) -> TierHistory | None:
    """Upgrade the member at once when the metric now reaches a higher tier. Never downgrades.

    Stores the metric it computed on the member row (`tier_metric_value`, `tier_metric_at`), so the
    tier progress shown on a member read is exact after each posting without querying the history.
    """
    as_of = as_of or timezone.now()
    if not tiers_list_get():
        return None
    locked = _locked_member(member)
    history = member_tier_upgrade_check_locked(member=locked, as_of=as_of)
    member.tier, member.tier_since = locked.tier, locked.tier_since
    member.tier_metric_value, member.tier_metric_at = locked.tier_metric_value, locked.tier_metric_at
    return history


def member_tier_upgrade_check_locked(*, member: Member, as_of: datetime) -> TierHistory | None:
    """member_tier_upgrade_check for a member row the caller has locked (select_for_update, in its
    transaction) and read with its tier. Nothing to do when no earnable tier is above the member's: the
    stored metric of a member at the top is then refreshed by the recalculation only (it is not shown)."""
    if not member_tier_upgrade_wanted(member=member):
        return None
    stored = _member_update_apply(member, tier_metric_member_update(member=member, as_of=as_of))
    return member_tier_upgrade_apply(member=member, metric=stored, as_of=as_of)


def member_tier_upgrade_wanted(*, member: Member) -> bool:
    """Whether an earnable tier is above the member's (else no upgrade check is needed)."""
    return any(_earnable(tier) and tier.rank > _rank(member.tier) for tier in tiers_list_get())


def member_tier_upgrade_apply(*, member: Member, metric, as_of: datetime) -> TierHistory | None:
    """Upgrade the locked member if `metric`, just computed and stored (`tier_metric_value` as the database
    returned it, or typed), reaches a higher tier."""
    metric = _member_tier_metric_stored(member, metric, as_of)
    tiers = tiers_list_get()
    reached = tiers_by_metric(tiers, metric)
    if reached is None or reached.rank <= _rank(member.tier):
        return None
    return _member_tier_change(
        member=member, to_tier=reached, kind=TierChangeKind.UPGRADE,
        reason=_reason(TierChangeKind.UPGRADE, reached), changed_at=as_of,
    )


# The postings after which the metric may change: credits straight to available and releases (more
# points count: maybe an upgrade), reversals (fewer count: the stored metric is refreshed; never a downgrade).
_UPGRADE_KINDS = (TransactionKind.EARN, TransactionKind.BONUS, TransactionKind.RELEASE, TransactionKind.REVERSE)


def _on_points_posted(sender, transaction: LedgerTransaction, **kwargs) -> None:
    """After a ledger commit: points that now count may lift the member to a higher tier.

    Skipped when the posting's own transaction checked already (`tier_checked`, the purchase path) and
    for a credit into a pending lot (it counts only once released; the release checks again).
    """
    if transaction.member_id is None or transaction.kind not in _UPGRADE_KINDS:
        return
    if getattr(transaction, "tier_checked", False):
        return
    lot = getattr(transaction, "lot", None)
    if lot is not None and lot.released_at is None:
        return
    try:
        # No read first: the check locks and reads the member row itself.
        member_tier_upgrade_check(
            member=Member(pk=transaction.member_id), as_of=max(timezone.now(), transaction.occurred_at)
        )
    except Exception:  # the points are committed already; a failed check is caught up by the recalculation
        logger.exception("tier upgrade check failed for member %s", transaction.member_id)


def _on_purchase_saved(sender, instance: Purchase, created: bool, **kwargs) -> None:
    """A recorded purchase may lift a member on the spend metric (also when it earned no points)."""
    if not created:
        return
    member_id = instance.member_id

    def check() -> None:
        if getattr(instance, "tier_checked", False):  # checked in the purchase's own transaction
            return
        try:
            if program_get().tier_metric != TierMetric.SPEND:
                return
            member_tier_upgrade_check(member=Member.objects.get(pk=member_id))
        except Exception:
            logger.exception("tier upgrade check failed for member %s", member_id)

    transaction.on_commit(check)


_METRIC_SETTINGS = ("tier_metric", "tier_window", "tier_window_months")


def _on_program_saving(sender, instance: Program, **kwargs) -> None:
    """Note whether this save changes what the tier metric counts (see _on_program_saved)."""
    before = Program.objects.filter(pk=instance.pk).values_list(*_METRIC_SETTINGS).first()
    instance._tier_metric_changed = before is not None and before != tuple(  # type: ignore[attr-defined]
        getattr(instance, name) for name in _METRIC_SETTINGS
    )


def _on_program_saved(sender, instance: Program, **kwargs) -> None:
    """Metrics stored under the old settings are not carried forward (tier_metric_member_update): their
    stamps are cleared, so each is computed afresh at its next posting, read or recalculation."""
    if getattr(instance, "_tier_metric_changed", False):
        Member.objects.filter(tier_metric_at__isnull=False).update(tier_metric_at=None)


def tier_signals_connect() -> None:
    """Called from LoyaltyConfig.ready()."""
    points_posted.connect(_on_points_posted, dispatch_uid="tiers_upgrade_on_points_posted")
    post_save.connect(_on_purchase_saved, sender=Purchase, dispatch_uid="tiers_upgrade_on_purchase")
    pre_save.connect(_on_program_saving, sender=Program, dispatch_uid="tiers_metric_settings_saving")
    post_save.connect(_on_program_saved, sender=Program, dispatch_uid="tiers_metric_settings_saved")


# -- the recalculation job -------------------------------------------------------------------------

# Which members the recalculation has to touch, in one set-based query: for every member but closed ones (or
# only those of {members}: the members with something new, see _candidates_get), the ranks of the current
# tier, of the tier the metric reaches, of a running paid membership and of the staff floor (-1: none), the
# metric, whether the stored metric must be rewritten, and whether the current tier was held only by a paid
# membership that has ended. Only members whose target rank differs from the current one, or whose stored
# metric is stale, come back: a daily run reads a handful of rows.
# {metric}: the metric query (member_id, metric) of tier_metrics_get; {greatest}: the SQL maximum of values;
# {reached}: the rank the metric reaches, a CASE over the earnable tiers (see _reached_rank_sql).
_DECISIONS = """
    WITH metric AS ({metric}),
    paid AS (
        SELECT tm.member_id AS member_id, MAX(pt.rank) AS rank
          FROM {membership} tm JOIN {tier} pt ON pt.id = tm.tier_id
         WHERE tm.starts_at <= %s AND tm.ends_at > %s AND {paid_members}
         GROUP BY tm.member_id
    )
    SELECT d.id, d.tier_id, d.tier_since, d.current_rank, d.reached_rank, d.paid_rank, d.floor_rank, d.metric,
           d.store,
           CASE WHEN {greatest}(d.reached_rank, d.paid_rank, d.floor_rank) < d.current_rank AND EXISTS (
               SELECT 1 FROM {membership} ended
                WHERE ended.member_id = d.id AND ended.ends_at <= %s AND ended.tier_id = d.tier_id
                  AND ended.starts_at <= d.tier_since AND ended.ends_at > d.tier_since
           ) THEN 1 ELSE 0 END AS paid_ended
      FROM (
        SELECT m.id AS id, m.tier_id AS tier_id, m.tier_since AS tier_since,
               COALESCE(current_tier.rank, -1) AS current_rank,
               {reached} AS reached_rank,
               COALESCE(p.rank, -1) AS paid_rank,
               COALESCE(floor_tier.rank, -1) AS floor_rank,
               COALESCE(x.metric, 0) AS metric,
               CASE WHEN (m.tier_metric_at IS NULL OR m.tier_metric_value <> COALESCE(x.metric, 0))
                         AND (m.tier_metric_at IS NULL OR m.tier_metric_at <= %s)
                    THEN 1 ELSE 0 END AS store
          FROM {member} m
          LEFT JOIN (SELECT member_id, ROUND(metric, 2) AS metric FROM metric) x ON x.member_id = m.id
          LEFT JOIN {tier} current_tier ON current_tier.id = m.tier_id
          LEFT JOIN {tier} floor_tier ON floor_tier.id = m.tier_floor_id
          LEFT JOIN paid p ON p.member_id = m.id
         WHERE m.status <> %s AND {members}
      ) d
     WHERE d.store = 1 OR {greatest}(d.reached_rank, d.paid_rank, d.floor_rank) <> d.current_rank
     ORDER BY d.id
"""


def _reached_rank_sql(tiers: list[Tier]) -> tuple[str, list]:
    """SQL for tiers_by_metric: the rank of the highest-ranked earnable tier whose threshold the member's
    metric (x.metric, rounded to cents like the Python side) reaches, -1 for none. A CASE over the few
    tiers, highest rank first, rather than a subquery per member."""
    earnable = sorted((tier for tier in tiers if _earnable(tier)), key=lambda tier: -tier.rank)
    if not earnable:
        return "-1", []
    metric = "CASE WHEN x.metric > 0 THEN x.metric ELSE 0 END"  # max(metric, 0), as in Python
    whens = " ".join(f"WHEN {metric} >= %s THEN %s" for _tier in earnable)
    return f"CASE {whens} ELSE -1 END", [value for tier in earnable for value in (tier.threshold, tier.rank)]


def _decisions_sql(
    *, program: Program, tiers: list[Tier], as_of: datetime, member_ids: list[int] | None
) -> tuple[str, list]:
    """_DECISIONS for every member (`member_ids` None) or for these."""
    metric_sql, metric_params = _metric_sql(program=program, as_of=as_of, member_ids=member_ids)
    reached_sql, reached_params = _reached_rank_sql(tiers)
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    paid_members, paid_params = _members_condition("tm.member_id", member_ids=member_ids)
    members, members_params = _members_condition("m.id", member_ids=member_ids)
    sql = _DECISIONS.format(
        metric=metric_sql, membership=_table(TierMembership), tier=_table(Tier), member=_table(Member),
        greatest=greatest, reached=reached_sql, paid_members=paid_members, members=members,
    )
    when = _when(as_of)
    return sql, [
        *metric_params, when, when, *paid_params, when, *reached_params, when, MemberStatus.CLOSED, *members_params,
    ]


def _from_db(value: datetime | str | None) -> datetime | None:
    """A datetime read by a raw cursor: aware on PostgreSQL, naive UTC (or its text) on SQLite."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


# New postings, members or paid memberships since the last run beyond which (and beyond those before it) one
# pass over every member costs less than looking each of them up (after a bulk import, say).
MANY_NEW = 100_000


def _fingerprint(program: Program, tiers: list[Tier]) -> str:
    """What the recalculation decides on besides the members' own data: the tiers and the programme's tier
    settings. A run with another fingerprint than the last run's looks at every member."""
    settings = [program.tier_metric, program.tier_window, program.tier_window_months, program.tier_hold_months]
    ranked = sorted((tier.pk, tier.rank, tier.threshold, tier.is_paid) for tier in tiers)
    return hashlib.sha256(json.dumps([settings, ranked]).encode()).hexdigest()


def _highest_id(model) -> int:
    return model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _candidates_get(*, program: Program, fingerprint: str, as_of: datetime, highs: dict[str, int]) -> list[int] | None:
    """The members a run at `as_of` has to look at, or None when it must look at every member.

    Every member: on the first run; after a change of the tiers or tier settings (the fingerprint); for a
    run dated before the last one; and when more postings, members, paid memberships, purchases or refunds
    are new than old, and over MANY_NEW (then one pass over everything is the cheaper plan). Otherwise only
    what can have changed a decision since the last run, each read through an index: members with a
    posting, who joined, bought a paid tier, made or refunded a purchase since (ids above those the run
    before the last one saw: a row still uncommitted when a run starts is seen by the next one), paid
    memberships starting or ending since, reviews due (held members whose hold ends, floors lowered or
    removed: TierReview); with a rolling or calendar-year window, the members with something counted that
    left the window since (postings or purchases dated between the window's start then and now: the BRIN
    indexes of migration 0025); with the spend metric, the purchases whose pending period ended since. Every
    other member's metric is what it was at the last run, and their tier the one that run left.
    """
    runs = list(TierRecalculation.objects.order_by("-id")[:2])
    if not runs or runs[0].fingerprint != fingerprint or runs[0].as_of > as_of:
        return None
    since = runs[-1]  # the run before the last one (or the only one)
    if any(high - getattr(since, name) > max(getattr(since, name), MANY_NEW) for name, high in highs.items()):
        return None
    window_then = tier_window_start(program=program, as_of=runs[0].as_of)
    window_now = tier_window_start(program=program, as_of=as_of)
    if (window_then is None) != (window_now is None):  # a window reaching before year 1: an edge of the calendar
        return None
    last_as_of, when = _when(runs[0].as_of), _when(as_of)
    # SQL templates naming tables as {placeholders}, filled from the models' _meta below; values are parameters.
    parts: list[tuple[str, list]] = [
        ("SELECT member_id FROM {txn} WHERE id > %s AND member_id IS NOT NULL", [since.ledger_high]),
        ("SELECT id FROM {member} WHERE id > %s", [since.member_high]),
        ("""SELECT member_id FROM {membership}
             WHERE id > %s OR (starts_at > %s AND starts_at <= %s) OR (ends_at > %s AND ends_at <= %s)""",
         [since.membership_high, last_as_of, when, last_as_of, when]),
        ("SELECT member_id FROM {review} WHERE due_at <= %s", [when]),
    ]
    spend = program.tier_metric == TierMetric.SPEND
    if spend:
        parts += [
            ("SELECT member_id FROM {purchase} WHERE id > %s", [since.purchase_high]),
            ("SELECT p.member_id FROM {refund} r JOIN {purchase} p ON p.id = r.purchase_id WHERE r.id > %s",
             [since.refund_high]),
            ("SELECT member_id FROM {purchase} WHERE available_at > %s AND available_at <= %s", [last_as_of, when]),
        ]
    if window_then is not None and window_now is not None and window_now > window_then:
        band = [_when(window_then), _when(window_now)]
        if spend:
            parts.append(("SELECT member_id FROM {purchase} WHERE occurred_at >= %s AND occurred_at < %s", band))
        else:
            counted = [TransactionKind.EARN, TransactionKind.BONUS, TransactionKind.REVERSE]
            parts.append(("""SELECT member_id FROM {txn} WHERE occurred_at >= %s AND occurred_at < %s
                              AND member_id IS NOT NULL AND kind IN (%s, %s, %s)""", [*band, *counted]))
    tables = {"txn": LedgerTransaction, "member": Member, "membership": TierMembership, "review": TierReview,
              "purchase": Purchase, "refund": Refund}
    sql = " UNION ".join(template for template, _params in parts).format(
        **{name: _table(model) for name, model in tables.items()}
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for _template, params in parts for value in params])
        return sorted(row[0] for row in cursor.fetchall())


def _reviews_keep(held: list[tuple[int, datetime]], *, done: list[int]) -> None:
    """After a run: the reviews it dealt with (due and read at its start: `done`) are gone, and each member it
    held gets one for the end of their hold period."""
    if done:
        TierReview.objects.filter(pk__in=done).delete()
    TierReview.objects.bulk_create(
        [TierReview(member_id=member_id, due_at=due_at) for member_id, due_at in held], ignore_conflicts=True
    )


def tiers_recalculate(
    *,
    as_of: datetime,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 5000,
    full: bool = False,
) -> dict[str, int]:
    """Put every member (but closed ones) in the tier they are due at `as_of`.

    Target = the highest of: the tier the metric reaches, the staff floor, a running paid membership.
    Upgrades apply at once. A downgrade applies only once the current tier has been held for the
    program's hold months, or when the current tier was held only by a paid membership that has ended.
    Deterministic and idempotent for a given `as_of`: a second run finds nothing to change.
    Proportional to the work due: a run looks only at the members with something new since the last run
    (_candidates_get), unless it has to (or `full`) look at every member. Set-based: one query finds the
    members whose tier or stored metric must change (_DECISIONS), Python applies the hold period to them,
    then each batch of changes is one UPDATE of the member rows (tier and metric together, from the batch
    passed as arrays) and one INSERT of their history rows per (kind, tier), in one transaction.
    `progress(done, total)`: members finished, after the query and after each batch.
    Counts: `members` looked at (every member but closed ones on a full run), `full` 1 when that was every
    member, then how many were upgraded, downgraded, held by the hold period, unchanged, or skipped (moved
    by someone else meanwhile).
    """
    program = program_get()
    tiers = {tier.pk: tier for tier in Tier.objects.all()}
    tiers_list = list(tiers.values())
    fingerprint = _fingerprint(program, tiers_list)
    highs = {"ledger_high": _highest_id(LedgerTransaction), "member_high": _highest_id(Member),
             "membership_high": _highest_id(TierMembership), "purchase_high": _highest_id(Purchase),
             "refund_high": _highest_id(Refund)}
    # Read before the members to look at, which include them: a review made meanwhile waits for the next run.
    reviews_due = list(TierReview.objects.filter(due_at__lte=as_of).values_list("pk", flat=True))
    candidates = None if full else _candidates_get(program=program, fingerprint=fingerprint, as_of=as_of, highs=highs)
    if candidates is not None and len(candidates) > max(MANY_NEW, highs["member_high"] // 2):
        candidates = None  # most members (a calendar year's first night): one pass over everyone is cheaper
    condition, params = _members_condition("id", member_ids=candidates)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {_table(Member)} WHERE status <> %s AND {condition}",  # noqa: S608 - a name
            [MemberStatus.CLOSED, *params],
        )
        total = cursor.fetchone()[0]
    counts = {"members": total, "full": int(candidates is None), "upgraded": 0, "downgraded": 0, "held": 0,
              "unchanged": total, "skipped": 0}
    held: list[tuple[int, datetime]] = []  # (member_id, end of the hold)
    changes: list[tuple[int, int | None, int | None, str, int | Decimal | None]] = []
    stored_changes: list[tuple[int, int | Decimal]] = []  # (member_id, metric): only the stored metric is stale
    if tiers and total:
        changes, stored_changes = _decisions_get(
            program=program, tiers=tiers_list, as_of=as_of, member_ids=candidates, counts=counts, held=held
        )
    todo = len(changes) + len(stored_changes)
    if progress is not None:
        progress(total - (0 if dry_run else todo), total)
    if dry_run:
        for change in changes:
            counts["downgraded" if change[3] == TierChangeKind.DOWNGRADE else "upgraded"] += 1
        return counts

    for batch in _batches(changes, batch_size):
        applied = _tier_changes_apply(batch, tiers=tiers, as_of=as_of)
        counts["upgraded"] += applied["upgraded"]
        counts["downgraded"] += applied["downgraded"]
        counts["skipped"] += len(batch) - applied["upgraded"] - applied["downgraded"]
        todo -= len(batch)
        if progress is not None:
            progress(total - todo, total)
    for stored_batch in _batches(stored_changes, batch_size):
        _tier_metrics_store(stored_batch, as_of=as_of)
        todo -= len(stored_batch)
        if progress is not None:
            progress(total - todo, total)
    with transaction.atomic():
        _reviews_keep(held, done=reviews_due)
        TierRecalculation.objects.create(
            as_of=as_of, full=candidates is None, fingerprint=fingerprint, counts=counts, **highs
        )
    return counts


def _decisions_get(
    *, program: Program, tiers: list[Tier], as_of: datetime, member_ids: list[int] | None, counts: dict[str, int],
    held: list[tuple[int, datetime]],
) -> tuple[list, list]:
    """Run _DECISIONS and apply the hold period: (tier changes, stored metrics to rewrite); counts the
    members held and unchanged, and adds each held member with the end of their hold to `held`."""
    tier_id_by_rank = {tier.rank: tier.pk for tier in tiers}
    sql, params = _decisions_sql(program=program, tiers=tiers, as_of=as_of, member_ids=member_ids)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # This query only: on a full run one aggregate over every earning of every member, so enough
            # memory to hash it without spilling to disk (the server's default work_mem is sized for many
            # small queries), and no JIT: compiling its many expressions took longer (1.6 s) than running it.
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        rows = cursor.fetchall()

    # (member_id, from_tier_id, to_tier_id, kind, metric to store or None)
    changes: list[tuple[int, int | None, int | None, str, int | Decimal | None]] = []
    stored_changes: list[tuple[int, int | Decimal]] = []
    for member_id, tier_id, tier_since, current, reached, paid, floor, raw, store, paid_ended in rows:
        # `reached`: tiers_by_metric's rank, computed by the query (see _reached_rank_sql).
        # The highest of the three; on a tie the first (as max() would pick): reached, then paid, then floor.
        target_rank, kind = reached, TierChangeKind.UPGRADE
        if paid > target_rank:
            target_rank, kind = paid, TierChangeKind.PAID
        if floor > target_rank:
            target_rank, kind = floor, TierChangeKind.FLOOR
        target_id = tier_id_by_rank.get(target_rank)
        to_store = _metric_value(program, raw) if store else None  # typed like tier_metrics_get
        since = _from_db(tier_since)
        if target_rank < current and not (_held_long_enough(since, program.tier_hold_months, as_of) or paid_ended):
            counts["held"] += 1
            target_rank = current
            with contextlib.suppress(ValueError):  # a hold reaching past year 9999 never ends: no review
                held.append((member_id, add_months(cast(datetime, since), program.tier_hold_months)))
        elif target_rank < current:
            kind = TierChangeKind.DOWNGRADE
        if target_rank != current:
            changes.append((member_id, tier_id, target_id, kind, to_store))
            counts["unchanged"] -= 1
        elif to_store is not None:
            stored_changes.append((member_id, to_store))
    counts["unchanged"] -= counts["held"]
    return changes, stored_changes


@functools.cache
def _column(model, field: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(field).column)


def _rows_table(columns: tuple[tuple[str, str], ...], rows: list[tuple]) -> tuple[str, list]:
    """`rows` of numbers as a derived table `(SELECT ...)` with these (name, PostgreSQL type) columns,
    passed as one parameter per column (PostgreSQL: an array literal, unnest) or one JSON parameter
    (SQLite), however many rows. A VALUES list would need a placeholder per value, and the driver parses
    and quotes every one of them: seconds for a batch of thousands."""
    names = ", ".join(name for name, _type in columns)  # constant names and types from the callers
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"CAST(%s AS {sql_type}[])" for _name, sql_type in columns)
        # Numbers only (ints, Decimals, None): their text never contains "None" but for a missing value.
        literals = [
            "{" + ",".join(map(str, column)).replace("None", "NULL") + "}" for column in zip(*rows, strict=True)
        ]
        return f"(SELECT * FROM unnest({arrays}) AS d({names}))", literals  # noqa: S608
    fields = ", ".join(f"json_extract(value, '$[{index}]') AS {name}" for index, (name, _type) in enumerate(columns))
    return f"(SELECT {fields} FROM json_each(%s))", [json.dumps(rows, default=str)]  # noqa: S608


def _tier_metrics_store(batch: list[tuple[int, int | Decimal]], *, as_of: datetime) -> None:
    """Store one batch of computed metrics on the member rows in one UPDATE ... FROM.

    A row whose metric was stored later than `as_of` (a live upgrade check meanwhile) is left alone.
    """
    members = _table(Member)
    pk, value, at = (_column(Member, name) for name in ("id", "tier_metric_value", "tier_metric_at"))
    source, params = _rows_table((("member_id", "bigint"), ("metric", "numeric")), batch)
    # The batch's members named on the member table too, so that PostgreSQL reads them by primary key
    # instead of hashing every member for each batch.
    in_batch, in_batch_params = _members_condition(f"{members}.{pk}", member_ids=[row[0] for row in batch])
    when = _when(as_of)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {members} SET {value} = d.metric, {at} = %s FROM {source} d "  # noqa: S608 - names from _meta
            f"WHERE {members}.{pk} = d.member_id AND {in_batch} "
            f"AND ({members}.{at} IS NULL OR {members}.{at} <= %s)",
            [when, *params, *in_batch_params, when],
        )


@transaction.atomic
def _tier_changes_apply(batch: list, *, tiers: dict[int, Tier], as_of: datetime) -> dict[str, int]:
    """Apply one batch of decided changes: one UPDATE of the member rows, one INSERT of their history.

    The UPDATE moves a member only while its tier is still the one the decision read (a member changed
    meanwhile, by a live upgrade, is left for the next run) and stores the metric with the tier unless
    a live check stored a later one. It returns the members it moved, and only they get a history row.
    """
    members, history = _table(Member), _table(TierHistory)
    pk, tier, since, value, at = (
        _column(Member, name) for name in ("id", "tier", "tier_since", "tier_metric_value", "tier_metric_at")
    )
    history_columns = ", ".join(
        _column(TierHistory, name) for name in ("member", "from_tier", "to_tier", "kind", "reason", "changed_at")
    )
    when = _when(as_of)
    source, params = _rows_table(
        (("member_id", "bigint"), ("from_tier", "bigint"), ("to_tier", "bigint"), ("store", "integer"),
         ("metric", "numeric")),
        [(member_id, from_id, to_id, int(metric is not None), metric or Decimal(0))
         for member_id, from_id, to_id, _kind, metric in batch],
    )
    in_batch, in_batch_params = _members_condition(f"{members}.{pk}", member_ids=[row[0] for row in batch])
    fresh = f"d.store = 1 AND ({members}.{at} IS NULL OR {members}.{at} <= %s)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {members} SET {tier} = d.to_tier, {since} = %s, "  # noqa: S608 - names from _meta
            f"{value} = CASE WHEN {fresh} THEN d.metric ELSE {members}.{value} END, "
            f"{at} = CASE WHEN {fresh} THEN %s ELSE {members}.{at} END "
            f"FROM {source} d WHERE {members}.{pk} = d.member_id AND {in_batch} "
            f"AND COALESCE({members}.{tier}, 0) = COALESCE(d.from_tier, 0) "
            f"RETURNING {members}.{pk}",
            [when, when, when, when, *params, *in_batch_params],
        )
        moved = {row[0] for row in cursor.fetchall()}
        # History rows grouped by (kind, tier): one translated reason and one INSERT per group.
        groups: dict[tuple[str, int | None], list[tuple[int, int | None]]] = defaultdict(list)
        for member_id, from_id, to_id, kind, _metric in batch:
            if member_id in moved:
                groups[kind, to_id].append((member_id, from_id))
        applied = {"upgraded": 0, "downgraded": 0}
        for (kind, to_id), rows in groups.items():
            to_tier = tiers[to_id] if to_id is not None else None
            reason = _("Tier floor set by staff.") if kind == TierChangeKind.FLOOR else _reason(kind, to_tier)
            source, params = _rows_table((("member_id", "bigint"), ("from_tier", "bigint")), rows)
            cursor.execute(
                f"INSERT INTO {history} ({history_columns}) "  # noqa: S608 - see above
                f"SELECT d.member_id, d.from_tier, %s, %s, %s, %s FROM {source} d",
                [to_id, kind, reason[:255], when, *params],
            )
            applied["downgraded" if kind == TierChangeKind.DOWNGRADE else "upgraded"] += len(rows)
    _tier_changed_send([
        TierChange(member_id, from_id, to_id, kind)
        for member_id, from_id, to_id, kind, _metric in batch if member_id in moved
    ])
    return applied


# -- staff floor -----------------------------------------------------------------------------------


@transaction.atomic
def member_tier_floor_set(*, member: Member, tier: Tier | None, reason: str, staff_user=None) -> TierHistory | None:
    """Keep the member at least at `tier` (None removes the floor). Lifts the member at once if needed.

    Removing or lowering a floor never drops the member at once: the recalculation does that, after the
    hold period (a TierReview makes its next run look at the member).
    """
    reason = (reason or "").strip()
    if not reason:
        raise TierError(_("A reason is required."), field="reason")
    locked = _locked_member(member)
    if locked.status == MemberStatus.CLOSED:
        raise TierError(_("This membership is closed: its tier cannot change."), code="member_inactive")
    Member.objects.filter(pk=locked.pk).update(tier_floor=tier, tier_floor_reason=reason[:255] if tier else "")
    if tier is None or (locked.tier_floor is not None and tier.rank < locked.tier_floor.rank):
        TierReview.objects.get_or_create(member_id=locked.pk, due_at=timezone.now())
    member.tier_floor, member.tier_floor_reason = tier, (reason[:255] if tier else "")
    history = None
    if tier is not None and tier.rank > _rank(locked.tier):
        history = _member_tier_change(
            member=locked, to_tier=tier, kind=TierChangeKind.FLOOR, reason=reason, changed_at=timezone.now(),
            staff_user=staff_user,
        )
        member.tier, member.tier_since = locked.tier, locked.tier_since
    return history


# -- paid tiers ------------------------------------------------------------------------------------


@transaction.atomic
def tier_membership_record(
    *,
    member: Member,
    tier: Tier,
    order_id: str,
    price: Decimal,
    currency: str,
    starts_at: datetime | None = None,
    store=None,
    staff_user=None,
) -> tuple[TierMembership, bool]:
    """Record a bought paid tier; idempotent by (store, order_id). Lifts the member at once while it runs.

    Returns (membership, created). The same order again returns the first record (created False);
    the same order for another member, tier, price or currency is refused (409 order_conflict).
    """
    order_id = (order_id or "").strip()
    if not order_id:
        raise TierError(_("An order id is required."), field="order_id")
    if not tier.is_paid:
        raise TierError(_("%(tier)s is not a paid tier.") % {"tier": tier.name}, field="tier")
    if price is None or price < 0:
        raise TierError(_("The price must not be negative."), field="price")
    currency = (currency or "").upper()
    program = program_get()
    if currency != program.currency:
        raise TierError(
            _("The program's currency is %(currency)s.") % {"currency": program.currency}, code="currency_mismatch"
        )

    def replay(existing: TierMembership) -> tuple[TierMembership, bool]:
        same = (
            existing.member_id == member.pk and existing.tier_id == tier.pk and existing.price == price
            and existing.currency == currency and (starts_at is None or existing.starts_at == starts_at)
        )
        if not same:
            raise TierError(
                _("This order id was already recorded with different details."), code="order_conflict",
                status_code=409,
            )
        return existing, False

    existing = TierMembership.objects.filter(store=store, order_id=order_id).first()
    if existing is not None:
        return replay(existing)
    if not member.is_active_member:
        raise TierError(_("This member is not active."), code="member_inactive")
    now = timezone.now()
    start = starts_at or now
    try:
        ends_at = add_months(start, tier.period_months or 0)
    except (ValueError, OverflowError):
        raise TierError(_("The membership would end beyond the calendar."), field="starts_at") from None
    try:
        with transaction.atomic():
            membership = TierMembership.objects.create(
                member=member, tier=tier, store=store, order_id=order_id, price=price, currency=currency,
                starts_at=start, ends_at=ends_at, staff_user=staff_user,
            )
    except IntegrityError:  # the same order recorded concurrently
        return replay(TierMembership.objects.get(store=store, order_id=order_id))
    locked = _locked_member(member)
    if membership.starts_at <= now < membership.ends_at and tier.rank > _rank(locked.tier):
        _member_tier_change(
            member=locked, to_tier=tier, kind=TierChangeKind.PAID,
            reason=_("Paid %(tier)s membership until %(date)s.")
            % {"tier": tier.name, "date": formats.date_format(timezone.localtime(membership.ends_at))},
            changed_at=now, staff_user=staff_user,
        )
        member.tier, member.tier_since = locked.tier, locked.tier_since
    return membership, True


# -- tier configuration ----------------------------------------------------------------------------


def tier_in_use(*, tier: Tier) -> bool:
    """Anything at all points at the tier: members, floors, history, memberships, rewards, promotions..."""
    for relation in Tier._meta.get_fields(include_hidden=True):
        if not (relation.auto_created and not relation.concrete and (relation.one_to_many or relation.many_to_many)):
            continue
        relation = cast(ForeignObjectRel, relation)
        if relation.related_model._base_manager.filter(**{relation.field.name: tier}).exists():
            return True
    return False


@transaction.atomic
def tier_delete(*, tier: Tier) -> None:
    if tier_in_use(tier=tier):
        raise TierError(
            _("%(tier)s is in use (members, history, memberships, rewards or promotions point at it).")
            % {"tier": tier.name},
            code="tier_in_use", status_code=409,
        )
    try:
        with transaction.atomic():
            tier.delete()
    except (ProtectedError, RestrictedError):
        raise TierError(_("%(tier)s is in use.") % {"tier": tier.name}, code="tier_in_use", status_code=409) from None


def _tier_validate(tier: Tier) -> None:
    """Model validation plus the paid-tier rule; raises django's ValidationError keyed by field."""
    errors: dict[str, list[str]] = {}
    try:
        tier.full_clean()
    except ValidationError as error:
        errors = error.message_dict
    if tier.is_paid and not tier.period_months:
        errors.setdefault("period_months", []).append(_("A paid tier needs a period in months."))
    if errors:
        raise ValidationError(errors)


def tier_save(*, tier: Tier) -> Tier:
    """Validate and save a new or changed tier (the admin's form and the API both end here)."""
    _tier_validate(tier)
    try:
        with transaction.atomic():
            tier.save()
    except IntegrityError:  # a concurrent write took the code or the rank between the check and the save
        raise ValidationError({"code": [_("A tier with this code or rank already exists.")]}) from None
    return tier


def tier_create(**fields) -> Tier:
    """A new tier; raises django's ValidationError (keyed by field) and changes nothing if invalid.

    Members move into it at their next upgrade check or at the next recalculation.
    """
    return tier_save(tier=Tier(**fields))


def tier_update(*, tier: Tier, **fields) -> Tier:
    """Change a tier; a new threshold applies at the next upgrade check or recalculation."""
    for name, value in fields.items():
        setattr(tier, name, value)
    return tier_save(tier=tier)
