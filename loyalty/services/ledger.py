"""The one writer of the points ledger.

Every change of points goes through a function here. Each one, inside `transaction.atomic`:
1. locks the member row (`FOR NO KEY UPDATE`), then the member's accounts and the system accounts
   involved, in pk order (`SELECT ... FOR UPDATE`);
2. returns the earlier transaction when the idempotency key was seen before (same member and kind),
   or refuses it (IdempotencyConflict);
3. inserts one LedgerTransaction whose LedgerEntries sum to zero, moves point lots and records
   LotAllocations, and updates the cached balances with F() expressions.
Nothing else writes LedgerEntry, LedgerAccount.balance, PointLot.remaining or Member.lifetime_earned,
except the set-based half of this writer, loyalty/services/ledger_bulk.py (the expiry job), which follows
the same locking order and invariants.
"""

from __future__ import annotations

import functools
import json
import uuid
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import BigIntegerField, Case, F, Sum, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from loyalty.db import prepared_cursor
from loyalty.models import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    LotAllocation,
    PointLot,
    TransactionKind,
)
from loyalty.models.ledger import SYSTEM_ACCOUNT_KINDS, SYSTEM_ACCOUNT_SHARDS
from loyalty.reasons import Reason, reason_text
from loyalty.services.program import lot_expiry, program_get
from loyalty.signals import points_posted
from members.models import Member, MemberStatus


class LedgerError(Exception):
    """A refused operation: `code` and `status_code` for the API, `fields` (messages per field) when the
    fault lies in a field (the API's 422 `invalid` then carries them)."""

    code = "invalid"
    status_code = 422

    def __init__(self, detail: str = "", fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields or {}


class InsufficientPoints(LedgerError):
    code = "insufficient_points"


class IdempotencyConflict(LedgerError):
    code = "idempotency_conflict"
    status_code = 409


class MemberInactive(LedgerError):
    """A suspended or closed member (each service says which it refuses)."""

    code = "member_inactive"
    status_code = 422


class AlreadyReturned(LedgerError):
    code = "already_cancelled"
    status_code = 409


EXPIRED_REASON = Reason(gettext_noop("Points expired"))


@dataclass
class Audit:
    """Who did it and why: copied onto the transaction row."""

    reason: str | Reason  # a Reason (message id + parameters) for anything not typed by a person
    idempotency_key: str = ""
    reference: str = ""
    store: Any = None
    staff_user: Any = None
    job: str = ""
    occurred_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class MemberUpdate:
    """One more assignment to the member row, written with a credit: `column = expression + plus`, and
    `stamp_column = stamp`. `expression` (SQL with `params`, e.g. an aggregate over the member's history) is
    evaluated over the rows as they were before the credit; `plus` is what the credit itself adds to it.
    A posting that changes the tier metric without one (a credit, a reversal, a release) clears the stored
    metric's stamp (`tier_metric_at`), so that the metric is not carried forward from a stale value.
    The value written comes back as `txn.member_update_value` (the tier metric, stored and checked in the
    purchase's own statement)."""

    column: str
    expression: str
    params: list[Any]
    plus: Any
    stamp_column: str
    stamp: Any


# -- accounts and locks ----------------------------------------------------------------------------


def member_accounts_create(*, member: Member) -> None:
    """Open a member's available and pending accounts (called once, when the member is created)."""
    LedgerAccount.objects.bulk_create(
        [
            LedgerAccount(member=member, kind=AccountKind.AVAILABLE),
            LedgerAccount(member=member, kind=AccountKind.PENDING),
        ]
    )


def _system_account_ids(kinds: Iterable[str], shard: int = 0) -> list[int]:
    ids = []
    for kind in kinds:
        account, _created = LedgerAccount.objects.get_or_create(member=None, kind=kind, shard=shard)
        ids.append(account.pk)
    return ids


def system_accounts_ensure() -> None:
    """Every system account, each kind's shards, as migrations 0018 and 0020 make them (for a database whose
    tables were emptied: made on first use inside postings, they could deadlock two postings at once)."""
    LedgerAccount.objects.bulk_create(
        [LedgerAccount(member=None, kind=kind, shard=shard)
         for kind in SYSTEM_ACCOUNT_KINDS for shard in range(SYSTEM_ACCOUNT_SHARDS)],
        ignore_conflicts=True,
    )
    _system_ids_cache.clear()


def system_shard(key: Any) -> int:
    """The system accounts' shard a posting for this member (its id or loyalty ID) takes: any shard keeps the
    ledger right; spreading members over them lets their postings commit side by side (SYSTEM_ACCOUNT_SHARDS)."""
    return zlib.crc32(str(key).encode()) % SYSTEM_ACCOUNT_SHARDS


class _Locked:
    """The locked accounts of one member plus the system accounts one posting touches."""

    def __init__(self, member: Member, accounts: Sequence[LedgerAccount]) -> None:
        self.member = member
        self.by_kind = {a.kind: a for a in accounts}

    @property
    def available(self) -> LedgerAccount:
        return self.by_kind[AccountKind.AVAILABLE]

    @property
    def pending(self) -> LedgerAccount:
        return self.by_kind[AccountKind.PENDING]

    def system(self, kind: str) -> LedgerAccount:
        return self.by_kind[kind]


# (kind, shard) -> pk of the system accounts, per process (they are created once and never deleted).
# Self-healing: _lock checks that the rows it locked are those system accounts and refetches them once if not.
_system_ids_cache: dict[tuple[str, int], int] = {}


_ACCOUNT_COLUMNS = ("id", "member_id", "kind", "balance")


def _accounts_lock_sql(system_ids: list[int], member: str) -> tuple[str, list[int]]:
    """The accounts lock statement (see _accounts_lock); `member` is the SQL that gives the member id."""
    table = connection.ops.quote_name(LedgerAccount._meta.db_table)
    ids = system_ids or [-1]  # IN () is not SQL
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    sql = (
        f"SELECT {', '.join(_ACCOUNT_COLUMNS)} FROM {table} "  # noqa: S608 - names from _meta, values are parameters
        f"WHERE member_id = {member} OR id IN ({', '.join(['%s'] * len(ids))}) ORDER BY id{lock}"
    )
    return sql, ids


# The member row's lock: FOR NO KEY UPDATE, which serialises the member's postings like FOR UPDATE but lets
# the foreign-key checks of other transactions (FOR KEY SHARE, e.g. the expiry job's inserts for this member,
# checked at its commit) through; FOR UPDATE would make them wait on us while we wait on their accounts.
_MEMBER_LOCK = " FOR NO KEY UPDATE"


def _accounts_lock(member_id: int, system_ids: list[int]) -> list[LedgerAccount]:
    """Lock the member row, then the member's accounts and these system accounts in pk order, in one
    statement (SELECT ... FOR UPDATE; raw SQL: every posting runs it, and the ORM's query building cost more
    than the query). The member row comes first for every writer, as the purchase path locks it first and
    a posting may update it (lifetime_earned, the tier metric): one order, so no deadlock between them."""
    member = "%s"
    if connection.features.has_select_for_update:  # SQLite: the IMMEDIATE transaction holds the write lock
        member = f"(SELECT id FROM {connection.ops.quote_name(Member._meta.db_table)} WHERE id = %s{_MEMBER_LOCK})"  # noqa: S608
    sql, ids = _accounts_lock_sql(system_ids, member)
    with prepared_cursor() as cursor:
        cursor.execute(sql, [member_id, *ids])
        rows = cursor.fetchall()
    return [LedgerAccount.from_db(connection.alias, _ACCOUNT_COLUMNS, row) for row in rows]


def _system_ids(system_kinds: list[str], shard: int, *, refresh: bool = False) -> dict[int, str]:
    if refresh or any((kind, shard) not in _system_ids_cache for kind in system_kinds):
        ids = _system_account_ids(system_kinds, shard)
        _system_ids_cache.update(zip(((kind, shard) for kind in system_kinds), ids, strict=True))
    return {_system_ids_cache[kind, shard]: kind for kind in system_kinds}


def _system_ids_right(accounts: list[LedgerAccount], system_ids: dict[int, str]) -> bool:
    """Whether the locked rows include exactly the cached system accounts (else the cache is stale)."""
    system = [a for a in accounts if a.pk in system_ids]
    return len(system) == len(system_ids) and all(a.member_id is None and a.kind == system_ids[a.pk] for a in system)


def _locked(member: Member, accounts: list[LedgerAccount], system_ids: dict[int, str]) -> _Locked:
    accounts = [a for a in accounts if a.pk in system_ids or a.member_id == member.pk]
    locked = _Locked(member, accounts)
    if AccountKind.AVAILABLE not in locked.by_kind:
        raise LedgerError(_("This member has no ledger accounts."))
    return locked


_MEMBER_COLUMNS = tuple(field.attname for field in Member._meta.concrete_fields)


@functools.lru_cache(maxsize=8)
def _member_posting_lock_sql(column: str, columns: str, accounts_sql: str) -> str:
    """The member row (FOR NO KEY UPDATE) and then the accounts lock statement (_accounts_lock_sql, given the
    member's id as `(SELECT id FROM m)`), one row per account. The accounts' scan needs the member's id, so
    the member row is locked before any account: the order every posting keeps."""
    members = connection.ops.quote_name(Member._meta.db_table)
    account_columns = ", ".join(f"a.{c}" for c in _ACCOUNT_COLUMNS)
    return f"""
WITH m AS (SELECT {columns} FROM {members} WHERE {column} = %s{_MEMBER_LOCK}),
a AS ({accounts_sql})
SELECT m.*, {account_columns} FROM m LEFT JOIN a ON true ORDER BY a.id
"""  # noqa: S608 - names from _meta and the caller's fixed expressions, values are parameters


def member_posting_lock(
    *, column: str, value: Any, system_kinds: Iterable[str], extra: Sequence[tuple[str, list]] = ()
) -> tuple[Member, _Locked, tuple] | None:
    """Lock and read the member whose `column` (`id` or `loyalty_id`) is `value`, then lock its accounts
    and the system accounts of `system_kinds`, for postings that follow (pass `locked` to them): one round
    trip on PostgreSQL. `extra`: more SQL expressions (with parameters) read with the member row, returned
    as the third item. None when no member matches.
    """
    if column not in ("id", "loyalty_id"):
        raise ValueError(column)
    system_kinds = list(system_kinds)
    system_ids = _system_ids(system_kinds, system_shard(value))
    quote = connection.ops.quote_name
    members = quote(Member._meta.db_table)
    extra_params = [param for _expression, params in extra for param in params]
    columns = ", ".join([*_MEMBER_COLUMNS, *(expression for expression, _params in extra)])
    if connection.vendor == "postgresql":  # one prepared statement; the member row is locked first
        accounts_sql, ids = _accounts_lock_sql(list(system_ids), "(SELECT id FROM m)")
        with prepared_cursor() as cursor:
            cursor.execute(_member_posting_lock_sql(column, columns, accounts_sql), [*extra_params, value, *ids])
            rows = cursor.fetchall()
        width = len(_MEMBER_COLUMNS) + len(extra)
        row = rows[0][:width] if rows else None
        rows = [r[width:] for r in rows if r[width] is not None]
    else:
        lock = _MEMBER_LOCK if connection.features.has_select_for_update else ""
        member_sql = f"SELECT {columns} FROM {members} WHERE {column} = %s{lock}"  # noqa: S608 - names from _meta
        accounts_sql, ids = _accounts_lock_sql(list(system_ids), "%s")
        with connection.cursor() as cursor:
            cursor.execute(member_sql, [*extra_params, value])
            row = cursor.fetchone()
            rows = []
            if row is not None:
                cursor.execute(accounts_sql, [row[0], *ids])
                rows = cursor.fetchall()
    if row is None:
        return None
    alias = connection.alias
    accounts = [LedgerAccount.from_db(alias, _ACCOUNT_COLUMNS, account) for account in rows]
    member = Member.from_db(alias, _MEMBER_COLUMNS, row[: len(_MEMBER_COLUMNS)])
    if not _system_ids_right(accounts, system_ids):
        return member, _lock(member, system_kinds), row[len(_MEMBER_COLUMNS):]
    return member, _locked(member, accounts, system_ids), row[len(_MEMBER_COLUMNS):]


def _lock(member: Member, system_kinds: Iterable[str]) -> _Locked:
    system_kinds = list(system_kinds)
    for attempt in (1, 2):
        system_ids = _system_ids(system_kinds, system_shard(member.pk), refresh=attempt == 2)
        accounts = _accounts_lock(member.pk, list(system_ids))
        if _system_ids_right(accounts, system_ids):
            break
    return _locked(member, accounts, system_ids)


def _replay(audit: Audit, *, member: Member, kind: str) -> LedgerTransaction | None:
    existing = LedgerTransaction.objects.filter(idempotency_key=audit.idempotency_key).first()
    if existing is None:
        return None
    if existing.member_id != member.pk or existing.kind != kind:
        raise IdempotencyConflict(_("This idempotency key was already used for another posting."))
    return existing


# -- the posting primitive -----------------------------------------------------------------------


def _post(
    locked: _Locked,
    *,
    kind: str,
    audit: Audit,
    legs: Sequence[tuple[LedgerAccount, int]],
    earned_delta: int = 0,
) -> LedgerTransaction:
    legs = [(account, points) for account, points in legs if points]
    if sum(points for _a, points in legs) != 0 or len(legs) < 2:
        raise ValueError(f"unbalanced or empty posting: {[(a.kind, p) for a, p in legs]}")
    member = locked.member
    member_delta = sum(points for account, points in legs if account.member_id == member.pk)
    for account, points in legs:
        account.balance += points
    if locked.pending.balance < 0:
        raise ValueError("pending balance would go negative")
    # No savepoint: the key was checked under the member's lock (_replay); the same key posted concurrently
    # for another member fails this insert, and the service's _atomic turns that into IdempotencyConflict.
    txn = _new_transaction(locked, kind=kind, audit=audit, points=member_delta, now=timezone.now())
    txn.save(force_insert=True)
    LedgerEntry.objects.bulk_create([LedgerEntry(transaction=txn, account=a, points=p) for a, p in legs])
    # All balances in one UPDATE.
    deltas: dict[int, int] = {}
    for account, points in legs:
        deltas[account.pk] = deltas.get(account.pk, 0) + points
    LedgerAccount.objects.filter(pk__in=list(deltas)).update(
        balance=F("balance")
        + Case(*(When(pk=pk, then=Value(delta)) for pk, delta in deltas.items()), output_field=BigIntegerField())
    )
    if earned_delta:  # an earning or a reversal: the stored tier metric is no longer exact (see MemberUpdate)
        Member.objects.filter(pk=member.pk).update(
            lifetime_earned=F("lifetime_earned") + earned_delta, tier_metric_at=None
        )
    return _posted(locked, txn)


def _new_transaction(locked: _Locked, *, kind: str, audit: Audit, points: int, now: datetime) -> LedgerTransaction:
    """The transaction row of a posting (unsaved); `locked`'s balances are already those after it."""
    reason, reason_msgid, reason_params = reason_text(audit.reason)
    return LedgerTransaction(
        kind=kind,
        member=locked.member,
        reason=reason[:255],
        reason_msgid=reason_msgid[:255],
        reason_params=reason_params,
        reference=audit.reference[:255],
        store=audit.store,
        staff_user=audit.staff_user,
        job=audit.job,
        occurred_at=audit.occurred_at or now,
        idempotency_key=audit.idempotency_key or f"{kind}:{uuid.uuid4()}",
        points=points,
        balance_after=locked.available.balance + locked.pending.balance,
        metadata=audit.metadata,
    )


def _posted(locked: _Locked, txn: LedgerTransaction) -> LedgerTransaction:
    """After a posting is written: its signal once committed, and the member's balances on the transaction
    for callers answering with them (no read-back)."""
    transaction.on_commit(lambda: points_posted.send(sender=LedgerTransaction, transaction=txn))
    txn.member_balances = {  # type: ignore[attr-defined]  # an attribute for callers, not a field
        "available": locked.available.balance,
        "pending": locked.pending.balance,
    }
    return txn


def _fifo_lots(member: Member):
    return PointLot.objects.filter(member=member, released_at__isnull=False, remaining__gt=0).order_by(
        F("expires_at").asc(nulls_last=True), "earned_at", "id"
    )


def _consume(lots: Iterable[PointLot], points: int, txn: LedgerTransaction) -> int:
    """Take up to `points` from `lots` in order, recording allocations; returns how many were taken."""
    taken = 0
    allocations = []
    for lot in lots:
        if taken >= points:
            break
        take = min(lot.remaining, points - taken)
        if take <= 0:
            continue
        PointLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - take)
        lot.remaining -= take
        allocations.append(LotAllocation(transaction=txn, lot=lot, points=take))
        taken += take
    LotAllocation.objects.bulk_create(allocations)
    return taken


def _settle_debt(locked: _Locked, balance_before: int, txn: LedgerTransaction) -> None:
    """After available points grew from a negative balance, the new points pay the debt first.

    Balances already say so; this takes the paid part out of the lots so that the available balance
    equals the remaining points of released lots again.
    """
    if balance_before >= 0:
        return
    debt_paid = min(-balance_before, locked.available.balance - balance_before)
    if debt_paid > 0:
        _consume(_fifo_lots(locked.member), debt_paid, txn)


# -- public services -------------------------------------------------------------------------------


def _atomic(func: Callable) -> Callable:
    """transaction.atomic, and a duplicate idempotency key (a concurrent posting of the same key for
    another member, which the unique index refuses) becomes IdempotencyConflict once rolled back."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with transaction.atomic():
                return func(*args, **kwargs)
        except IntegrityError as error:
            if "idempotency_key" not in str(error):
                raise
            raise IdempotencyConflict(_("This idempotency key was already used for another posting.")) from None

    return wrapper

_UNSET: Any = object()


def points_credit_in_transaction(
    *,
    member: Member,
    points: int,
    audit: Audit,
    kind: str = TransactionKind.EARN,
    source: str = AccountKind.ISSUED,
    available_at: datetime | None = None,
    expires_at: datetime | None = _UNSET,
    now: datetime | None = None,
    link: Any = None,
    member_update: MemberUpdate | None = None,
    locked: _Locked | None = None,
) -> LedgerTransaction:
    """points_credit without a transaction (or savepoint) of its own, for a caller already inside
    transaction.atomic that rolls back entirely when this raises (a purchase: one transaction, no savepoint).

    `link`, a model instance with `transaction` and `lot` foreign keys (a Purchase), is pointed at the new
    transaction and lot in the same write (on PostgreSQL in the same statement). A link not yet in the
    database (`_state.adding`) is inserted by that write; on PostgreSQL it must have its primary key
    already (from its sequence), so that the statement can insert every row at once.
    `member_update` (see MemberUpdate) is written with the credit too. `locked`: the member's accounts
    locked already (member_posting_lock, with `source` among its system kinds).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("points_credit_in_transaction must run inside transaction.atomic")
    if points <= 0:
        raise LedgerError(_("Points to credit must be positive."))
    if locked is None or source not in locked.by_kind:
        locked = _lock(member, [source])
    now = now or timezone.now()
    earned_at = audit.occurred_at or now
    available_at = available_at or earned_at
    pending = available_at > now
    if expires_at is _UNSET:
        expires_at = lot_expiry(program_get(), earned_at)
    target = locked.pending if pending else locked.available
    balance_before = locked.available.balance
    legs = [(target, points), (locked.system(source), -points)]
    earned_delta = points if kind in (TransactionKind.EARN, TransactionKind.BONUS) else 0
    lot = PointLot(
        member=member,
        points=points,
        remaining=points,
        earned_at=earned_at,
        available_at=available_at,
        released_at=None if pending else earned_at,
        expires_at=expires_at,
    )
    if connection.vendor == "postgresql":
        txn = _credit_statement(locked, kind=kind, audit=audit, legs=legs, earned_delta=earned_delta, lot=lot,
                                now=now, link=link, member_update=member_update)
        if txn is None:  # the key was used before: the earlier posting, or IdempotencyConflict
            if (existing := _replay(audit, member=member, kind=kind)) is None:
                raise IdempotencyConflict(_("This idempotency key was already used for another posting."))
            return existing
    else:
        if (existing := _replay(audit, member=member, kind=kind)) is not None:
            return existing
        txn = _post(locked, kind=kind, audit=audit, legs=legs, earned_delta=earned_delta)
        lot.transaction = txn
        lot.save(force_insert=True)
        if link is not None:
            link.transaction, link.lot = txn, lot
            if link._state.adding:
                link.save(force_insert=True)
            else:
                type(link).objects.filter(pk=link.pk).update(transaction=txn, lot=lot)
        if member_update is not None:  # the credit's rows are visible now: no `plus`
            txn.member_update_value = _member_update_apply(member, member_update)  # type: ignore[attr-defined]
    # The new lot rides on the transaction (`txn.lot`) so callers need not read it back.
    txn.lot = lot  # type: ignore[attr-defined]  # an attribute for callers, not a field
    if not pending:
        _settle_debt(locked, balance_before, txn)
    return txn


# One statement for a credit on PostgreSQL (the purchase path's hot spot): the transaction, its two
# entries, the lot, the balances, lifetime_earned and the optional link row, with data-modifying CTEs.
# The transaction insert skips a used idempotency key (ON CONFLICT DO NOTHING): then nothing else is
# written and the caller replays. The table and column names come from the models; values are parameters.
_CREDIT_SQL = """
WITH v (account_id, points) AS (
    VALUES (%s::bigint, %s::bigint), (%s::bigint, %s::bigint)
), t AS (
    INSERT INTO {txn} (kind, member_id, reason, reason_msgid, reason_params, reference, store_id, staff_user_id,
                       job, occurred_at, created_at, idempotency_key, points, balance_after, metadata)
    VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
), e AS (
    INSERT INTO {entry} (transaction_id, account_id, points) SELECT t.id, v.account_id, v.points FROM t, v
), l AS (
    INSERT INTO {lot} (member_id, transaction_id, points, remaining, earned_at, available_at, released_at, expires_at)
    SELECT %s, t.id, %s, %s, %s, %s, %s, %s FROM t
    RETURNING id
), b AS (
    UPDATE {account} a SET balance = a.balance + v.points FROM v WHERE a.id = v.account_id AND EXISTS (SELECT 1 FROM t)
), m AS (
    UPDATE {member} SET lifetime_earned = lifetime_earned + %s{member_set} WHERE id = %s AND EXISTS (SELECT 1 FROM t)
    RETURNING {member_returning}
){link}
SELECT t.id, l.id, (SELECT value FROM m) FROM t, l
"""
# The link row: updated when it exists; inserted when it is new, its values in ONE jsonb parameter (psycopg
# caches the parsed form of a statement only up to 50 parameters; re-parsing this one cost a millisecond).
_LINK_UPDATE_SQL = """, k AS (
    UPDATE {table} SET transaction_id = (SELECT id FROM t), lot_id = (SELECT id FROM l)
     WHERE id = %s AND EXISTS (SELECT 1 FROM t)
)"""
_LINK_INSERT_SQL = """, k AS (
    INSERT INTO {table} ({columns}) SELECT {values} FROM jsonb_populate_record(NULL::{table}, %s::jsonb) r, t, l
)"""
_MEMBER_SET_SQL = ", {column} = ({expression}) + %s, {stamp_column} = %s"


def _link_columns(model) -> list[str]:
    return [f.column for f in model._meta.concrete_fields]


@functools.lru_cache(maxsize=64)
def _credit_sql(link_model: Any, link_insert: bool, member_set: tuple[str, str, str] | None) -> str:
    """The credit statement for a link model (inserted or updated) and a member update given as
    (column, expression, stamp_column); cached, as building it cost more than a third of a millisecond."""
    quote = connection.ops.quote_name

    def name(model) -> str:
        return quote(model._meta.db_table)

    member_sql, member_returning = f", {quote('tier_metric_at')} = NULL", "NULL AS value"
    if member_set is not None:
        column, expression, stamp_column = member_set
        member_sql = _MEMBER_SET_SQL.format(column=quote(column), expression=expression,
                                            stamp_column=quote(stamp_column))
        member_returning = f"{quote(column)} AS value"
    link = ""
    if link_model is not None and link_insert:
        columns = _link_columns(link_model)
        values = ["t.id" if c == "transaction_id" else "l.id" if c == "lot_id" else f"r.{quote(c)}" for c in columns]
        link = _LINK_INSERT_SQL.format(
            table=name(link_model), columns=", ".join(quote(c) for c in columns), values=", ".join(values)
        )
    elif link_model is not None:
        link = _LINK_UPDATE_SQL.format(table=name(link_model))
    return _CREDIT_SQL.format(
        txn=name(LedgerTransaction), entry=name(LedgerEntry), lot=name(PointLot), account=name(LedgerAccount),
        member=name(Member), link=link, member_set=member_sql, member_returning=member_returning,
    )


def _member_update_apply(member: Member, update: MemberUpdate):
    """MemberUpdate on its own (the credit's rows already written and visible): returns the value written."""
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(Member._meta.db_table)} SET {quote(update.column)} = ({update.expression}), "  # noqa: S608
        f"{quote(update.stamp_column)} = %s WHERE id = %s RETURNING {quote(update.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*update.params, update.stamp, member.pk])
        return cursor.fetchone()[0]


def _link_params(link: Any) -> list[Any]:
    """The new link row's column values as the ORM would save them (auto_now_add filled in), as one JSON
    object for jsonb_populate_record."""
    if link.pk is None:
        raise ValueError("a new link row needs its primary key before the credit statement")
    row: dict[str, Any] = {}
    for model_field in type(link)._meta.concrete_fields:
        if model_field.column in ("transaction_id", "lot_id"):
            continue
        value = model_field.pre_save(link, add=True)
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, datetime | date):
            value = value.isoformat()  # full precision (DjangoJSONEncoder would cut to milliseconds)
        row[model_field.column] = value
    return [json.dumps(row)]


def _credit_statement(
    locked: _Locked,
    *,
    kind: str,
    audit: Audit,
    legs: list[tuple[LedgerAccount, int]],
    earned_delta: int,
    lot: PointLot,
    now: datetime,
    link: Any,
    member_update: MemberUpdate | None,
) -> LedgerTransaction | None:
    """What _post plus the lot insert write for a credit, in one round trip; None if the key was used."""
    (target, points), (source, minus) = legs
    member = locked.member
    target.balance += points  # as _post does: the row below carries the balances after the posting
    source.balance += minus
    txn = _new_transaction(locked, kind=kind, audit=audit, points=points, now=now)
    txn.created_at = now
    params: list[Any] = [
        target.pk, points, source.pk, minus,
        kind, member.pk, txn.reason, txn.reason_msgid, json.dumps(txn.reason_params), txn.reference, txn.store_id,
        txn.staff_user_id, txn.job, txn.occurred_at, now,
        txn.idempotency_key, points, txn.balance_after, json.dumps(audit.metadata),
        member.pk, lot.points, lot.remaining, lot.earned_at, lot.available_at, lot.released_at, lot.expires_at,
        earned_delta,
    ]
    if member_update is not None:
        params.extend([*member_update.params, member_update.plus, member_update.stamp])
    params.append(member.pk)
    link_insert = link is not None and link._state.adding
    if link_insert:
        params.extend(_link_params(link))
    elif link is not None:
        params.append(link.pk)
    with prepared_cursor() as cursor:
        member_set = None
        if member_update is not None:
            member_set = (member_update.column, member_update.expression, member_update.stamp_column)
        link_model: Any = type(link) if link is not None else None
        cursor.execute(_credit_sql(link_model, link_insert, member_set), params)
        row = cursor.fetchone()
    if row is None:  # nothing written: the balances stay as they were
        target.balance -= points
        source.balance -= minus
        return None
    txn.pk, lot.pk, member_update_value = row
    if member_update is not None:
        txn.member_update_value = member_update_value  # type: ignore[attr-defined]
    lot.transaction = txn
    instances = [txn, lot]
    if link is not None:
        link.transaction, link.lot = txn, lot
        instances.append(link)
    alias = connection.alias
    for instance in instances:
        instance._state.adding, instance._state.db = False, alias
    return _posted(locked, txn)


@_atomic
def points_credit(
    *,
    member: Member,
    points: int,
    audit: Audit,
    kind: str = TransactionKind.EARN,
    source: str = AccountKind.ISSUED,
    available_at: datetime | None = None,
    expires_at: datetime | None = _UNSET,
    now: datetime | None = None,
) -> LedgerTransaction:
    """Credit points into a new lot: pending until `available_at` if that is still ahead, else available."""
    return points_credit_in_transaction(
        member=member,
        points=points,
        audit=audit,
        kind=kind,
        source=source,
        available_at=available_at,
        expires_at=expires_at,
        now=now,
    )


@_atomic
def points_debit(
    *,
    member: Member,
    points: int,
    audit: Audit,
    kind: str = TransactionKind.REDEEM,
    target: str = AccountKind.REDEEMED,
) -> LedgerTransaction:
    """Spend available points FIFO. Never overdraws: raises InsufficientPoints instead."""
    if points <= 0:
        raise LedgerError(_("Points to debit must be positive."))
    locked = _lock(member, [target])
    if (existing := _replay(audit, member=member, kind=kind)) is not None:
        return existing
    if locked.available.balance < points:
        raise InsufficientPoints(
            _("%(needed)s points needed, %(available)s available.")
            % {"needed": points, "available": max(locked.available.balance, 0)}
        )
    txn = _post(locked, kind=kind, audit=audit, legs=[(locked.available, -points), (locked.system(target), points)])
    taken = _consume(_fifo_lots(member), points, txn)
    if taken != points:  # the cached balance and the lots disagree: refuse rather than corrupt
        raise LedgerError(f"ledger drift for member {member.pk}: balance says {points}, lots gave {taken}")
    return txn


@_atomic
def points_reverse(
    *, member: Member, points: int, audit: Audit, lot: PointLot | None = None
) -> LedgerTransaction:
    """Take back earned points (a refund): from `lot` first, then FIFO, then as debt (negative balance)."""
    if points <= 0:
        raise LedgerError(_("Points to reverse must be positive."))
    locked = _lock(member, [AccountKind.ISSUED])
    if (existing := _replay(audit, member=member, kind=TransactionKind.REVERSE)) is not None:
        return existing
    from_pending = 0
    own_lot: list[PointLot] = []
    if lot is not None:
        lot.refresh_from_db()
        if lot.member_id != member.pk:
            raise LedgerError("lot belongs to another member")
        if lot.released_at is None:
            from_pending = min(points, lot.remaining)
        else:
            own_lot = [lot]
    from_available = points - from_pending
    txn = _post(
        locked,
        kind=TransactionKind.REVERSE,
        audit=audit,
        legs=[
            (locked.pending, -from_pending),
            (locked.available, -from_available),
            (locked.system(AccountKind.ISSUED), points),
        ],
        earned_delta=-points,
    )
    if from_pending:
        assert lot is not None
        _consume([lot], from_pending, txn)
    if from_available:
        taken = _consume(own_lot, from_available, txn)
        _consume(_fifo_lots(member), from_available - taken, txn)  # the rest beyond the lots is debt
    return txn


@_atomic
def points_return(
    *, original: LedgerTransaction, audit: Audit, kind: str = TransactionKind.CANCEL_REDEMPTION
) -> LedgerTransaction:
    """Give a debit's points back to exactly the lots it took them from (cancelling a redemption).

    Only a debit (available -> one system account, fully taken from lots) can be given back: returning an
    earning, a release, an expiry or a reversal would break the balance = lots invariant.
    """
    member = original.member
    entries = list(original.entries.select_related("account"))
    mine = [e for e in entries if e.account.member_id is not None]
    counters = [e for e in entries if e.account.member_id is None]
    if (
        member is None
        or original.kind in (TransactionKind.REVERSE, TransactionKind.EXPIRE)
        or len(mine) != 1
        or mine[0].account.kind != AccountKind.AVAILABLE
        or mine[0].points >= 0
        or len(counters) != 1
    ):
        raise LedgerError(_("Only spent points can be given back."))
    counter = counters[0]
    locked = _lock(member, [counter.account.kind])
    audit.idempotency_key = audit.idempotency_key or f"return:{original.pk}"
    if (existing := _replay(audit, member=member, kind=kind)) is not None:
        return existing
    if LedgerTransaction.objects.filter(kind=kind, metadata__returns=original.pk).exists():
        raise AlreadyReturned(_("These points were already given back."))
    allocations = list(
        original.allocations.values("lot").annotate(points=Sum("points")).filter(points__gt=0).order_by("lot")
    )
    points = counter.points
    if sum(allocation["points"] for allocation in allocations) != points:
        raise LedgerError(_("Only spent points can be given back."))
    audit.metadata = {**audit.metadata, "returns": original.pk}
    balance_before = locked.available.balance
    legs = [(locked.available, points), (locked.system(counter.account.kind), -points)]
    txn = _post(locked, kind=kind, audit=audit, legs=legs)
    returned = []
    for allocation in allocations:
        PointLot.objects.filter(pk=allocation["lot"]).update(remaining=F("remaining") + allocation["points"])
        returned.append(LotAllocation(transaction=txn, lot_id=allocation["lot"], points=-allocation["points"]))
    LotAllocation.objects.bulk_create(returned)
    _settle_debt(locked, balance_before, txn)
    return txn


@_atomic
def points_release(*, member: Member, as_of: datetime, job: str = "release_pending_points") -> LedgerTransaction | None:
    """Move the member's pending lots whose `available_at` has passed to available. One transaction."""
    locked = _lock(member, [])
    # Emptied pending lots (fully reversed) are marked released too, so they never come up again.
    PointLot.objects.filter(member=member, released_at__isnull=True, available_at__lte=as_of, remaining=0).update(
        released_at=as_of
    )
    lots = list(
        PointLot.objects.filter(member=member, released_at__isnull=True, available_at__lte=as_of, remaining__gt=0)
        .order_by("available_at", "id")
    )
    if not lots:
        return None
    points = sum(lot.remaining for lot in lots)
    balance_before = locked.available.balance
    txn = _post(
        locked,
        kind=TransactionKind.RELEASE,
        audit=Audit(reason=Reason(gettext_noop("Pending points released")), job=job, occurred_at=as_of,
                    metadata={"lots": [lot.pk for lot in lots]}),
        legs=[(locked.pending, -points), (locked.available, points)],
    )
    PointLot.objects.filter(pk__in=[lot.pk for lot in lots]).update(released_at=as_of)
    Member.objects.filter(pk=member.pk).update(tier_metric_at=None)  # released points count: see MemberUpdate
    _settle_debt(locked, balance_before, txn)
    return txn


@_atomic
def points_expire_member(*, member: Member, as_of: datetime, job: str = "expire_points") -> LedgerTransaction | None:
    """Expire the remaining points of the member's released lots with `expires_at <= as_of`.

    Recorded on the lots (`expired += remaining`, `remaining = 0`), not as LotAllocations; the
    transaction's metadata counts the lots. ledger_bulk.points_expire_batch writes the same rows.
    """
    locked = _lock(member, [AccountKind.EXPIRED])
    due = PointLot.objects.filter(member=member, released_at__isnull=False, expires_at__lte=as_of, remaining__gt=0)
    lots = list(due.values_list("pk", "remaining"))
    if not lots:
        return None
    points = sum(remaining for _pk, remaining in lots)
    txn = _post(
        locked,
        kind=TransactionKind.EXPIRE,
        audit=Audit(reason=EXPIRED_REASON, job=job, occurred_at=as_of, metadata={"expired_lots": len(lots)}),
        legs=[(locked.available, -points), (locked.system(AccountKind.EXPIRED), points)],
    )
    # One UPDATE however many lots expire; both sides of the SET read the row as it was.
    PointLot.objects.filter(pk__in=[pk for pk, _rem in lots]).update(expired=F("expired") + F("remaining"), remaining=0)
    return txn


@_atomic
def points_forfeit(*, member: Member, audit: Audit) -> LedgerTransaction | None:
    """Move every point the member still holds, available and pending, to `expired` (a membership closed).

    Recorded on the lots like an expiry (`expired += remaining`, `remaining = 0`; pending lots are marked
    released, empty). A debt (negative available balance) is left as it is. None when nothing is left.
    """
    locked = _lock(member, [AccountKind.EXPIRED])
    if (existing := _replay(audit, member=member, kind=TransactionKind.EXPIRE)) is not None:
        return existing
    lots = list(PointLot.objects.filter(member=member, remaining__gt=0).values_list("pk", "remaining", "released_at"))
    if not lots:
        return None
    pending = sum(remaining for _pk, remaining, released_at in lots if released_at is None)
    available = sum(remaining for _pk, remaining, released_at in lots if released_at is not None)
    txn = _post(
        locked,
        kind=TransactionKind.EXPIRE,
        audit=audit,
        legs=[(locked.available, -available), (locked.pending, -pending),
              (locked.system(AccountKind.EXPIRED), available + pending)],
    )
    PointLot.objects.filter(pk__in=[pk for pk, _remaining, _released in lots]).update(
        expired=F("expired") + F("remaining"), remaining=0
    )
    # A pending lot's points left through `expired` rather than a release: it is done with, released empty.
    PointLot.objects.filter(
        pk__in=[pk for pk, _remaining, released_at in lots if released_at is None]
    ).update(released_at=txn.occurred_at)
    return txn


def points_adjust(*, member: Member, points: int, reason: str, staff_user=None, store=None,
                  idempotency_key: str = "", reference: str = "", job: str = "",
                  expires_at: datetime | None = _UNSET) -> LedgerTransaction:
    """A manual correction by staff, an admin-scope key or an import: a credit into a new lot or a FIFO debit.

    `reason` is typed by a person and shown as typed. `expires_at` (credits only; default: the programme's
    validity from now, None: never) must lie ahead. `job` names the command that posted it (imports)."""
    if not reason.strip():
        raise LedgerError(_("A reason is required."), {"reason": [_("A reason is required.")]})
    if member.status == MemberStatus.CLOSED:
        raise MemberInactive(_("This membership is closed: its points cannot be changed."))
    audit = Audit(reason=reason.strip(), staff_user=staff_user, store=store, idempotency_key=idempotency_key,
                  reference=reference, job=job)
    if points > 0:
        if expires_at is not _UNSET and expires_at is not None and expires_at <= timezone.now():
            raise LedgerError(_("The expiry date must lie in the future."))
        return points_credit(
            member=member, points=points, audit=audit, kind=TransactionKind.ADJUST,
            source=AccountKind.ADJUSTMENTS, expires_at=expires_at,
        )
    if points < 0:
        if expires_at is not _UNSET:
            raise LedgerError(_("An expiry date only applies to points added."))
        return points_debit(
            member=member, points=-points, audit=audit, kind=TransactionKind.ADJUST, target=AccountKind.ADJUSTMENTS
        )
    raise LedgerError(_("Points must not be zero."), {"points": [_("Points must not be zero.")]})
