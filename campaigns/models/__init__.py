"""Campaign models, one module per domain; each is imported here so Django finds it."""

from campaigns.models.badges import Badge, BadgeAward, BadgeSource
from campaigns.models.challenges import Challenge, ChallengeGoal, ChallengeProgress, ProgressStatus
from campaigns.models.leaderboards import (
    TALLY_BAND,
    LeaderboardAward,
    LeaderboardPeriod,
    LeaderboardPrize,
    LeaderboardScore,
    LeaderboardTally,
)
from campaigns.models.promotions import Promotion, PromotionKind

__all__ = [
    "Badge", "BadgeAward", "BadgeSource", "Challenge", "ChallengeGoal", "ChallengeProgress", "LeaderboardAward",
    "LeaderboardPeriod", "LeaderboardPrize", "LeaderboardScore", "LeaderboardTally", "ProgressStatus", "Promotion",
    "PromotionKind", "TALLY_BAND",
]
