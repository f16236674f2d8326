"""What campaigns keeps about one member, in the two places a member's privacy reaches it:

- **Download my data** (members.selectors.member_export_register, registered in CampaignsConfig.ready): the
  member's referrals (both ways), badges, challenge progress, leaderboard entries and prizes, and recorded
  actions. Other members appear only as "Anna B.", never by email.
- **Closing a membership** (members.signals.member_closed, sent after the commit that anonymised the member):
  the member leaves every leaderboard (all periods kept, not only the current ones, with the tallies that rank
  the others), the address their sign-up came from is erased from their referral, reasons staff typed for
  their badges are replaced by a neutral one, as members.services.member_close does for ledger reasons, and
  their unfinished challenge progress is cancelled (it could never complete). What stays names no one:
  referrals show a closed member as "A friend" (their names are erased), prizes and progress are numbers tied
  to the ledger, which is kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction

from campaigns.models import (
    ActionEvent,
    BadgeAward,
    BadgeSource,
    ChallengeProgress,
    LeaderboardAward,
    LeaderboardScore,
    Referral,
)
from campaigns.services.challenges import member_challenges_cancel
from campaigns.services.leaderboards import leaderboard_member_refresh
from campaigns.services.referrals import member_display_name
from members.models import Member

# A closed member's badge granted by staff keeps a reason (a database constraint), but not one that may name
# them. Stored as typed text, like every badge reason; English, as the ledger's stored fallbacks are.
CLOSED_BADGE_REASON = "Granted by customer service"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# -- the data download ---------------------------------------------------------------------------------------


def referrals_export(member: Member) -> dict[str, Any]:
    """Who referred the member (their code) and how that referral went, and every friend the member referred,
    each with its status and the points it earned the member."""
    own = Referral.objects.filter(referee=member).select_related("referrer").first()
    referred = Referral.objects.filter(referrer=member).select_related("referee").order_by("created_at", "id")
    return {
        "referral_code": member.referral_code,
        "referred_by": own.referrer.referral_code if own is not None else None,
        "my_referral": None if own is None else {
            "status": own.status,
            "blocked_because": own.block_reason or None,
            "points": own.referee_points,
            "joined_at": _iso(own.created_at),
            "ip_address": own.ip_address,
        },
        "referred": [
            {
                "referee": member_display_name(referral.referee),
                "joined_at": _iso(referral.created_at),
                "status": referral.status,
                "points": referral.referrer_points,
                "rewarded_at": _iso(referral.rewarded_at),
            }
            for referral in referred.iterator(chunk_size=500)
        ],
    }


def badges_export(member: Member) -> list[dict[str, Any]]:
    """The member's badges, oldest first, with why each was given."""
    awards = BadgeAward.objects.filter(member=member).select_related("badge", "challenge", "tier")
    return [
        {
            "badge": award.badge.name,
            "code": award.badge.code,
            "awarded_at": _iso(award.awarded_at),
            "source": award.source,
            "challenge": award.challenge.name if award.challenge else None,
            "tier": award.tier.name if award.tier else None,
            "reason": award.reason or None,
        }
        for award in awards.order_by("awarded_at", "id")
    ]


def challenges_export(member: Member) -> list[dict[str, Any]]:
    """The member's progress in every challenge they took part in."""
    rows = ChallengeProgress.objects.filter(member=member).select_related("challenge").order_by("challenge_id")
    return [
        {
            "challenge": row.challenge.name,
            "code": row.challenge.code,
            "goal": row.challenge.goal,
            "target": row.challenge.target,
            "progress": str(row.value),
            "status": row.status,
            "completed_at": _iso(row.completed_at),
            "prize_points": row.challenge.prize_points if row.prize_transaction_id else 0,
        }
        for row in rows
    ]


def leaderboard_export(member: Member) -> dict[str, Any]:
    """The member's entries on the leaderboards (per week, month and all time, as kept) and prizes won."""
    return {
        "entries": [
            {"period": row["period_key"], "points": row["points"], "reached_at": _iso(row["reached_at"])}
            for row in LeaderboardScore.objects.filter(member=member).order_by("period_key")
            .values("period_key", "points", "reached_at")
        ],
        "prizes": [
            {"month": row["period_key"], "place": row["rank"], "points": row["prize_points"],
             "paid": row["transaction_id"] is not None}
            for row in LeaderboardAward.objects.filter(member=member).order_by("period_key")
            .values("period_key", "rank", "prize_points", "transaction_id")
        ],
    }


def actions_export(member: Member) -> list[dict[str, Any]]:
    """The actions recorded for the member (reviews, shares, surveys...), oldest first."""
    return [
        {"type": row["type"], "reference": row["reference"], "occurred_at": _iso(row["occurred_at"]),
         "points": row["points"], "capped": row["capped"]}
        for row in ActionEvent.objects.filter(member=member).order_by("occurred_at", "id")
        .values("type", "reference", "occurred_at", "points", "capped").iterator(chunk_size=2000)
    ]


MEMBER_EXPORT_SECTIONS = {
    "referrals": referrals_export,
    "badges": badges_export,
    "challenges": challenges_export,
    "leaderboard": leaderboard_export,
    "actions": actions_export,
}


# -- closing a membership -------------------------------------------------------------------------------------


@transaction.atomic
def member_campaign_data_forget(*, member_id: int) -> dict[str, int]:
    """Drop what campaigns keeps that could name a closed member, and cancel their unfinished challenge
    progress; idempotent. Returns what it changed."""
    had_entries = LeaderboardScore.objects.filter(member_id=member_id).exists()
    leaderboard_member_refresh(member_id=member_id)  # not on the board: every row goes, the tallies follow
    addresses = Referral.objects.filter(referee_id=member_id, ip_address__isnull=False).update(ip_address=None)
    reasons = (
        BadgeAward.objects.filter(member_id=member_id, source=BadgeSource.STAFF)
        .exclude(reason=CLOSED_BADGE_REASON).update(reason=CLOSED_BADGE_REASON)
    )
    challenges = member_challenges_cancel(member_id=member_id)
    return {"leaderboard": int(had_entries), "ip_addresses": addresses, "badge_reasons": reasons,
            "challenges_cancelled": challenges}


def on_member_closed(sender, *, member: Member, **kwargs) -> None:
    member_campaign_data_forget(member_id=member.pk)
