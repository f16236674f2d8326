from .audit import StaffAction, StaffActionKind, StaffActionSource
from .config import ConfigVersion
from .kpi import KpiDay, KpiJoined, KpiRollup
from .ledger import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    LotAllocation,
    PointLot,
    TransactionKind,
)
from .program import ExpiryExtension, Program, Rounding, TierMetric, TierWindow
from .purchases import EarningRule, ExpiryReminder, Purchase, Refund
from .stores import ApiKey, ApiKeyScope, IdempotencyRecord, Store
from .tiers import Tier, TierChangeKind, TierHistory, TierMembership, TierRecalculation, TierReview

__all__ = [
    "AccountKind", "ApiKey", "ApiKeyScope", "ConfigVersion", "EarningRule", "ExpiryExtension", "ExpiryReminder",
    "IdempotencyRecord", "KpiDay", "KpiJoined", "KpiRollup", "LedgerAccount", "LedgerEntry", "LedgerTransaction",
    "LotAllocation", "PointLot",
    "Program", "Purchase", "Refund", "Rounding", "StaffAction", "StaffActionKind", "StaffActionSource", "Store",
    "Tier", "TierChangeKind", "TierHistory", "TierMembership", "TierMetric", "TierRecalculation", "TierReview",
    "TierWindow", "TransactionKind",
]
