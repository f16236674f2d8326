"""Campaign models, one module per domain; each is imported here so Django finds it."""

from campaigns.models.actions import ActionEvent, ActionRule, BuiltInAction, CapPeriod
from campaigns.models.promotions import Promotion, PromotionKind
from campaigns.models.referrals import BlockReason, Referral, ReferralChannel, ReferralStatus

__all__ = [
    "ActionEvent",
    "ActionRule",
    "BlockReason",
    "BuiltInAction",
    "CapPeriod",
    "Promotion",
    "PromotionKind",
    "Referral",
    "ReferralChannel",
    "ReferralStatus",
]
