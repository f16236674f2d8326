"""The portal's Challenges page: the signed-in member's open challenges with progress, then those completed."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET

from campaigns.models import ChallengeGoal
from campaigns.services.challenges import member_challenges_completed_get, member_challenges_get
from loyalty.services.program import program_get
from members.models import Member
from members.views import member_required


def _whole(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def _remaining_text(goal: str, remaining: Decimal, currency: str) -> str:
    """What is left, in the member's words."""
    count = _whole(remaining)
    if goal == ChallengeGoal.POINTS_EARNED:
        return ngettext("%(count)s more point to earn", "%(count)s more points to earn", count) % {"count": count}
    if goal == ChallengeGoal.PURCHASES:
        return ngettext("%(count)s more purchase", "%(count)s more purchases", count) % {"count": count}
    if goal == ChallengeGoal.AMOUNT_SPENT:
        return _("%(amount)s %(currency)s more to spend") % {"amount": f"{remaining:.2f}", "currency": currency}
    if goal == ChallengeGoal.DISTINCT_CATEGORIES:
        return ngettext("%(count)s more category to discover", "%(count)s more categories to discover", count) % {
            "count": count}
    if goal == ChallengeGoal.WEEKLY_STREAK:
        return ngettext("%(count)s more week in a row", "%(count)s more weeks in a row", count) % {"count": count}
    return ngettext("%(count)s more action", "%(count)s more actions", count) % {"count": count}


def _progress_text(goal: str, progress: Decimal, target: int, currency: str) -> str:
    if goal == ChallengeGoal.AMOUNT_SPENT:
        return _("%(progress)s of %(target)s %(currency)s") % {
            "progress": f"{progress:.2f}", "target": target, "currency": currency}
    return _("%(progress)s of %(target)s") % {"progress": int(progress), "target": target}


@member_required
@require_GET
def challenges(request, member: Member):
    member = Member.objects.select_related("tier").get(pk=member.pk)
    currency = program_get().currency
    items = member_challenges_get(member=member)
    for item in items:
        challenge = item["challenge"]
        # A completion may count more than the target at once (two purchases committed together): the page
        # shows the target reached.
        shown = min(item["progress"], Decimal(challenge.target))
        item["bar_value"] = shown
        item["progress_text"] = _progress_text(challenge.goal, shown, challenge.target, currency)
        item["remaining_text"] = _remaining_text(challenge.goal, item["remaining"], currency)
    open_ids = {item["challenge"].pk for item in items}
    completed = [row for row in member_challenges_completed_get(member=member) if row.challenge_id not in open_ids]
    return render(request, "campaigns/challenges.html", {"member": member, "items": items, "completed": completed})
