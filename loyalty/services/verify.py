"""Every ledger invariant, checked with set-based queries. An empty list means the ledger is sound."""

from django.db import connection
from django.db.models import Count, F, IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from loyalty.models import AccountKind, LedgerAccount, LedgerEntry, LedgerTransaction, LotAllocation, TransactionKind
from members.models import Member

EARNING_KINDS = ("earn", "bonus", "reverse")

# Lots against their own history: remaining = points - allocated - expired, every part in range, and only
# released lots expire. (Grouped joins rather than a subquery per lot: a ledger has millions of lots.)
_LOT_DRIFT = """
    SELECT l.id, l.points, l.remaining, l.expired, COALESCE(a.allocated, 0), l.released_at IS NULL
      FROM loyalty_pointlot l
      LEFT JOIN (SELECT lot_id, SUM(points) AS allocated FROM loyalty_lotallocation GROUP BY lot_id) a
        ON a.lot_id = l.id
     WHERE l.remaining <> l.points - COALESCE(a.allocated, 0) - l.expired
        OR l.remaining < 0 OR l.expired < 0 OR l.remaining + l.expired > l.points
        OR (l.expired <> 0 AND l.released_at IS NULL)
     ORDER BY l.id
     LIMIT %s
"""
# Each member's accounts against the remaining points of their lots (released: available; not: pending).
_MEMBER_LOTS = """
    SELECT acc.member_id, acc.kind, acc.balance, COALESCE(s.released, 0), COALESCE(s.pending, 0)
      FROM loyalty_ledgeraccount acc
      LEFT JOIN (SELECT member_id,
                        SUM(CASE WHEN released_at IS NOT NULL THEN remaining ELSE 0 END) AS released,
                        SUM(CASE WHEN released_at IS NULL THEN remaining ELSE 0 END) AS pending
                   FROM loyalty_pointlot GROUP BY member_id) s
        ON s.member_id = acc.member_id
     WHERE acc.member_id IS NOT NULL AND (
           (acc.kind = %s AND acc.balance >= 0 AND acc.balance <> COALESCE(s.released, 0))
        OR (acc.kind = %s AND acc.balance < 0 AND COALESCE(s.released, 0) > 0)
        OR (acc.kind = %s AND acc.balance <> COALESCE(s.pending, 0)))
     ORDER BY acc.member_id, acc.kind
     LIMIT %s
"""
# Per member: the points their `expire` transactions took equal what the lots say expired (the `expired`
# column; expiries recorded before migration 0008 are LotAllocations of the expire transactions).
_EXPIRED = """
    SELECT member_id, SUM(on_lots), SUM(in_transactions) FROM (
        SELECT member_id, expired AS on_lots, 0 AS in_transactions FROM loyalty_pointlot WHERE expired <> 0
        UNION ALL
        SELECT t.member_id, a.points, 0 FROM loyalty_lotallocation a
          JOIN loyalty_ledgertransaction t ON t.id = a.transaction_id WHERE t.kind = %s
        UNION ALL
        SELECT member_id, 0, -points FROM loyalty_ledgertransaction WHERE kind = %s
    ) recorded
    GROUP BY member_id
    HAVING SUM(on_lots) <> SUM(in_transactions)
    ORDER BY member_id
    LIMIT %s
"""


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _subquery_sum(model, field: str, group_by: str, **filters):
    """SUM(field) of `model` rows matching `filters` (one of them an OuterRef on `group_by`), 0 if none."""
    rows = model.objects.filter(**filters).order_by().values(group_by).annotate(total=Sum(field)).values("total")
    return Coalesce(Subquery(rows[:1]), Value(0), output_field=IntegerField())


def ledger_verify(limit: int = 50) -> list[str]:
    problems: list[str] = []

    unbalanced = (
        LedgerEntry.objects.values("transaction").annotate(total=Sum("points")).exclude(total=0).order_by("transaction")
    )
    problems += [f"transaction {row['transaction']} sums to {row['total']}, not 0" for row in unbalanced[:limit]]

    thin = LedgerTransaction.objects.annotate(n=Count("entries")).filter(n__lt=2)
    problems += [f"transaction {txn.pk} has {txn.n} entries" for txn in thin[:limit]]

    member_sum = _subquery_sum(
        LedgerEntry, "points", "transaction", transaction=OuterRef("pk"), account__member__isnull=False
    )
    wrong_points = LedgerTransaction.objects.annotate(member_sum=member_sum).exclude(points=F("member_sum"))
    problems += [
        f"transaction {txn.pk} says the member's points changed by {txn.points}, entries say {txn.member_sum}"
        for txn in wrong_points[:limit]
    ]

    entry_sum = _subquery_sum(LedgerEntry, "points", "account", account=OuterRef("pk"))
    drift = LedgerAccount.objects.annotate(entry_total=entry_sum).exclude(balance=F("entry_total"))
    problems += [
        f"account {a.pk} ({a.member_id or 'system'}:{a.kind}) balance {a.balance} != entries {a.entry_total}"
        for a in drift[:limit]
    ]

    for lot_id, points, remaining, expired, allocated, pending in _fetch(_LOT_DRIFT, [limit]):
        if remaining < 0 or expired < 0 or remaining + expired > points:
            problems.append(f"lot {lot_id} remaining {remaining} and expired {expired} outside 0..{points}")
        if expired and pending:
            problems.append(f"lot {lot_id} is still pending yet {expired} of its points expired")
        if remaining != points - allocated - expired:
            problems.append(
                f"lot {lot_id} remaining {remaining} != points {points} - allocated {allocated} - expired {expired}"
            )

    kinds = [AccountKind.AVAILABLE, AccountKind.AVAILABLE, AccountKind.PENDING, limit]
    for member_id, kind, balance, released, pending in _fetch(_MEMBER_LOTS, kinds):
        if kind == AccountKind.PENDING:
            problems.append(f"member {member_id} pending {balance} != remaining of pending lots {pending}")
        elif balance >= 0:
            problems.append(f"member {member_id} available {balance} != remaining of released lots {released}")
        else:
            problems.append(f"member {member_id} owes {-balance} points yet released lots hold {released}")

    expire = [TransactionKind.EXPIRE, TransactionKind.EXPIRE, limit]
    for member_id, on_lots, in_transactions in _fetch(_EXPIRED, expire):
        problems.append(
            f"member {member_id}: expire transactions took {in_transactions} points, the lots record {on_lots} expired"
        )

    earned = _subquery_sum(LedgerTransaction, "points", "member", member=OuterRef("pk"), kind__in=EARNING_KINDS)
    earned_drift = Member.objects.annotate(earned=earned).exclude(lifetime_earned=F("earned"))
    problems += [
        f"member {m.pk} lifetime_earned {m.lifetime_earned} != earned minus reversed {m.earned}"
        for m in earned_drift[:limit]
    ]
    foreign = LotAllocation.objects.exclude(lot__member=F("transaction__member")).values_list(
        "pk", "transaction_id", "lot_id"
    )
    problems += [
        f"allocation {pk}: transaction {txn_id} took points from lot {lot_id} of another member"
        for pk, txn_id, lot_id in foreign[:limit]
    ]
    return problems
