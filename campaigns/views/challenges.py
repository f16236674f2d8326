"""The portal's Challenges page: the signed-in member's open challenges with progress, then those completed."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_CEILING, Decimal

from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET

from campaigns.models import ChallengeGoal
from campaigns.services.challenges import member_challenges_completed_get, member_challenges_get
from loyalty.services.program import program_get
from members.models import Member
from members.templatetags.portal import money, points_number
from members.views import member_required

SOON_DAYS = 3  # a deadline this close is marked


def _whole(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def _remaining_text(goal: str, remaining: Decimal, currency: str) -> str:
    """What is left, in the member's words (numbers and money in the member's language)."""
    count = _whole(remaining)
    shown = points_number(count)
    if goal == ChallengeGoal.POINTS_EARNED:
        return ngettext("%(count)s more point to earn", "%(count)s more points to earn", count) % {"count": shown}
    if goal == ChallengeGoal.PURCHASES:
        return ngettext("%(count)s more purchase", "%(count)s more purchases", count) % {"count": shown}
    if goal == ChallengeGoal.AMOUNT_SPENT:
        return _("%(amount)s more to spend") % {"amount": money(remaining, currency)}
    if goal == ChallengeGoal.DISTINCT_CATEGORIES:
        return ngettext("%(count)s more category to discover", "%(count)s more categories to discover", count) % {
            "count": shown}
    if goal == ChallengeGoal.WEEKLY_STREAK:
        return ngettext("%(count)s more week in a row", "%(count)s more weeks in a row", count) % {"count": shown}
    return ngettext("%(count)s more action", "%(count)s more actions", count) % {"count": shown}


def _progress_text(goal: str, progress: Decimal, target: int, currency: str) -> str:
    if goal == ChallengeGoal.AMOUNT_SPENT:
        return _("%(progress)s of %(target)s") % {
            "progress": money(progress, currency), "target": money(target, currency)}
    return _("%(progress)s of %(target)s") % {"progress": points_number(int(progress)), "target": points_number(target)}


def _days_left_text(days: int) -> str:
    if days < 1:
        return _("Ends today")
    return ngettext("%(count)s day left", "%(count)s days left", days) % {"count": days}


@member_required
@require_GET
def challenges(request, member: Member):
    member = Member.objects.select_related("tier").get(pk=member.pk)
    currency = program_get().currency
    now = timezone.now()
    items = member_challenges_get(member=member, now=now)
    for item in items:
        challenge = item["challenge"]
        # A completion may count more than the target at once (two purchases committed together): the page
        # shows the target reached.
        shown = min(item["progress"], Decimal(challenge.target))
        item["bar_value"] = shown
        item["percent"] = int(100 * shown / challenge.target)
        item["progress_text"] = _progress_text(challenge.goal, shown, challenge.target, currency)
        item["remaining_text"] = _remaining_text(challenge.goal, item["remaining"], currency)
        if challenge.ends_at is not None and not item["completed_at"]:
            # Whole days to the challenge's last day, in the site's time zone (its end is exclusive).
            last_day = timezone.localdate(challenge.ends_at - timedelta(microseconds=1))
            days = (last_day - timezone.localdate(now)).days
            item["days_left"] = _days_left_text(days)
            item["ends_soon"] = days < SOON_DAYS
    items.sort(key=lambda item: item["completed_at"] is not None)  # open ones first, in deadline order
    open_ids = {item["challenge"].pk for item in items}
    completed = [row for row in member_challenges_completed_get(member=member) if row.challenge_id not in open_ids]
    return render(request, "campaigns/challenges.html", {"member": member, "items": items, "completed": completed})
