"""The set-based half of the ledger writer: expiry of many members' lots in a few SQL statements.

`loyalty.services.ledger.points_expire_member` expires one member's lots through the ORM. The job needs
the same result for hundreds of thousands of members, so this module does the work per *batch* of
members with a fixed number of set-based statements (no Python loop over lots or members), inside one
database transaction per batch:

1. lock the batch's available accounts and the system `expired` account, in pk order
   (`SELECT ... ORDER BY id FOR UPDATE`; on SQLite the IMMEDIATE transaction already holds the write lock);
2. INSERT one `expire` LedgerTransaction per member with expirable lots (points and balance_after set),
   RETURNING their ids, which the following statements use;
3. INSERT their two entries each (member available -x, system expired +x) in one statement;
4. INSERT the LotAllocations (INSERT ... SELECT) and UPDATE those lots to remaining = 0;
5. UPDATE the member balances and the system account's balance.

Every statement selects lots with the same predicate (released, `expires_at <= as_of`, `remaining > 0`)
*after* the locks are held, and every other writer of these members' lots holds the same account lock,
so the sums, allocations and updates agree and a lot expires at most once: a second copy of the job
waiting on the locks finds `remaining = 0` and writes nothing.

Unlike the per-member writer, this path does not send `points_posted` per transaction (it would be a
Python loop over rows after every batch); its one listener today, the tier upgrade check, ignores expiries.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.models import AccountKind, TransactionKind
from loyalty.services.ledger import LedgerError, _system_account_ids

# Statement templates. The {placeholders} are constant SQL fragments (see _sql); every value is a parameter.
# {expirable_l}: the lots that expire, the same condition as points_expire_member.
# {batch_a} / {batch_l} / {batch_lot}: the row belongs to one of the batch's members (ONE parameter).
# {batch_txns}: the transactions this batch inserted (their ids, from INSERT ... RETURNING).
_LOCK = (
    "SELECT id FROM loyalty_ledgeraccount a WHERE (a.kind = %s AND {batch_a}) OR a.id = %s ORDER BY a.id FOR UPDATE"
)
_CANDIDATES = (
    "SELECT DISTINCT l.member_id FROM loyalty_pointlot l WHERE {expirable_l} AND l.member_id > %s"
    " ORDER BY l.member_id LIMIT %s"
)
_TOTALS = (
    "SELECT COUNT(DISTINCT l.member_id), COALESCE(SUM(l.remaining), 0), COUNT(*) FROM loyalty_pointlot l"
    " WHERE {expirable_l}"
)
_INSERT_TRANSACTIONS = (
    "INSERT INTO loyalty_ledgertransaction (kind, member_id, reason, reference, job, occurred_at, created_at,"
    " idempotency_key, points, balance_after, metadata)"
    " SELECT %s, s.member_id, %s, '', %s, %s, %s, CAST(%s AS VARCHAR(100)) || CAST(s.member_id AS VARCHAR(20)),"
    " -s.points, available.balance - s.points + pending.balance, '{{}}'"
    " FROM (SELECT l.member_id, SUM(l.remaining) AS points FROM loyalty_pointlot l"
    "       WHERE {batch_l} AND {expirable_l} GROUP BY l.member_id) s"
    " JOIN loyalty_ledgeraccount available ON available.member_id = s.member_id AND available.kind = %s"
    " JOIN loyalty_ledgeraccount pending ON pending.member_id = s.member_id AND pending.kind = %s"
    " ORDER BY s.member_id RETURNING id, points"
)
# Both legs in one statement, so each transaction balances at the end of every statement.
_INSERT_ENTRIES = (
    "INSERT INTO loyalty_ledgerentry (transaction_id, account_id, points)"
    " SELECT transaction_id, account_id, points FROM ("
    "  SELECT t.id AS transaction_id, 0 AS leg, a.id AS account_id, t.points AS points"
    "  FROM loyalty_ledgertransaction t JOIN loyalty_ledgeraccount a ON a.member_id = t.member_id AND a.kind = %s"
    "  WHERE {batch_txns}"
    "  UNION ALL"
    "  SELECT t.id, 1, %s, -t.points FROM loyalty_ledgertransaction t WHERE {batch_txns}"
    " ) legs ORDER BY transaction_id, leg"
)
_INSERT_ALLOCATIONS = (
    "INSERT INTO loyalty_lotallocation (transaction_id, lot_id, points)"
    " SELECT t.id, l.id, l.remaining FROM loyalty_pointlot l"
    " JOIN loyalty_ledgertransaction t ON t.member_id = l.member_id AND {batch_txns}"
    " WHERE {expirable_l} ORDER BY l.member_id, l.expires_at, l.id"
)  # (the join restricts the lots to the batch: repeating the batch list here makes PostgreSQL quadratic)
_EMPTY_LOTS = "UPDATE loyalty_pointlot SET remaining = 0 WHERE {batch_lot} AND {expirable_lot}"
_MEMBER_BALANCES = (
    "UPDATE loyalty_ledgeraccount SET balance = balance + t.points FROM loyalty_ledgertransaction t"
    " WHERE loyalty_ledgeraccount.kind = %s AND loyalty_ledgeraccount.member_id = t.member_id AND {batch_txns}"
)
_SYSTEM_BALANCE = "UPDATE loyalty_ledgeraccount SET balance = balance + %s WHERE id = %s"


def _in_batch(column: str) -> str:
    """`column` is one of the batch's values, passed as ONE parameter (an array or a JSON list)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)"
    return f"{column} IN (SELECT value FROM json_each(%s))"  # noqa: S608 (a constant column name)


def _expirable(lot: str) -> str:
    return f"{lot}.released_at IS NOT NULL AND {lot}.expires_at <= %s AND {lot}.remaining > 0"


def _sql(template: str) -> str:
    """Fill a statement template with its constant fragments (no value is ever formatted into SQL)."""
    fragments = {
        "batch_a": _in_batch("a.member_id"),
        "batch_l": _in_batch("l.member_id"),
        "batch_lot": _in_batch("loyalty_pointlot.member_id"),
        "batch_txns": _in_batch("t.id"),
        "expirable_l": _expirable("l"),
        "expirable_lot": _expirable("loyalty_pointlot"),
    }
    return template.format(**fragments)


@dataclass(frozen=True)
class ExpiryBatchResult:
    members: int
    points: int
    lots: int


def _batch_param(values: Sequence[int | str]):
    return list(values) if connection.vendor == "postgresql" else json.dumps(list(values))


def _when(value: datetime):
    """A datetime as the backend stores it (SQLite: naive UTC text), so raw SQL compares like the ORM."""
    return connection.ops.adapt_datetimefield_value(value)


def expired_account_id() -> int:
    """The system account expired points go to (created on first use)."""
    return _system_account_ids([AccountKind.EXPIRED])[0]


def expirable_member_ids(*, as_of: datetime, after: int = 0, limit: int = 1000) -> list[int]:
    """The next `limit` member ids above `after` that own lots expiring by `as_of`, in pk order."""
    with connection.cursor() as cursor:
        cursor.execute(_sql(_CANDIDATES), [_when(as_of), after, limit])
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

    One database transaction; members with nothing to expire (any more) are left alone. Produces the
    same rows as calling points_expire_member for each member (the idempotency keys differ).
    """
    if not member_ids:
        return ExpiryBatchResult(0, 0, 0)
    expired_account = expired_account or expired_account_id()
    members = _batch_param([int(pk) for pk in member_ids])
    # Unique per member and run: "expire:<as_of>:<run>:<member id>", built in SQL.
    key_prefix = f"expire:{as_of.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}:{uuid.uuid4().hex[:12]}:"
    when, now = _when(as_of), _when(timezone.now())

    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # SQLite: the IMMEDIATE transaction holds the write lock
            cursor.execute(_sql(_LOCK), [AccountKind.AVAILABLE, members, expired_account])
        cursor.execute(
            _sql(_INSERT_TRANSACTIONS),
            [TransactionKind.EXPIRE, _("Points expired")[:255], job, when, now, key_prefix, members, when,
             AccountKind.AVAILABLE, AccountKind.PENDING],
        )
        inserted = cursor.fetchall()  # (id, points) of one transaction per member, not per lot
        if not inserted:
            return ExpiryBatchResult(0, 0, 0)
        txn_count, points = len(inserted), -sum(row[1] for row in inserted)
        batch_txns = [_batch_param([row[0] for row in inserted])]
        cursor.execute(_sql(_INSERT_ENTRIES), [AccountKind.AVAILABLE, *batch_txns, expired_account, *batch_txns])
        cursor.execute(_sql(_INSERT_ALLOCATIONS), [*batch_txns, when])
        allocations = cursor.rowcount
        cursor.execute(_sql(_EMPTY_LOTS), [members, when])
        lots = cursor.rowcount
        if lots != allocations:  # a lot without its member's transaction: refuse rather than corrupt
            raise LedgerError(f"expiry batch mismatch: {lots} lots emptied, {allocations} allocations recorded")
        cursor.execute(_sql(_MEMBER_BALANCES), [AccountKind.AVAILABLE, *batch_txns])
        if cursor.rowcount != txn_count:
            raise LedgerError(f"expiry batch mismatch: {txn_count} transactions, {cursor.rowcount} balances")
        cursor.execute(_SYSTEM_BALANCE, [points, expired_account])
    return ExpiryBatchResult(members=txn_count, points=points, lots=lots)
