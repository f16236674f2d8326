"""Campaign models, one module per domain; each is imported here so Django finds it."""

from campaigns.models.promotions import Promotion, PromotionKind

__all__ = ["Promotion", "PromotionKind"]
