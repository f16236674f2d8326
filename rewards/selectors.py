"""Reads for the catalogue, the member's coupons and the merchant's charity totals."""

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from members.models import Member
from rewards.models import Redemption, RedemptionStatus, Reward, RewardKind

CENT = Decimal("0.01")


def reward_list(*, active_only: bool = True, now: datetime | None = None) -> QuerySet[Reward]:
    """Rewards with `free_vouchers` (unassigned pool codes) annotated. Active ones: active and not past
    their window (rewards that open later are listed, with their available_from)."""
    rewards = Reward.objects.select_related("min_tier", "required_badge").prefetch_related(
        "unlocking_challenges"
    ).annotate(
        free_vouchers=Count("voucher_codes", filter=Q(voucher_codes__redemption__isnull=True))
    )
    if active_only:
        now = now or timezone.now()
        rewards = rewards.filter(active=True).filter(Q(available_until__isnull=True) | Q(available_until__gt=now))
    return rewards.order_by("cost_points", "name", "id")


def reward_stock_left(reward: Reward) -> int | None:
    """Redemptions still possible: the stock, and for a partner voucher also the codes left in the pool.
    None means unlimited."""
    stock = reward.stock
    if reward.kind == RewardKind.PARTNER_VOUCHER:
        free = getattr(reward, "free_vouchers", None)
        if free is None:
            free = reward.voucher_codes.filter(redemption__isnull=True).count()
        stock = free if stock is None else min(stock, free)
    return stock


def reward_catalogue_for_member(*, member: Member, available_points: int, now: datetime | None = None) -> list[dict]:
    """The rewards a member can see now, each with whether they can redeem it and, if not, why."""
    now = now or timezone.now()
    rewards = list(reward_list(active_only=True, now=now))
    limited = [r.pk for r in rewards if r.per_member_limit is not None]
    taken = dict(
        Redemption.objects.filter(member=member, reward_id__in=limited)
        .exclude(status=RedemptionStatus.CANCELLED)
        .values("reward_id")
        .annotate(n=Count("id"))
        .values_list("reward_id", "n")
    )
    member_rank = member.tier.rank if member.tier_id else None  # type: ignore[union-attr]  # tier_id is set
    # What campaigns unlocks: badges held, and rewards unlocked by completed challenges.
    badges = set(member.badge_awards.values_list("badge_id", flat=True))  # type: ignore[attr-defined]
    unlocked = set(
        member.challenge_progress.filter(  # type: ignore[attr-defined]
            completed_at__isnull=False, challenge__prize_reward__isnull=False
        ).values_list("challenge__prize_reward_id", flat=True)
    )
    items = []
    for reward in rewards:
        stock = reward_stock_left(reward)
        unlocking = list(reward.unlocking_challenges.all())  # type: ignore[attr-defined]
        if not reward.is_available(now):
            blocker = "reward_unavailable"
        elif reward.min_tier_id and (member_rank is None or member_rank < reward.min_tier.rank):  # type: ignore[union-attr]
            blocker = "tier_required"
        elif reward.required_badge_id and reward.required_badge_id not in badges:
            blocker = "badge_required"
        elif unlocking and reward.pk not in unlocked:
            blocker = "challenge_required"
        elif reward.per_member_limit is not None and taken.get(reward.pk, 0) >= reward.per_member_limit:
            blocker = "limit_reached"
        elif stock is not None and stock < 1:
            blocker = "out_of_stock"
        elif available_points < reward.cost_points:
            blocker = "insufficient_points"
        else:
            blocker = ""
        to_go = max(reward.cost_points - available_points, 0)
        items.append({
            "reward": reward, "stock": stock, "blocker": blocker, "to_go": to_go, "unlocking": unlocking,
            "progress": min(max(available_points, 0), reward.cost_points),
        })
    return items


def redemption_list_for_member(*, member: Member) -> QuerySet[Redemption]:
    return (
        Redemption.objects.filter(member=member)
        .select_related("member", "reward", "voucher")
        .order_by("-issued_at", "-id")
    )


def coupons_for_member(
    *, member: Member, now: datetime | None = None
) -> tuple[QuerySet[Redemption], QuerySet[Redemption]]:
    """The member's coupons that can be used now (soonest expiry first) and the rest (newest first)."""
    now = now or timezone.now()
    coupons = Redemption.objects.filter(member=member).select_related("reward", "voucher")
    usable = Q(status=RedemptionStatus.ISSUED, expires_at__gt=now)
    return coupons.filter(usable).order_by("expires_at", "id"), coupons.exclude(usable).order_by("-issued_at", "-id")


def redemption_for_member(*, member: Member, pk: int) -> Redemption | None:
    """One of the member's own redemptions (None for anyone else's: they cannot tell it exists)."""
    return Redemption.objects.filter(member=member, pk=pk).select_related("reward", "voucher").first()


def redemptions_export(member: Member) -> list[dict[str, Any]]:
    """The member's redemptions for their data download."""
    return [
        {
            "code": redemption.code,
            "reward": redemption.reward.name if redemption.reward else None,
            "kind": redemption.kind,
            "points": redemption.points,
            "value": str(redemption.value),
            "currency": redemption.currency,
            "status": redemption.status_at(),
            "partner_code": getattr(getattr(redemption, "voucher", None), "code", None),
            "issued_at": redemption.issued_at.isoformat(),
            "expires_at": redemption.expires_at.isoformat(),
            "used_at": redemption.used_at.isoformat() if redemption.used_at else None,
            "cancelled_at": redemption.cancelled_at.isoformat() if redemption.cancelled_at else None,
        }
        for redemption in redemption_list_for_member(member=member).order_by("issued_at", "id")
    ]


def charity_donation_totals(*, since: datetime | None = None, until: datetime | None = None) -> list[dict]:
    """Per charity: donations, points and value of charity-donation redemptions not cancelled."""
    donations = Redemption.objects.filter(kind=RewardKind.CHARITY_DONATION).exclude(status=RedemptionStatus.CANCELLED)
    if since is not None:
        donations = donations.filter(issued_at__gte=since)
    if until is not None:
        donations = donations.filter(issued_at__lt=until)
    rows = cast("list[dict[str, Any]]", list(
        donations.values("charity_name", "currency")
        .annotate(donations=Count("id"), points=Sum("points"), value=Sum("value"))
        .order_by("charity_name", "currency")
    ))
    for row in rows:  # SQLite sums decimals as floats: back to cents
        row["value"] = Decimal(str(row["value"])).quantize(CENT, rounding=ROUND_HALF_UP)
    return rows


TOP_REWARDS = 10


def rewards_top_get(*, since: datetime, until: datetime, limit: int = TOP_REWARDS) -> list[tuple[Any, ...]]:
    """The KPI dashboard's top rewards: (name, redemptions, points) issued in [since, until), cancelled ones
    left out, most redeemed first; pay-with-points discounts as one line of their own."""
    from django.utils.translation import gettext_lazy

    from rewards.models import PAY_WITH_POINTS

    rows = (
        Redemption.objects.filter(issued_at__gte=since, issued_at__lt=until)
        .exclude(status=RedemptionStatus.CANCELLED)
        .values("reward_id", "reward__name", "kind")
        .annotate(count=Count("id"), points=Sum("points"))
        .order_by("-count", "-points", "reward__name")[:limit]
    )
    return [
        (row["reward__name"] or (gettext_lazy("Pay with points") if row["kind"] == PAY_WITH_POINTS else row["kind"]),
         row["count"], row["points"])
        for row in rows
    ]
