"""The KPI dashboard's campaign tables (/admin/kpi/), registered with loyalty.kpi.kpi_table_register from
CampaignsConfig.ready (loyalty never imports campaigns). Each is one aggregate query over an indexed range,
for a range of whole days [since, until) in the site's time zone, read as cohorts like the activation rate:

- **Challenge completion**, per challenge: the members whose first progress was counted in the range
  (`started_at`, only those with progress now or a completion: the admin's "started"), of those the ones who
  completed it by the end of the range, and that share. Challenges nobody started in the range are left out.
- **Referral conversion**, per channel (portal sign-up, API or till) and in all: referrals made in the range;
  rewarded (the referrer paid) by the end of the range; over the referrer's cap (the friend's qualifying
  purchase came, no bonus was due) by the end of the range; blocked (now: a referral is blocked at sign-up,
  staff may unblock it later); the conversion rate, rewarded plus over the cap per referral.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q
from django.utils.translation import gettext_lazy

from campaigns.models import ChallengeProgress, ProgressStatus, Referral, ReferralChannel, ReferralStatus

if TYPE_CHECKING:
    from loyalty.kpi import KpiRange


def _share(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def challenge_completion_rows(period: KpiRange, figures: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """(challenge, started, completed, completion rate %) per challenge started in the range, most started
    first."""
    rows = (
        ChallengeProgress.objects.filter(started_at__gte=period.since, started_at__lt=period.until)
        .filter(Q(value__gt=0) | Q(status=ProgressStatus.COMPLETED))
        .values("challenge_id", "challenge__name")
        .annotate(
            started=Count("id"),
            completed=Count("id", filter=Q(status=ProgressStatus.COMPLETED, completed_at__lt=period.until)),
        )
        .order_by("-started", "challenge__name", "challenge_id")
    )
    return [(row["challenge__name"], row["started"], row["completed"], _share(row["completed"], row["started"]))
            for row in rows]


def referral_conversion_rows(period: KpiRange, figures: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """(channel, referrals, rewarded, over the cap, blocked, conversion rate %) per channel, then in all."""
    counted = (
        Referral.objects.filter(created_at__gte=period.since, created_at__lt=period.until)
        .values("channel")
        .annotate(
            referrals=Count("id"),
            rewarded=Count("id", filter=Q(status=ReferralStatus.REWARDED, rewarded_at__lt=period.until)),
            capped=Count("id", filter=Q(status=ReferralStatus.CAPPED, purchase__available_at__lt=period.until)),
            blocked=Count("id", filter=Q(status=ReferralStatus.BLOCKED)),
        )
        .order_by()
    )
    by_channel: dict[str, dict[str, Any]] = {row["channel"]: dict(row) for row in counted}
    if not by_channel:
        return []
    rows = []
    totals = dict.fromkeys(("referrals", "rewarded", "capped", "blocked"), 0)
    for channel, label in ReferralChannel.choices:
        row = by_channel.get(channel)
        if row is None:
            continue
        for key in totals:
            totals[key] += row[key]
        rows.append((label, row["referrals"], row["rewarded"], row["capped"], row["blocked"],
                     _share(row["rewarded"] + row["capped"], row["referrals"])))
    rows.append((gettext_lazy("All referrals"), totals["referrals"], totals["rewarded"], totals["capped"],
                 totals["blocked"], _share(totals["rewarded"] + totals["capped"], totals["referrals"])))
    return rows
