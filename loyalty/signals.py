"""Hooks other apps subscribe to; loyalty never imports campaigns or rewards."""

from django.dispatch import Signal

# Sent after the commit of every ledger transaction, with `transaction`.
points_posted = Signal()

# Sent inside the refund's database transaction, with `purchase`, `refund` and `full` (bool: the whole
# purchase is now refunded). rewards listens to cancel pay-with-points redemptions of that order.
purchase_refunded = Signal()

# Sent after the commit of a newly recorded purchase, with `purchase` and `earning` (the
# loyalty.services.earning.Earning it was awarded). campaigns listens for challenge progress.
purchase_recorded = Signal()

# Sent after the commit of tier changes, with `changes`: a list of TierChange (member_id, from_tier_id,
# to_tier_id, kind), one per member moved: by an upgrade, a floor, a paid membership or the recalculation
# (one send per batch). campaigns listens to give the badges of the tiers reached.
tier_changed = Signal()
