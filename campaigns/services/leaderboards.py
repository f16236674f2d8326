"""Leaderboards: points earned this ISO week, this calendar month (the site's time zone) and all time, by the
members who opted in with a nickname; ties go to whoever reached the score first.

Ranked from a table (`LeaderboardScore`, one row per member on the board and period) rather than from the
ledger: the top N is an index range scan of `leaderboard_rank` (period, points DESC, reached_at, member),
a member's rank a sum of counts kept beside it (`LeaderboardTally`: per score, per band of scores, and per
score and band of reached_at for the ties) plus a count over the same index of the ties reached in the
member's own 64 seconds. Both stay fast at any history length, board size and number of ties
(`bench_leaderboard`, `bench_scale`).

Who writes the table:
- after each committed posting of an opted-in member, a task recomputes that member's rows for the week
  and month of the posting and for all time, from the ledger, in one statement (`leaderboard_member_refresh`);
- joining or leaving the board (opt-in, nickname, status) recomputes or deletes the member's rows;
- the `refresh_leaderboards` job recomputes the current periods for everyone (a safety net for a lost task),
  deletes the rows of members who left and prunes old periods; `award_leaderboard_prizes` recomputes the
  month it pays before ranking it.
A score is the sum of the member's `earn`, `bonus` and `reverse` postings dated in the period (pending points
count from their purchase; prizes do not count); `reached_at` is the latest of those postings.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from campaigns.models import (
    TALLY_BAND,
    TIE_BAND_SECONDS,
    LeaderboardAward,
    LeaderboardPeriod,
    LeaderboardPrize,
    LeaderboardScore,
    LeaderboardTally,
)
from campaigns.services.common import LEADERBOARD_PRIZE_JOB, PRIZE_JOBS
from loyalty.models import LedgerTransaction, TransactionKind
from loyalty.reasons import Reason
from loyalty.services.jobs import Progress
from loyalty.services.ledger import Audit, LedgerError, points_credit
from members.models import Member, MemberStatus

logger = logging.getLogger(__name__)

ALL_KEY = "all"
KEEP_WEEKS = 8
KEEP_MONTHS = 13
COUNTED_KINDS = (TransactionKind.EARN, TransactionKind.BONUS, TransactionKind.REVERSE)


# -- periods -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """One leaderboard period: its key, and its bounds [starts_at, ends_at) (None for all time)."""

    kind: str
    key: str
    starts_at: datetime | None
    ends_at: datetime | None


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day))


def period_get(kind: str, at: datetime | None = None) -> Period:
    """The week (from Monday), month or all time that contains `at`, in the site's time zone."""
    if kind == LeaderboardPeriod.ALL:
        return Period(kind, ALL_KEY, None, None)
    local = timezone.localtime(at or timezone.now()).date()
    if kind == LeaderboardPeriod.WEEK:
        monday = local - timedelta(days=local.weekday())
        year, week, _weekday = monday.isocalendar()
        return Period(kind, f"{year}-W{week:02d}", _midnight(monday), _midnight(monday + timedelta(days=7)))
    if kind == LeaderboardPeriod.MONTH:
        first = local.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return Period(kind, f"{first:%Y-%m}", _midnight(first), _midnight(following))
    raise ValueError(kind)


def periods_containing(at: datetime) -> list[Period]:
    return [period_get(kind, at) for kind in LeaderboardPeriod.values]


def previous_month(as_of: datetime) -> Period:
    """The last calendar month that ended by `as_of`."""
    this_month = period_get(LeaderboardPeriod.MONTH, as_of)
    assert this_month.starts_at is not None
    return period_get(LeaderboardPeriod.MONTH, this_month.starts_at - timedelta(days=1))


# -- who is on the board -----------------------------------------------------------------------------


def member_on_board(member: Member) -> bool:
    return member.status == MemberStatus.ACTIVE and member.leaderboard_opt_in and bool(member.nickname.strip())


def _on_board_q(prefix: str = "") -> Q:
    return Q(**{f"{prefix}status": MemberStatus.ACTIVE, f"{prefix}leaderboard_opt_in": True}) & ~Q(
        **{f"{prefix}nickname": ""}
    )


# -- writing the table -------------------------------------------------------------------------------
#
# Every write of scores goes through this section and adjusts the tallies in the same transaction:
# - one member (after their posting commits): the member's rows are locked (PostgreSQL: a transaction-level
#   advisory lock per member, taken after a ROW EXCLUSIVE lock on the scores table), their old scores read,
#   the new ones upserted, and the difference added to the tallies in one statement, in key order;
# - the set-based rebuilds (refresh_leaderboards, the month before paying prizes) hold a SHARE ROW EXCLUSIVE
#   lock on the scores table, which waits for the members' refreshes in flight and holds off new ones, and
#   count the rebuilt periods' tallies afresh.

_FAR_PAST = datetime(1900, 1, 1, tzinfo=UTC)
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
_ADVISORY_NAMESPACE = 0x4C42  # "LB": the advisory locks of leaderboard members


def _bounds(period: Period) -> tuple[Any, Any]:
    adapt = connection.ops.adapt_datetimefield_value
    return adapt(period.starts_at or _FAR_PAST), adapt(period.ends_at or _FAR_FUTURE)


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _seconds(moment: datetime) -> int:
    """Whole seconds since 1970 (rounded down), as _seconds_sql computes them."""
    return (moment - _EPOCH) // timedelta(seconds=1)


def _seconds_sql(column: str) -> str:
    """SQL for a timestamp column's whole seconds since 1970, rounded down like _seconds. SQLite stores
    'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC): the fraction is cut off first, as strftime would round it to the
    millisecond (and 10:00:00.9995 up to 10:00:01)."""
    if connection.vendor == "postgresql":
        return f"CAST(FLOOR(EXTRACT(EPOCH FROM {column})) AS BIGINT)"
    return f"CAST(strftime('%%s', substr({column}, 1, 19)) AS INTEGER)"


def _timestamp_sql(seconds: str) -> str:
    """SQL for the moment `seconds` (an SQL expression) after 1970, comparable with a timestamp column."""
    if connection.vendor == "postgresql":
        return f"to_timestamp({seconds})"
    return f"datetime({seconds}, 'unixepoch')"  # 'YYYY-MM-DD HH:MM:SS', ordered as the stored text is


def _scores_upsert(periods: list[Period], *, member_id: int | None = None) -> list[tuple[str, int, int]]:
    """Recompute the rows of these periods from the ledger, for one member or every member on the board,
    in one INSERT ... SELECT ... ON CONFLICT UPDATE; returns the (period key, points, seconds of reached_at)
    of the rows it wrote.
    A row changes only if the computation saw at least the postings the stored one saw
    (`last_transaction_id`): a slower, older computation never wins."""
    scores, txns, members = _table(LeaderboardScore), _table(LedgerTransaction), _table(Member)
    cast = (lambda p: f"CAST({p} AS timestamptz)") if connection.vendor == "postgresql" else (lambda p: p)
    rows = ", ".join(f"(%s, {cast('%s')}, {cast('%s')})" for _period in periods)
    params: list[Any] = []
    for period in periods:
        params += [period.key, *_bounds(period)]
    member_filter = ""
    member_params: list[Any] = []
    if member_id is not None:
        member_filter = "AND t.member_id = %s AND m.id = %s"
        member_params = [member_id, member_id]
    sql = f"""
        INSERT INTO {scores} (member_id, period_key, points, reached_at, last_transaction_id)
        WITH p (pkey, starts, ends) AS (VALUES {rows})
        SELECT t.member_id, p.pkey, SUM(t.points), MAX(t.occurred_at), MAX(t.id)
          FROM {txns} t
          JOIN {members} m ON m.id = t.member_id
          JOIN p ON t.occurred_at >= p.starts AND t.occurred_at < p.ends
         WHERE t.kind IN (%s, %s, %s) AND t.job NOT IN (%s, %s)
           AND m.status = %s AND m.leaderboard_opt_in = %s AND m.nickname <> '' {member_filter}
         GROUP BY t.member_id, p.pkey
         ORDER BY p.pkey
        ON CONFLICT (member_id, period_key) DO UPDATE
           SET points = excluded.points, reached_at = excluded.reached_at,
               last_transaction_id = excluded.last_transaction_id
         WHERE {scores}.last_transaction_id <= excluded.last_transaction_id
           AND ({scores}.points <> excluded.points OR {scores}.reached_at <> excluded.reached_at
                OR {scores}.last_transaction_id <> excluded.last_transaction_id)
        RETURNING period_key, points, {_seconds_sql('reached_at')}
    """  # noqa: S608 - table names from _meta; every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *COUNTED_KINDS, *PRIZE_JOBS, MemberStatus.ACTIVE, True, *member_params])
        return cursor.fetchall()


Entry = tuple[int, int]  # an entry as the tallies see it: (points, whole seconds of reached_at since 1970)


def _tally_keys(period_key: str, entry: Entry | None) -> list[tuple[str, int, int, int]]:
    """The tally rows (period key, level, key, band) that count this entry (see LeaderboardTally)."""
    if entry is None or entry[0] <= 0:
        return []  # only entries with points are on a board
    points, seconds = entry
    return [(period_key, 0, points, 0), (period_key, 1, points // TALLY_BAND, 0),
            *((period_key, level, points, seconds // width) for level, width in enumerate(TIE_BAND_SECONDS, start=2))]


def _tally_apply(changes: list[tuple[str, Entry | None, Entry | None]]) -> None:
    """Move entries between tallies: each change is (period key, old entry, new entry), None for none."""
    deltas: dict[tuple[str, int, int, int], int] = defaultdict(int)
    for period_key, old, new in changes:
        for tally_key in _tally_keys(period_key, old):
            deltas[tally_key] -= 1
        for tally_key in _tally_keys(period_key, new):
            deltas[tally_key] += 1
    tally = _table(LeaderboardTally)
    with connection.cursor() as cursor:
        # One statement per tally row, in one order for every writer (no deadlock between two refreshes). A
        # decrement is an UPDATE of a row that exists; an INSERT of a negative count would break the CHECK.
        for (period_key, level, key, band), delta in sorted(deltas.items()):
            if delta > 0:
                cursor.execute(
                    f"INSERT INTO {tally} (period_key, level, key, band, members) VALUES (%s, %s, %s, %s, %s) "  # noqa: S608
                    f"ON CONFLICT (period_key, level, key, band) "
                    f"DO UPDATE SET members = {tally}.members + excluded.members",
                    [period_key, level, key, band, delta],
                )
            elif delta < 0:
                cursor.execute(
                    f"UPDATE {tally} SET members = members + %s "  # noqa: S608
                    f"WHERE period_key = %s AND level = %s AND key = %s AND band = %s",
                    [delta, period_key, level, key, band],
                )


def _tally_rebuild(period_keys: list[str]) -> None:
    """Count these periods' tallies afresh from their scores (under the rebuild's table lock)."""
    if not period_keys:
        return
    tally, scores = _table(LeaderboardTally), _table(LeaderboardScore)
    marks = ", ".join(["%s"] * len(period_keys))
    # One pass over the entries (the CTE, read five times), one grouping per level.
    ties = " ".join(
        f"UNION ALL SELECT period_key, {level}, points, s / {width}, COUNT(*) FROM e "  # noqa: S608 - constants
        f"GROUP BY period_key, points, s / {width}" for level, width in enumerate(TIE_BAND_SECONDS, start=2)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {tally} WHERE period_key IN ({marks})", period_keys)  # noqa: S608
        cursor.execute(
            f"INSERT INTO {tally} (period_key, level, key, band, members) "  # noqa: S608
            f"WITH e AS (SELECT period_key, points, {_seconds_sql('reached_at')} AS s FROM {scores} "
            f"WHERE period_key IN ({marks}) AND points > 0) "
            f"SELECT period_key, 0, points, 0, COUNT(*) FROM e GROUP BY period_key, points "
            f"UNION ALL SELECT period_key, 1, points / {TALLY_BAND}, 0, COUNT(*) FROM e "
            f"GROUP BY period_key, points / {TALLY_BAND} {ties}",
            period_keys,
        )


def _lock_member(member_id: int) -> None:
    """Serialise the writes of one member's rows (PostgreSQL; SQLite's IMMEDIATE transactions are serial)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {_table(LeaderboardScore)} IN ROW EXCLUSIVE MODE")
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_ADVISORY_NAMESPACE, member_id % 2**31])


def _lock_board() -> None:
    """Hold off every member's refresh while a rebuild rewrites the table (and other rebuilds)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {_table(LeaderboardScore)} IN SHARE ROW EXCLUSIVE MODE")


@transaction.atomic
def leaderboard_member_refresh(*, member_id: int, at: datetime | None = None) -> bool:
    """Recompute the member's rows for the week and month containing `at` (default now) and for all time;
    a member not on the board (opted out, no nickname, not active) has their rows deleted. Returns whether
    the member is on the board."""
    _lock_member(member_id)
    member = Member.objects.filter(pk=member_id).only("pk", "status", "leaderboard_opt_in", "nickname").first()
    if member is None or not member_on_board(member):
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {_table(LeaderboardScore)} WHERE member_id = %s "  # noqa: S608
                f"RETURNING period_key, points, {_seconds_sql('reached_at')}",
                [member_id],
            )
            _tally_apply([(period_key, (points, seconds), None) for period_key, points, seconds in cursor.fetchall()])
        return False
    periods = periods_containing(at or timezone.now())
    before = {
        period_key: (points, _seconds(reached_at))
        for period_key, points, reached_at in LeaderboardScore.objects.filter(
            member_id=member_id, period_key__in=[p.key for p in periods]
        ).values_list("period_key", "points", "reached_at")
    }
    written = _scores_upsert(periods, member_id=member_id)
    _tally_apply([(period_key, before.get(period_key), (points, seconds)) for period_key, points, seconds in written])
    return True


def leaderboard_members_refresh(*, member_ids: Sequence[int]) -> int:
    """After a bulk status change: the members among `member_ids` with rows (who may have to leave the board)
    or on the board now (who may have to join it) are refreshed one by one; the others cost nothing. Returns
    how many were refreshed."""
    ids = list(member_ids)
    affected: set[int] = set()
    for start in range(0, len(ids), 2000):
        chunk = ids[start : start + 2000]
        affected |= set(LeaderboardScore.objects.filter(member_id__in=chunk).values_list("member_id", flat=True))
        affected |= set(Member.objects.filter(_on_board_q(), pk__in=chunk).values_list("pk", flat=True))
    for member_id in sorted(affected):
        leaderboard_member_refresh(member_id=member_id)
    return len(affected)


@transaction.atomic
def _board_rebuild(periods: list[Period], *, also_recount: Sequence[str] = ()) -> int:
    """Recompute these periods for everyone on the board and count their tallies afresh (and those of
    `also_recount`); returns how many rows changed."""
    _lock_board()
    changed = len(_scores_upsert(periods))
    _tally_rebuild(sorted({*(period.key for period in periods), *also_recount}))
    return changed


def leaderboards_refresh(*, as_of: datetime, dry_run: bool = False, progress: Progress | None = None) -> dict:
    """The daily safety net: recompute this week, this month and all time for everyone on the board (and
    their tallies), delete the rows of members who left it, and drop weeks older than KEEP_WEEKS and months
    older than KEEP_MONTHS. Idempotent; set-based (a few statements in all)."""
    # NOT EXISTS, not NOT IN (subquery): PostgreSQL cannot turn a NOT IN into an anti-join (NULLs), and with
    # more members than work_mem can hash it compares every score row with every member (hours at a million).
    leaving = LeaderboardScore.objects.exclude(
        Exists(Member.objects.filter(_on_board_q(), pk=OuterRef("member_id")))
    )
    week = period_get(LeaderboardPeriod.WEEK, as_of)
    month = period_get(LeaderboardPeriod.MONTH, as_of)
    assert week.starts_at is not None and month.starts_at is not None
    oldest_week = period_get(LeaderboardPeriod.WEEK, week.starts_at - timedelta(weeks=KEEP_WEEKS))
    oldest_month = month
    for _month in range(KEEP_MONTHS):
        assert oldest_month.starts_at is not None
        oldest_month = period_get(LeaderboardPeriod.MONTH, oldest_month.starts_at - timedelta(days=1))
    old_month_key = oldest_month.key
    old = (Q(period_key__contains="-W") & Q(period_key__lt=oldest_week.key)) | (
        ~Q(period_key__contains="-W") & ~Q(period_key=ALL_KEY) & Q(period_key__lt=old_month_key)
    )
    if dry_run:
        return {"members": Member.objects.filter(_on_board_q()).count(), "left": leaving.values("member").distinct()
                .count(), "pruned": LeaderboardScore.objects.filter(old).count(), "dry_run": True}
    with transaction.atomic():
        _lock_board()
        touched = sorted(set(leaving.values_list("period_key", flat=True).distinct()))
        left = leaving.delete()[0]
        pruned = LeaderboardScore.objects.filter(old).delete()[0]
        LeaderboardTally.objects.filter(old).delete()
        changed = _board_rebuild(periods_containing(as_of), also_recount=touched)
    if progress is not None:
        progress(1, 1)
    return {"rows_changed": changed, "left": left, "pruned": pruned, "dry_run": False}


def leaderboard_tally_problems() -> list[str]:
    """Tallies that differ from a count of the scores (none, unless something wrote around this module)."""
    counted: dict[tuple[str, int, int, int], int] = defaultdict(int)
    entries = LeaderboardScore.objects.filter(points__gt=0).values_list("period_key", "points", "reached_at")
    for period_key, points, reached_at in entries.iterator(chunk_size=10_000):
        for key in _tally_keys(period_key, (points, _seconds(reached_at))):
            counted[key] += 1
    stored = {
        (period_key, level, key, band): members
        for period_key, level, key, band, members in LeaderboardTally.objects.filter(members__gt=0)
        .values_list("period_key", "level", "key", "band", "members")
    }
    return [f"{key}: tally {stored.get(key, 0)}, counted {counted.get(key, 0)}"
            for key in sorted(set(counted) | set(stored)) if stored.get(key, 0) != counted.get(key, 0)]


# -- reading the board -------------------------------------------------------------------------------


def leaderboard_top_get(*, period: Period, limit: int = 10) -> list[dict]:
    """The first `limit` places: [{rank, member_id, nickname, points, reached_at}]."""
    rows = (
        LeaderboardScore.objects.filter(_on_board_q("member__"), period_key=period.key, points__gt=0)
        .order_by("-points", "reached_at", "member_id")
        .values_list("member_id", "member__nickname", "points", "reached_at")[:limit]
    )
    return [
        {"rank": rank, "member_id": member_id, "nickname": nickname, "points": points, "reached_at": reached_at}
        for rank, (member_id, nickname, points, reached_at) in enumerate(rows, start=1)
    ]


def leaderboard_rank_sql(*, member_id: int, period_key: str) -> tuple[str, list]:
    """One statement: the member's points on this board and how many entries rank before them (no row when
    the member has no points on it). Used by leaderboard_rank_get and printed by bench_leaderboard.

    The entries before the member (m, with `m.s` the whole seconds of reached_at) are, in this order: those in
    the higher bands of TALLY_BAND points (level 1), with a higher score in m's band (level 0), with m's score
    reached in an earlier tie band of level 2, in an earlier level-3 band within m's level-2 band, in an
    earlier level-4 band within m's level-3 band (a level-n band b holds the level-n+1 bands b * 256 to
    b * 256 + 255), and, read entry by entry through `leaderboard_rank`, those with m's score in m's own
    level-4 band (64 seconds) that reached it before m (or at the same moment with a lower member id). The
    sums read at most 255 rows each at levels 3 and 4 and about 8 a year at level 2."""
    tally, scores = _table(LeaderboardTally), _table(LeaderboardScore)
    coarse, middle, fine = TIE_BAND_SECONDS

    def ties(level: int, below: str, above: str) -> str:
        return (f"(SELECT COALESCE(SUM(t.members), 0) FROM {tally} t "  # noqa: S608 - constants
                f"WHERE t.period_key = %s AND t.level = {level} AND t.key = m.points "
                f"AND t.band >= {below} AND t.band < {above})")

    sql = f"""
        SELECT m.points,
               (SELECT COALESCE(SUM(t.members), 0) FROM {tally} t
                 WHERE t.period_key = %s AND t.level = 1 AND t.key > m.points / {TALLY_BAND})
             + (SELECT COALESCE(SUM(t.members), 0) FROM {tally} t
                 WHERE t.period_key = %s AND t.level = 0 AND t.key > m.points
                   AND t.key < (m.points / {TALLY_BAND} + 1) * {TALLY_BAND})
             + {ties(2, "0", f"m.s / {coarse}")}
             + {ties(3, f"m.s / {coarse} * {coarse // middle}", f"m.s / {middle}")}
             + {ties(4, f"m.s / {middle} * {middle // fine}", f"m.s / {fine}")}
             + (SELECT COUNT(*) FROM {scores} s
                 WHERE s.period_key = %s AND s.points > 0 AND s.points = m.points
                   AND s.reached_at >= {_timestamp_sql(f"m.s / {fine} * {fine}")}
                   AND (s.reached_at, s.member_id) < (m.reached_at, m.member_id))
          FROM (SELECT member_id, points, reached_at, {_seconds_sql("reached_at")} AS s FROM {scores}
                 WHERE member_id = %s AND period_key = %s AND points > 0) m
    """  # noqa: S608 - table names from _meta; every value is a parameter
    return sql, [*[period_key] * 6, member_id, period_key]


def leaderboard_rank_get(*, member: Member, period: Period) -> dict | None:
    """The member's place and points, or None when they are not on this board (not opted in, no nickname,
    not active, or no points in the period). The place is 1 + the entries ranked before theirs: the tallied
    bands above theirs, the tallied scores above theirs in their band, and the ties that reached the score
    before them (then the lower member id), tallied by when they reached it (leaderboard_rank_sql) - one
    statement reading a few hundred index rows whatever the board's size and however many share a score."""
    if not member_on_board(member):
        return None
    with connection.cursor() as cursor:
        cursor.execute(*leaderboard_rank_sql(member_id=member.pk, period_key=period.key))
        row = cursor.fetchone()
    if row is None:
        return None
    points, ahead = row
    return {"rank": int(ahead) + 1, "points": int(points)}


# -- monthly prizes ----------------------------------------------------------------------------------


def leaderboard_prizes_get() -> list[LeaderboardPrize]:
    """The monthly prizes by place (the portal shows them; award_leaderboard_prizes pays them)."""
    return list(LeaderboardPrize.objects.order_by("rank"))


def leaderboard_prize_key(*, period_key: str, rank: int) -> str:
    return f"leaderboard:{period_key}:{rank}"


def leaderboard_prizes_award(*, as_of: datetime, dry_run: bool = False, progress: Progress | None = None) -> dict:
    """Pay the configured prizes to the top places of the last month that ended by `as_of`.

    Once per month: the winners are decided once (one transaction inserting a row per place; unique per
    month and place and per month and member, so a concurrent run inserts nothing), then each unpaid place
    is paid through the ledger with the key `leaderboard:<month>:<place>`. A re-run, also after a crash
    between the two, pays only what is unpaid. The month is recomputed from the ledger first, so a lost
    refresh task cannot change who wins.
    """
    month = previous_month(as_of)
    prizes = leaderboard_prizes_get()
    counts: dict[str, Any] = {"month": month.key, "paid": 0, "points": 0, "already": 0, "failed": 0,
                              "dry_run": dry_run}
    if not prizes:
        return counts
    decided = LeaderboardAward.objects.filter(period_key=month.key)
    if not decided.exists():
        if not dry_run:
            _board_rebuild([month])
        places = {winner["rank"]: winner for winner in leaderboard_top_get(period=month, limit=prizes[-1].rank)}
        awards = [
            LeaderboardAward(period_key=month.key, rank=prize.rank, member_id=places[prize.rank]["member_id"],
                             score=places[prize.rank]["points"], prize_points=prize.points, awarded_at=as_of)
            for prize in prizes if prize.rank in places
        ]
        if dry_run:
            counts["paid"] = len(awards)
            counts["points"] = sum(award.prize_points for award in awards)
            return counts
        with transaction.atomic():
            LeaderboardAward.objects.bulk_create(awards, ignore_conflicts=True)
    unpaid = list(decided.filter(transaction__isnull=True).select_related("member").order_by("rank"))
    counts["already"] = decided.filter(transaction__isnull=False).count()
    if dry_run:
        counts["paid"] = len(unpaid)
        counts["points"] = sum(award.prize_points for award in unpaid)
        return counts
    for index, award in enumerate(unpaid, start=1):
        try:
            with transaction.atomic():
                # The award row locked: a concurrent run waits here, then finds it paid and moves on.
                if not LeaderboardAward.objects.select_for_update().filter(pk=award.pk, transaction__isnull=True):
                    counts["already"] += 1
                    continue
                txn = points_credit(
                    member=award.member,
                    points=award.prize_points,
                    kind=TransactionKind.BONUS,
                    audit=Audit(
                        reason=Reason(gettext_noop("Leaderboard prize: place %(rank)s in %(month)s"),
                                      {"rank": award.rank, "month": month.key}),
                        reference=month.key,
                        idempotency_key=leaderboard_prize_key(period_key=month.key, rank=award.rank),
                        job=LEADERBOARD_PRIZE_JOB,
                        occurred_at=as_of,
                        metadata={"leaderboard": month.key, "rank": award.rank},
                    ),
                    now=as_of,
                )
                LeaderboardAward.objects.filter(pk=award.pk).update(transaction=txn)
        except LedgerError as error:
            counts["failed"] += 1
            logger.error("award_leaderboard_prizes: place %s of %s failed: %s", award.rank, month.key, error)
            continue
        counts["paid"] += 1
        counts["points"] += award.prize_points
        if progress is not None:
            progress(index, len(unpaid))
    return counts
