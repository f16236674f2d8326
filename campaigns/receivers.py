"""What campaigns does when something happens elsewhere: always after the commit, never inside the
purchase's own transaction, and cheaply when there is nothing to do (the open challenges are cached, and a
member who is not on the leaderboard costs no query on the purchase path). Connected in CampaignsConfig.ready.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone

from campaigns.models import Challenge
from campaigns.services.badges import on_tier_changed
from campaigns.services.challenges import (
    ACTION_GOALS,
    POSTING_GOALS,
    PURCHASE_GOALS,
    challenges_cache_clear,
    challenges_live_cached,
    challenges_open_for,
)
from campaigns.services.common import PRIZE_JOBS
from campaigns.services.leaderboards import COUNTED_KINDS, member_on_board
from campaigns.signals import action_recorded
from campaigns.tasks import challenge_progress_refresh, enqueue, leaderboard_member_refresh, leaderboard_members_refresh
from loyalty.models import LedgerTransaction, TransactionKind
from loyalty.signals import points_posted, purchase_recorded, purchase_refunded, tier_changed
from members.models import Member
from members.signals import member_status_changed, members_status_changed

# Member fields that decide whether a member is on the leaderboard.
BOARD_FIELDS = {"status", "leaderboard_opt_in", "nickname"}


def _challenges_refresh(member_id: int, tier_id: int | None, goals) -> None:
    if challenges_open_for(tier_id=tier_id, at=timezone.now(), goals=goals):
        enqueue(challenge_progress_refresh, member_id=member_id, goals=list(goals) if goals is not None else None)


def on_purchase_recorded(sender, *, purchase, **kwargs) -> None:
    """After a purchase committed: recount the member's challenges (if any are open to them)."""
    _challenges_refresh(purchase.member_id, purchase.member.tier_id, PURCHASE_GOALS)


def on_purchase_refunded(sender, *, purchase, **kwargs) -> None:
    """Sent inside the refund's transaction: the recount waits for its commit."""
    member_id, tier_id = purchase.member_id, purchase.member.tier_id
    transaction.on_commit(lambda: _challenges_refresh(member_id, tier_id, PURCHASE_GOALS))


def _on_board(txn: LedgerTransaction) -> bool:
    """Whether the posting's member is on the leaderboard. A purchase's posting carries the member row the
    purchase read under its lock (fresh: no query on the purchase path); other postings may carry an
    instance read long before, so the database is asked."""
    member = txn.member
    if "purchase" in (txn.metadata or {}) and member is not None:
        return member_on_board(member)
    fresh = Member.objects.filter(pk=txn.member_id or 0).only("status", "leaderboard_opt_in", "nickname").first()
    return fresh is not None and member_on_board(fresh)


def on_points_posted(sender, *, transaction: LedgerTransaction, **kwargs) -> None:
    """After a ledger posting committed: the member's leaderboard rows, and points-earned challenges for a
    bonus outside a purchase (purchases and refunds have their own signals)."""
    txn = transaction
    if txn.member_id is None or txn.kind not in COUNTED_KINDS or txn.job in PRIZE_JOBS:
        return
    if _on_board(txn):
        enqueue(leaderboard_member_refresh, member_id=txn.member_id, at=txn.occurred_at.isoformat())
    if txn.kind == TransactionKind.BONUS or (txn.kind == TransactionKind.EARN and "purchase" not in txn.metadata):
        tier_id = txn.member.tier_id if txn.member is not None else None
        _challenges_refresh(txn.member_id, tier_id, POSTING_GOALS)


def on_action_recorded(sender, *, event, **kwargs) -> None:
    """After an action event committed: the member's challenges of that action type (its points, if any, reach
    the points-earned challenges through points_posted)."""
    now = timezone.now()
    member = Member.objects.filter(pk=event.member_id).only("tier_id").first()
    if member is None:
        return
    for live in challenges_live_cached():
        if live.goal in ACTION_GOALS and live.action_type == event.type and live.open_at(now) and \
                live.takes(member.tier_id):
            enqueue(challenge_progress_refresh, member_id=event.member_id, goals=list(ACTION_GOALS))
            return


def on_tier_changed_challenges(sender, *, changes, **kwargs) -> None:
    """A member who moved into a tier may now take part in challenges for that tier: what they did in the
    window counts, so those challenges are recounted for them."""
    now = timezone.now()
    restricted = [live for live in challenges_live_cached() if live.tier_ids and live.open_at(now)]
    if not restricted:  # the common case, also for a recalculation moving thousands: one cache read
        return
    for change in changes:
        if any(live.takes(change.to_tier_id) for live in restricted):
            enqueue(challenge_progress_refresh, member_id=change.member_id, goals=None)


def on_member_saved(sender, *, instance: Member, created: bool, update_fields=None, **kwargs) -> None:
    """Joining or leaving the leaderboard (opt-in, nickname, status): the member's rows follow, after the commit."""
    if update_fields is not None and not BOARD_FIELDS & set(update_fields):
        return
    if created and not member_on_board(instance):
        return
    member_id = instance.pk
    transaction.on_commit(lambda: enqueue(leaderboard_member_refresh, member_id=member_id))


def on_member_status_changed(sender, *, member_id: int, status: str, **kwargs) -> None:
    """A status set without a save (members.services.member_status_set): the member's rows follow."""
    enqueue(leaderboard_member_refresh, member_id=member_id)


def on_members_status_changed(sender, *, member_ids: list[int], status: str, **kwargs) -> None:
    """A bulk suspend or reactivate (members.bulk): one task for the lot, which touches only the members on the
    board or with rows."""
    enqueue(leaderboard_members_refresh, member_ids=list(member_ids))


def receivers_connect() -> None:
    purchase_recorded.connect(on_purchase_recorded, dispatch_uid="campaigns.challenges_on_purchase")
    purchase_refunded.connect(on_purchase_refunded, dispatch_uid="campaigns.challenges_on_refund")
    points_posted.connect(on_points_posted, dispatch_uid="campaigns.on_points_posted")
    action_recorded.connect(on_action_recorded, dispatch_uid="campaigns.challenges_on_action")
    tier_changed.connect(on_tier_changed, dispatch_uid="campaigns.tier_badges")
    tier_changed.connect(on_tier_changed_challenges, dispatch_uid="campaigns.tier_challenges")
    post_save.connect(on_member_saved, sender=Member, dispatch_uid="campaigns.leaderboard_on_member_saved")
    member_status_changed.connect(on_member_status_changed, dispatch_uid="campaigns.leaderboard_on_member_status")
    members_status_changed.connect(on_members_status_changed, dispatch_uid="campaigns.leaderboard_on_bulk_status")
    post_save.connect(challenges_cache_clear, sender=Challenge, dispatch_uid="campaigns.challenges_cache_save")
    post_delete.connect(challenges_cache_clear, sender=Challenge, dispatch_uid="campaigns.challenges_cache_delete")
    m2m_changed.connect(challenges_cache_clear, sender=Challenge.tiers.through,
                        dispatch_uid="campaigns.challenges_cache_tiers")
