"""Portal pages: the reward catalogue with redeem buttons, and the member's coupons."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from loyalty.selectors import member_points_get
from loyalty.services.ledger import LedgerError
from members.models import Member
from rewards.models import Reward
from rewards.selectors import redemption_list_for_member, reward_catalogue_for_member
from rewards.services import reward_redeem

# Why a reward cannot be redeemed right now, as the member reads it.
BLOCKER_LABELS = {
    "reward_unavailable": gettext_lazy("Not available yet"),
    "tier_required": gettext_lazy("For a higher tier"),
    "limit_reached": gettext_lazy("You reached the limit for this reward"),
    "out_of_stock": gettext_lazy("Out of stock"),
    "insufficient_points": gettext_lazy("Not enough points yet"),
}
COUPONS_PER_PAGE = 20


def _blocker_label(item: dict) -> str:
    """Why the member cannot redeem it yet; a locked reward says what unlocks it."""
    reward = item["reward"]
    if item["blocker"] == "badge_required":
        return _("Earn the %(badge)s badge to unlock this reward") % {"badge": reward.required_badge.name}
    if item["blocker"] == "challenge_required":
        names = ", ".join(challenge.name for challenge in item["unlocking"])
        return _("Complete the challenge %(challenge)s to unlock this reward") % {"challenge": names}
    return str(BLOCKER_LABELS.get(item["blocker"], ""))
# A redeem form can be submitted once: a double click must not buy the reward twice.
FORM_TOKEN_SECONDS = 24 * 3600


def _member(request) -> Member | None:
    member = getattr(request.user, "member", None)
    if member is None:
        return None
    return Member.objects.select_related("tier").get(pk=member.pk)


@login_required
def catalogue(request):
    member = _member(request)
    if member is None:
        return render(request, "rewards/catalogue.html", {"member": None})
    points = member_points_get(member=member)
    items = reward_catalogue_for_member(member=member, available_points=points["available"])
    for item in items:
        item["blocker_label"] = _blocker_label(item)
    context = {"member": member, "points": points, "items": items, "form_token": uuid.uuid4().hex}
    return render(request, "rewards/catalogue.html", context)


@login_required
@require_POST
def redeem(request, code: str):
    member = _member(request)
    if member is None:
        messages.error(request, _("Verify your email address to redeem rewards."))
        return redirect("rewards:catalogue")
    reward = get_object_or_404(Reward, code=code)
    token = request.POST.get("form_token", "")[:64]
    if token and not cache.add(f"rewards:redeem-form:{member.pk}:{token}", 1, FORM_TOKEN_SECONDS):
        return redirect("rewards:my_coupons")  # the same form again: the first submission counts
    try:
        redemption = reward_redeem(member=member, reward=reward)
    except LedgerError as error:
        messages.error(request, error.detail or _("This reward cannot be redeemed."))
        return redirect("rewards:catalogue")
    messages.success(
        request,
        _("You redeemed %(reward)s for %(points)s points. Your coupon code is %(code)s.")
        % {"reward": reward.name, "points": redemption.points, "code": redemption.code},
    )
    return redirect("rewards:my_coupons")


@login_required
def my_coupons(request):
    member = _member(request)
    if member is None:
        return render(request, "rewards/my_coupons.html", {"member": None})
    page = Paginator(redemption_list_for_member(member=member), COUPONS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "rewards/my_coupons.html", {"member": member, "page": page})
