"""Badges: configuring them, awarding them (challenges, tiers, staff) and reading a member's badge wall.

A member holds a badge at most once (the unique constraint `badge_award_once_per_member`): every award
goes through `badge_award`, which answers with the award already held instead of a second one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import Badge, BadgeAward, BadgeSource
from campaigns.services.common import CampaignInvalid
from loyalty.models import StaffActionKind, Tier
from loyalty.services.audit import staff_action_record
from members.bulk import BulkResult, bulk_details, bulk_member_ids
from members.models import Member, MemberStatus

BADGE_FIELDS = ("code", "name", "description", "image", "tier", "active")


# -- configuration -----------------------------------------------------------------------------------


def badge_save(*, badge: Badge) -> Badge:
    """Validate and save a new or changed badge (the API and the admin end here); one given on reaching a
    tier goes at once to the members at that tier or above."""
    try:
        badge.full_clean()
    except ValidationError as error:
        raise CampaignInvalid(_("The badge is not valid."), error.message_dict) from None
    try:
        with transaction.atomic():
            badge.save()
    except IntegrityError:  # the code taken by a concurrent request
        raise CampaignInvalid(_("The badge is not valid."), {"code": [_("Another badge has this code.")]}) from None
    if badge.tier_id is not None and badge.active:
        tier_badge_backfill(badge=badge)
    return badge


@transaction.atomic
def badge_create(**fields: Any) -> Badge:
    """A new badge. One with a tier is given at once to every member at that tier or a higher one."""
    unknown = set(fields) - set(BADGE_FIELDS)
    if unknown:
        raise TypeError(f"not badge fields: {sorted(unknown)}")
    return badge_save(badge=Badge(**fields))


@transaction.atomic
def badge_update(*, badge: Badge, **fields: Any) -> Badge:
    unknown = set(fields) - set(BADGE_FIELDS)
    if unknown:
        raise TypeError(f"not badge fields: {sorted(unknown)}")
    badge = Badge.objects.select_for_update().get(pk=badge.pk)
    for name, value in fields.items():
        setattr(badge, name, value)
    return badge_save(badge=badge)


@transaction.atomic
def badge_delete(*, badge: Badge) -> bool:
    """Delete a badge nobody holds and nothing refers to; otherwise deactivate it (members keep what they
    earned, and its history stays). Returns True when it was deleted."""
    badge = Badge.objects.select_for_update().get(pk=badge.pk)
    if badge.awards.exists() or badge.challenges.exists() or badge.rewards.exists():
        if badge.active:
            badge.active = False
            badge.save(update_fields=["active", "updated_at"])
        return False
    badge.delete()
    return True


def badges_with_holders():
    """Badges with `holders` (how many members hold each) annotated."""
    return Badge.objects.select_related("tier").annotate(holders=Count("awards"))


# -- awarding ----------------------------------------------------------------------------------------


def badge_award(
    *,
    badge: Badge,
    member: Member,
    source: str,
    challenge=None,
    tier: Tier | None = None,
    staff_user=None,
    reason: str = "",
    now: datetime | None = None,
) -> tuple[BadgeAward, bool]:
    """Give `member` the badge unless they hold it already. Returns (award, created)."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            award = BadgeAward.objects.create(
                badge=badge, member=member, source=source, challenge=challenge, tier=tier, staff_user=staff_user,
                reason=reason[:255], awarded_at=now,
            )
    except IntegrityError:  # held already (maybe awarded a moment ago by a concurrent transaction)
        existing = BadgeAward.objects.filter(badge=badge, member=member).first()
        if existing is None:
            raise
        return existing, False
    return award, True


def _grant_checked(*, badge: Badge, reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise CampaignInvalid(_("A reason is required."), {"reason": [_("A reason is required.")]})
    if not badge.active:
        raise CampaignInvalid(_("%(badge)s is not active.") % {"badge": badge.name}, {"badge": [_("Not active.")]})
    return reason


def badge_grant(*, badge: Badge, member: Member, reason: str, staff_user=None) -> tuple[BadgeAward, bool]:
    """Staff give a badge by hand (the API; the admin's forms record it in the audit log too, through
    member_badge_grant and members_badge_grant). The reason is required and shown to the member."""
    reason = _grant_checked(badge=badge, reason=reason)
    if member.status == MemberStatus.CLOSED:
        raise CampaignInvalid(_("This member's account is closed."))
    return badge_award(badge=badge, member=member, source=BadgeSource.STAFF, staff_user=staff_user, reason=reason)


@transaction.atomic
def member_badge_grant(*, badge: Badge, member: Member, reason: str, staff_user) -> tuple[BadgeAward, bool]:
    """A grant by a staff member in the admin (the Badge awards add form), recorded in the audit log."""
    award, created = badge_grant(badge=badge, member=member, reason=reason, staff_user=staff_user)
    if created:
        staff_action_record(
            kind=StaffActionKind.BADGE_GRANTED, staff_user=staff_user, count=1,
            details={"selection": {"member": member.loyalty_id}, "badge": badge.code, "reason": award.reason,
                     "done": 1},
        )
    return award, created


@transaction.atomic
def members_badge_grant(
    *, members: QuerySet[Member], badge: Badge, reason: str, staff_user, selection: dict[str, Any],
    now: datetime | None = None,
) -> BulkResult:
    """Staff give a badge to many members at once: the member list's bulk action, on the selected members or
    every member matching the list's filter (at most members.bulk.BULK_LIMIT). One INSERT for the lot, and one
    audit log entry (who, when, what, how many, the members left out) in the same transaction.

    Members who hold the badge already keep their award (counted as already done, also when a concurrent grant
    won the race); closed members are refused and listed. Raises CampaignInvalid (no reason, an inactive
    badge) or members.bulk.BulkTooLarge, and then changes nothing."""
    reason = _grant_checked(badge=badge, reason=reason)
    now = now or timezone.now()
    ids = bulk_member_ids(members)
    held = set(BadgeAward.objects.filter(badge=badge, member_id__in=ids).values_list("member_id", flat=True))
    closed = dict(Member.objects.filter(pk__in=ids, status=MemberStatus.CLOSED).values_list("pk", "loyalty_id"))
    giving = [member_id for member_id in ids if member_id not in held and member_id not in closed]
    BadgeAward.objects.bulk_create(
        [BadgeAward(badge=badge, member_id=member_id, source=BadgeSource.STAFF, staff_user=staff_user,
                    reason=reason[:255], awarded_at=now) for member_id in giving],
        batch_size=2000, ignore_conflicts=True,  # held meanwhile: the other grant's award stays
    )
    done = BadgeAward.objects.filter(badge=badge, member_id__in=giving, source=BadgeSource.STAFF,
                                     staff_user=staff_user, awarded_at=now).count()
    result = BulkResult(done=done, already=len(held) + len(giving) - done)
    closed_text = _("This member's account is closed.")
    result.refused = [(closed[member_id], closed_text) for member_id in ids if member_id in closed]
    result.action = staff_action_record(
        kind=StaffActionKind.BADGE_GRANTED, staff_user=staff_user, count=done,
        details=bulk_details(result, selection, badge=badge.code, reason=reason),
    )
    return result


def _tier_badges() -> list[Badge]:
    return list(Badge.objects.filter(active=True, tier__isnull=False).select_related("tier"))


def tier_badges_award(*, member_tiers: Iterable[tuple[int, int | None]], now: datetime | None = None) -> int:
    """Give each (member id, tier id) the active badges of that tier and of every lower tier, in one
    INSERT for the lot (badges held already are skipped). Returns how many were given."""
    badges = _tier_badges()
    reached = [(member_id, tier_id) for member_id, tier_id in member_tiers if tier_id is not None]
    if not badges or not reached:
        return 0
    now = now or timezone.now()
    ranks = dict(Tier.objects.values_list("pk", "rank"))
    held = set(
        BadgeAward.objects.filter(member_id__in={member_id for member_id, _tier in reached}, badge__in=badges)
        .values_list("member_id", "badge_id")
    )
    awards = [
        BadgeAward(badge=badge, member_id=member_id, source=BadgeSource.TIER, tier_id=tier_id, awarded_at=now)
        for member_id, tier_id in reached
        for badge in badges
        if badge.tier is not None and ranks.get(tier_id, -1) >= badge.tier.rank and (member_id, badge.pk) not in held
    ]
    BadgeAward.objects.bulk_create(awards, batch_size=2000, ignore_conflicts=True)  # a concurrent award wins
    return len(awards)


def tier_badge_backfill(*, badge: Badge, now: datetime | None = None) -> int:
    """A badge given on reaching a tier goes to every member (not closed) at that tier or above already."""
    if badge.tier is None or not badge.active:
        return 0
    holders = Member.objects.filter(tier__rank__gte=badge.tier.rank).exclude(status=MemberStatus.CLOSED)
    missing = holders.exclude(badge_awards__badge=badge).values_list("pk", "tier_id")
    now = now or timezone.now()
    awards = [
        BadgeAward(badge=badge, member_id=member_id, source=BadgeSource.TIER, tier_id=tier_id, awarded_at=now)
        for member_id, tier_id in missing.iterator(chunk_size=2000)
    ]
    BadgeAward.objects.bulk_create(awards, batch_size=2000, ignore_conflicts=True)
    return len(awards)


def on_tier_changed(sender, *, changes, **kwargs) -> None:
    """Receiver of loyalty.signals.tier_changed (after the commit): badges of the tiers reached."""
    tier_badges_award(member_tiers=[(change.member_id, change.to_tier_id) for change in changes])


# -- reads -------------------------------------------------------------------------------------------


def member_badges_get(*, member: Member) -> list[dict]:
    """The badge wall: every active badge, each with the member's award (None while locked) and, for a
    locked one, how to earn it (`tier`, `challenges`). Earned badges first, newest first, then the rest."""
    awards = {award.badge_id: award for award in BadgeAward.objects.filter(member=member).select_related("challenge")}
    badges = Badge.objects.filter(Q(active=True) | Q(pk__in=list(awards))).select_related("tier").prefetch_related(
        "challenges"
    )
    items: list[dict[str, Any]] = []
    for badge in badges:
        award = awards.get(badge.pk)
        if award is None and not badge.active:
            continue
        items.append({
            "badge": badge,
            "award": award,
            "tier": badge.tier,
            "challenges": [c for c in badge.challenges.all() if c.active and c.closed_at is None],
        })
    items.sort(key=lambda item: (item["award"] is None, -(item["award"].awarded_at.timestamp() if item["award"] else 0),
                                 item["badge"].name))
    return items


def member_holds_badge(*, member: Member, badge_id: int) -> bool:
    return BadgeAward.objects.filter(member=member, badge_id=badge_id).exists()
