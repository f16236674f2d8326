"""Every ledger invariant, checked with set-based queries. An empty list means the ledger is sound."""

from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from loyalty.models import AccountKind, LedgerAccount, LedgerEntry, LedgerTransaction, LotAllocation, PointLot
from members.models import Member

EARNING_KINDS = ("earn", "bonus", "reverse")


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

    bad_range = PointLot.objects.filter(Q(remaining__lt=0) | Q(remaining__gt=F("points")))
    problems += [f"lot {lot.pk} remaining {lot.remaining} outside 0..{lot.points}" for lot in bad_range[:limit]]

    allocated = _subquery_sum(LotAllocation, "points", "lot", lot=OuterRef("pk"))
    lot_drift = PointLot.objects.annotate(allocated=allocated).exclude(remaining=F("points") - F("allocated"))
    problems += [
        f"lot {lot.pk} remaining {lot.remaining} != points {lot.points} - allocated {lot.allocated}"
        for lot in lot_drift[:limit]
    ]

    released = _subquery_sum(PointLot, "remaining", "member", member=OuterRef("member"), released_at__isnull=False)
    unreleased = _subquery_sum(PointLot, "remaining", "member", member=OuterRef("member"), released_at__isnull=True)
    accounts = LedgerAccount.objects.filter(member__isnull=False)
    available_drift = accounts.filter(kind=AccountKind.AVAILABLE, balance__gte=0).annotate(lots=released).exclude(
        balance=F("lots")
    )
    problems += [
        f"member {a.member_id} available {a.balance} != remaining of released lots {a.lots}"
        for a in available_drift[:limit]
    ]
    debt_with_lots = accounts.filter(kind=AccountKind.AVAILABLE, balance__lt=0).annotate(lots=released).filter(
        lots__gt=0
    )
    problems += [
        f"member {a.member_id} owes {-a.balance} points yet released lots hold {a.lots}" for a in debt_with_lots[:limit]
    ]
    pending_drift = accounts.filter(kind=AccountKind.PENDING).annotate(lots=unreleased).exclude(balance=F("lots"))
    problems += [
        f"member {a.member_id} pending {a.balance} != remaining of pending lots {a.lots}" for a in pending_drift[:limit]
    ]

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
