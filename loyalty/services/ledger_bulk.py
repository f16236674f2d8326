"""The set-based half of the ledger writer: expiry of many members' lots in a few SQL statements.

`loyalty.services.ledger.points_expire_member` expires one member's lots through the ORM. The job needs
the same result for hundreds of thousands of members, so this module does the work per *batch* of
members with a fixed number of set-based statements (no Python loop over lots or members), inside one
database transaction per batch:

1. lock the available accounts of the batch's members with lots due, and the system `expired` account, in
   pk order
   (`SELECT ... ORDER BY id FOR UPDATE`; on SQLite the IMMEDIATE transaction already holds the write lock);
2. INSERT one `expire` LedgerTransaction per member with expirable lots (points, balance_after and the
   number of lots in `metadata`), RETURNING their ids, which the following statements use;
3. INSERT their two entries each (member available -x, system expired +x) in one statement;
4. UPDATE those lots: `expired += remaining`, `remaining = 0` (expiry is recorded on the lot itself, not
   as LotAllocation rows: remaining = points - allocated - expired);
5. UPDATE the member balances and the system account's balance.

Every statement selects lots with the same predicate (released, `expires_at <= as_of`, `remaining > 0`)
*after* the locks are held, and every other writer of these members' lots holds the same account lock,
so the sums and the updates agree (checked: the lots updated are the lots counted) and a lot expires at
most once: a second copy of the job waiting on the locks finds `remaining = 0` and writes nothing.

Unlike the per-member writer, this path does not send `points_posted` per transaction (it would be a
Python loop over rows after every batch); its one listener today, the tier upgrade check, ignores expiries.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone

from loyalty.models import AccountKind, TransactionKind
from loyalty.services.ledger import EXPIRED_REASON, LedgerError, _system_account_ids

# Statement templates. The {placeholders} are constant SQL fragments (see _sql); every value is a parameter.
# {expirable_l}: the lots that expire, the same condition as points_expire_member.
# {batch_a} / {batch_l} / ...: the row belongs to one of the batch's members (ONE parameter). Repeated on
# every table a statement joins, so that PostgreSQL reads the batch's account rows by index instead of
# hashing all of them (it estimates a 2000-member batch well, and then prefers a scan of every account).
# {batch_txns}: the transactions this batch inserted (their ids, from INSERT ... RETURNING).
# {batch_ids}: the batch's member ids as a table `b(id)` (ONE parameter).
# {lots_metadata}: the transaction's metadata, {"expired_lots": <number of lots>}; {returned_lots} reads it.
_LOCK = (
    "SELECT id FROM loyalty_ledgeraccount a WHERE (a.kind = %s AND {batch_a}) OR a.id = %s ORDER BY a.id FOR UPDATE"
)
# The members with lots due: read from the open lots' expiry index (point_lot_open_expiry, only lots with
# points left), so a run reads the lots due and not every member with a balance.
_CANDIDATES = (
    "SELECT DISTINCT l.member_id FROM loyalty_pointlot l WHERE {expirable_l} ORDER BY l.member_id"
)
# Which of a batch's members have lots due: the first due lot of each is enough (an EXISTS per member).
_DUE = (
    "SELECT b.id FROM {batch_ids} WHERE EXISTS (SELECT 1 FROM loyalty_pointlot l"
    " WHERE l.member_id = b.id AND {expirable_l}) ORDER BY b.id"
)
_TOTALS = (
    "SELECT COUNT(DISTINCT l.member_id), COALESCE(SUM(l.remaining), 0), COUNT(*) FROM loyalty_pointlot l"
    " WHERE {expirable_l}"
)
_INSERT_TRANSACTIONS = (
    "INSERT INTO loyalty_ledgertransaction (kind, member_id, reason, reason_msgid, reason_params, reference, job,"
    " occurred_at, created_at, idempotency_key, points, balance_after, metadata)"
    " SELECT %s, s.member_id, %s, %s, '{{}}', '', %s, %s, %s,"
    " CAST(%s AS VARCHAR(100)) || CAST(s.member_id AS VARCHAR(20)),"
    " -s.points, available.balance - s.points + pending.balance, {lots_metadata}"
    " FROM (SELECT l.member_id, SUM(l.remaining) AS points, COUNT(*) AS lots FROM loyalty_pointlot l"
    "       WHERE {batch_l} AND {expirable_l} GROUP BY l.member_id) s"
    " JOIN loyalty_ledgeraccount available ON available.member_id = s.member_id AND available.kind = %s"
    "  AND {batch_available}"
    " JOIN loyalty_ledgeraccount pending ON pending.member_id = s.member_id AND pending.kind = %s AND {batch_pending}"
    " ORDER BY s.member_id RETURNING id, points, {returned_lots}"
)
# Both legs in one statement, so each transaction balances at the end of every statement.
_INSERT_ENTRIES = (
    "INSERT INTO loyalty_ledgerentry (transaction_id, account_id, points)"
    " SELECT transaction_id, account_id, points FROM ("
    "  SELECT t.id AS transaction_id, 0 AS leg, a.id AS account_id, t.points AS points"
    "  FROM loyalty_ledgertransaction t"
    "  JOIN loyalty_ledgeraccount a ON a.member_id = t.member_id AND a.kind = %s AND {batch_a}"
    "  WHERE {batch_txns}"
    "  UNION ALL"
    "  SELECT t.id, 1, %s, -t.points FROM loyalty_ledgertransaction t WHERE {batch_txns}"
    " ) legs ORDER BY transaction_id, leg"
)
# Both sides of the SET read the row as it was: expired grows by the remaining points, which become 0.
_EXPIRE_LOTS = (
    "UPDATE loyalty_pointlot SET expired = expired + remaining, remaining = 0 WHERE {batch_lot} AND {expirable_lot}"
)
_MEMBER_BALANCES = (
    "UPDATE loyalty_ledgeraccount SET balance = balance + t.points FROM loyalty_ledgertransaction t"
    " WHERE loyalty_ledgeraccount.kind = %s AND {batch_account} AND loyalty_ledgeraccount.member_id = t.member_id"
    " AND {batch_txns}"
)
_SYSTEM_BALANCE = "UPDATE loyalty_ledgeraccount SET balance = balance + %s WHERE id = %s"


def _in_batch(column: str) -> str:
    """`column` is one of the batch's values, passed as ONE parameter (an array or a JSON list)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(CAST(%s AS bigint[]))"
    return f"{column} IN (SELECT value FROM json_each(%s))"  # noqa: S608 (a constant column name)


def _expirable(lot: str) -> str:
    return f"{lot}.released_at IS NOT NULL AND {lot}.expires_at <= %s AND {lot}.remaining > 0"


def _sql(template: str) -> str:
    """Fill a statement template with its constant fragments (no value is ever formatted into SQL)."""
    fragments = {
        "batch_a": _in_batch("a.member_id"),
        "batch_account": _in_batch("loyalty_ledgeraccount.member_id"),
        "batch_available": _in_batch("available.member_id"),
        "batch_pending": _in_batch("pending.member_id"),
        "batch_l": _in_batch("l.member_id"),
        "batch_lot": _in_batch("loyalty_pointlot.member_id"),
        "batch_txns": _in_batch("t.id"),
        "batch_ids": (
            "(SELECT unnest(CAST(%s AS bigint[])) AS id) b" if connection.vendor == "postgresql"
            else "(SELECT value AS id FROM json_each(%s)) b"
        ),
        "expirable_l": _expirable("l"),
        "expirable_lot": _expirable("loyalty_pointlot"),
        "lots_metadata": (
            "jsonb_build_object('expired_lots', s.lots)" if connection.vendor == "postgresql"
            else "json_object('expired_lots', s.lots)"
        ),
        "returned_lots": (
            "CAST(metadata->>'expired_lots' AS INTEGER)" if connection.vendor == "postgresql"
            else "json_extract(metadata, '$.expired_lots')"
        ),
    }
    return template.format(**fragments)


@dataclass(frozen=True)
class ExpiryBatchResult:
    members: int
    points: int
    lots: int


def _batch_param(values: Sequence[int]) -> str:
    """Ids as ONE parameter: a PostgreSQL array literal or a JSON list. Rendered here, once per batch: the
    driver's own list adaptation costs seconds over a run of a million values."""
    ids = ",".join(str(int(value)) for value in values)
    return "{" + ids + "}" if connection.vendor == "postgresql" else "[" + ids + "]"


def _when(value: datetime):
    """A datetime as the backend stores it (SQLite: naive UTC text), so raw SQL compares like the ORM."""
    return connection.ops.adapt_datetimefield_value(value)


def expired_account_id() -> int:
    """The system account expired points go to (created on first use)."""
    return _system_account_ids([AccountKind.EXPIRED])[0]


def expiry_candidate_ids(*, as_of: datetime) -> list[int]:
    """The members with released lots due at `as_of` that still hold points, in pk order. Read without locks:
    points_expire_batch reads each batch again under its locks and skips members with nothing due any more."""
    with connection.cursor() as cursor:
        cursor.execute(_sql(_CANDIDATES), [_when(as_of)])
        return [row[0] for row in cursor.fetchall()]


def expirable_totals(*, as_of: datetime) -> ExpiryBatchResult:
    """What an expiry run at `as_of` would do now (members, points, lots), without writing anything."""
    with connection.cursor() as cursor:
        cursor.execute(_sql(_TOTALS), [_when(as_of)])
        members, points, lots = cursor.fetchone()
    return ExpiryBatchResult(members=members, points=int(points), lots=lots)


def points_expire_batch(
    *, member_ids: Sequence[int], as_of: datetime, job: str = "expire_points", expired_account: int | None = None
) -> ExpiryBatchResult:
    """Expire the remaining points of these members' released lots with `expires_at <= as_of`.

    One database transaction, locking only the members that have something due (read first, without
    locks; everything is read again under the locks); members with nothing to expire (any more) are left
    alone. Produces the same rows as calling points_expire_member for each member (the idempotency keys
    differ).
    """
    if not member_ids:
        return ExpiryBatchResult(0, 0, 0)
    when, now = _when(as_of), _when(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(_sql(_DUE), [_batch_param([int(pk) for pk in member_ids]), when])
        due = [row[0] for row in cursor.fetchall()]
    if not due:
        return ExpiryBatchResult(0, 0, 0)
    expired_account = expired_account or expired_account_id()
    members = _batch_param(due)
    # Unique per member and run: "expire:<as_of>:<run>:<member id>", built in SQL.
    key_prefix = f"expire:{as_of.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}:{uuid.uuid4().hex[:12]}:"

    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # SQLite: the IMMEDIATE transaction holds the write lock
            cursor.execute(_sql(_LOCK), [AccountKind.AVAILABLE, members, expired_account])
        cursor.execute(
            _sql(_INSERT_TRANSACTIONS),
            [TransactionKind.EXPIRE, EXPIRED_REASON.english(), EXPIRED_REASON.msgid, job, when, now, key_prefix,
             members, when, AccountKind.AVAILABLE, members, AccountKind.PENDING, members],
        )
        inserted = cursor.fetchall()  # (id, points, lots) of one transaction per member, not per lot
        if not inserted:
            return ExpiryBatchResult(0, 0, 0)
        txn_count, points = len(inserted), -sum(row[1] for row in inserted)
        counted = sum(row[2] for row in inserted)
        batch_txns = [_batch_param([row[0] for row in inserted])]
        cursor.execute(
            _sql(_INSERT_ENTRIES), [AccountKind.AVAILABLE, members, *batch_txns, expired_account, *batch_txns]
        )
        cursor.execute(_sql(_EXPIRE_LOTS), [members, when])
        lots = cursor.rowcount
        if lots != counted:  # the lots emptied are not the lots summed: refuse rather than corrupt
            raise LedgerError(f"expiry batch mismatch: {lots} lots emptied, {counted} lots in the transactions")
        cursor.execute(_sql(_MEMBER_BALANCES), [AccountKind.AVAILABLE, members, *batch_txns])
        if cursor.rowcount != txn_count:
            raise LedgerError(f"expiry batch mismatch: {txn_count} transactions, {cursor.rowcount} balances")
        cursor.execute(_SYSTEM_BALANCE, [points, expired_account])
    return ExpiryBatchResult(members=txn_count, points=points, lots=lots)
