"""Reads. Balances are one indexed row each, whatever the history length."""

from django.db.models import Sum

from loyalty.models import AccountKind, LedgerAccount, PointLot
from members.models import Member


def member_points_get(*, member: Member) -> dict:
    balances = dict(
        LedgerAccount.objects.filter(member=member).values_list("kind", "balance")
    )
    return {
        "available": balances.get(AccountKind.AVAILABLE, 0),
        "pending": balances.get(AccountKind.PENDING, 0),
        "lifetime_earned": member.lifetime_earned,
    }


def member_expiring_get(*, member: Member, limit: int = 3) -> list[dict]:
    """Remaining points grouped by expiry date, soonest first."""
    rows = (
        PointLot.objects.filter(member=member, remaining__gt=0, expires_at__isnull=False)
        .values("expires_at")
        .annotate(points=Sum("remaining"))
        .order_by("expires_at")[:limit]
    )
    return [{"points": row["points"], "expires_at": row["expires_at"]} for row in rows]
