"""Campaign models, one module per domain; each is imported here so Django finds it."""

from campaigns.models.actions import ActionEvent, ActionRule, BuiltInAction, CapPeriod
from campaigns.models.badges import Badge, BadgeAward, BadgeSource
from campaigns.models.challenges import Challenge, ChallengeGoal, ChallengeProgress, ProgressStatus
from campaigns.models.leaderboards import (
    TALLY_BAND,
    TIE_BAND_SECONDS,
    LeaderboardAward,
    LeaderboardPeriod,
    LeaderboardPrize,
    LeaderboardScore,
    LeaderboardTally,
)
from campaigns.models.promotions import Promotion, PromotionKind
from campaigns.models.referrals import BlockReason, Referral, ReferralChannel, ReferralStatus

__all__ = [
    "TALLY_BAND",
    "TIE_BAND_SECONDS",
    "ActionEvent",
    "ActionRule",
    "Badge",
    "BadgeAward",
    "BadgeSource",
    "BlockReason",
    "BuiltInAction",
    "CapPeriod",
    "Challenge",
    "ChallengeGoal",
    "ChallengeProgress",
    "LeaderboardAward",
    "LeaderboardPeriod",
    "LeaderboardPrize",
    "LeaderboardScore",
    "LeaderboardTally",
    "ProgressStatus",
    "Promotion",
    "PromotionKind",
    "Referral",
    "ReferralChannel",
    "ReferralStatus",
]
