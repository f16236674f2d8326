"""Reads. Balances are one indexed row each, whatever the history length."""

from django.db.models import OuterRef, QuerySet, Subquery, Sum

from loyalty.db import prepared_cursor
from loyalty.models import AccountKind, LedgerAccount, PointLot
from members.models import Member


def members_with_balances(queryset: QuerySet[Member] | None = None) -> QuerySet[Member]:
    """Members with their tier and both account balances in the same query (two indexed subqueries):
    `member_points_get` then needs no query of its own."""
    queryset = Member.objects.all() if queryset is None else queryset
    accounts = LedgerAccount.objects.filter(member=OuterRef("pk"))
    return queryset.select_related("tier").annotate(
        balance_available=Subquery(accounts.filter(kind=AccountKind.AVAILABLE).values("balance")[:1]),
        balance_pending=Subquery(accounts.filter(kind=AccountKind.PENDING).values("balance")[:1]),
    )


def member_points_get(*, member: Member) -> dict:
    if hasattr(member, "balance_available"):  # fetched by members_with_balances()
        available, pending = member.balance_available, member.balance_pending  # type: ignore[attr-defined]
    else:
        balances = dict(LedgerAccount.objects.filter(member=member).values_list("kind", "balance"))
        available, pending = balances.get(AccountKind.AVAILABLE), balances.get(AccountKind.PENDING)
    return {
        "available": available or 0,
        "pending": pending or 0,
        "lifetime_earned": member.lifetime_earned,
    }


_BALANCE_SQL = """
SELECT m.loyalty_id, m.status, a.balance, p.balance
FROM members_member m
JOIN loyalty_ledgeraccount a ON a.member_id = m.id AND a.kind = 'available'
JOIN loyalty_ledgeraccount p ON p.member_id = m.id AND p.kind = 'pending'
WHERE m.loyalty_id = %s
"""


def member_balance_get(*, loyalty_id: str) -> dict | None:
    """A till's balance check: one query over the unique loyalty ID and the two account rows."""
    with prepared_cursor() as cursor:
        cursor.execute(_BALANCE_SQL, [loyalty_id])
        row = cursor.fetchone()
    if row is None:
        return None
    return {"loyalty_id": row[0], "status": row[1], "available": row[2], "pending": row[3]}


def member_expiring_get(*, member: Member, limit: int = 3) -> list[dict]:
    """Remaining points grouped by expiry date, soonest first."""
    rows = (
        PointLot.objects.filter(member=member, remaining__gt=0, expires_at__isnull=False)
        .values("expires_at")
        .annotate(points=Sum("remaining"))
        .order_by("expires_at")[:limit]
    )
    return [{"points": row["points"], "expires_at": row["expires_at"]} for row in rows]
