"""Portal pages: the reward catalogue, a reward with its confirmation step, and the member's coupons (with a
QR code each, how to use them, and cancelling an unused one). Every coupon is looked up among the signed-in
member's own: anyone else's answers 404."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from loyalty.selectors import member_points_get
from loyalty.services.ledger import LedgerError
from loyalty.services.program import program_get
from members.models import Member
from members.qr import qr_svg_response
from rewards.emails import coupon_qr_value
from rewards.models import Reward
from rewards.selectors import coupons_for_member, redemption_for_member, reward_catalogue_for_member
from rewards.services import redemption_cancel_by_member, reward_redeem

# Why a reward cannot be redeemed right now, as the member reads it.
BLOCKER_LABELS = {
    "reward_unavailable": gettext_lazy("Not available yet"),
    "tier_required": gettext_lazy("For a higher tier"),
    "limit_reached": gettext_lazy("You reached the limit for this reward"),
    "out_of_stock": gettext_lazy("Out of stock"),
    "insufficient_points": gettext_lazy("Not enough points yet"),
}
PAST_COUPONS_PER_PAGE = 20
# Coupons that can still be used are all listed (the page shows the most urgent first).
USABLE_COUPONS_SHOWN = 50
# Stock at or below this reads "Only N left".
LOW_STOCK = 10


def _blocker_label(item: dict) -> str:
    """Why the member cannot redeem it yet; a locked reward says what unlocks it."""
    reward = item["reward"]
    if item["blocker"] == "badge_required":
        return _("Earn the %(badge)s badge to unlock this reward") % {"badge": reward.required_badge.name}
    if item["blocker"] == "challenge_required":
        names = ", ".join(challenge.name for challenge in item["unlocking"])
        return _("Complete the challenge %(challenge)s to unlock this reward") % {"challenge": names}
    return str(BLOCKER_LABELS.get(item["blocker"], _("Not available")))
# A redeem form can be submitted once: a double click must not buy the reward twice.
FORM_TOKEN_SECONDS = 24 * 3600


def _member(request) -> Member | None:
    member = getattr(request.user, "member", None)
    if member is None:
        return None
    return Member.objects.select_related("tier").get(pk=member.pk)


def _labelled(items: list[dict]) -> list[dict]:
    for item in items:
        item["blocker_label"] = _blocker_label(item)
        item["low_stock"] = item["stock"] is not None and 0 < item["stock"] <= LOW_STOCK
    return items


@login_required
@require_GET
def catalogue(request):
    member = _member(request)
    if member is None:
        return render(request, "rewards/catalogue.html", {"member": None})
    points = member_points_get(member=member)
    items = _labelled(reward_catalogue_for_member(member=member, available_points=points["available"]))
    context = {"member": member, "points": points, "items": items,
               "points_value": max(points["available"], 0) * program_get().point_value}
    return render(request, "rewards/catalogue.html", context)


@login_required
@require_GET
def reward_detail(request, code: str):
    """A reward, and the confirmation step before redeeming it."""
    member = _member(request)
    if member is None:
        return redirect("rewards:catalogue")
    points = member_points_get(member=member)
    items = _labelled(reward_catalogue_for_member(member=member, available_points=points["available"]))
    item = next((item for item in items if item["reward"].code == code), None)
    if item is None:
        raise Http404(_("No such reward."))
    program = program_get()
    context = {
        "member": member, "points": points, "item": item, "reward": item["reward"], "form_token": uuid.uuid4().hex,
        "after": points["available"] - item["reward"].cost_points, "valid_days": program.coupon_valid_days,
    }
    return render(request, "rewards/reward_detail.html", context)


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
        return redirect("rewards:reward", code=reward.code)
    messages.success(
        request,
        _("You redeemed %(reward)s for %(points)s points. Here is your coupon.")
        % {"reward": reward.name, "points": redemption.points},
    )
    return redirect("rewards:coupon", pk=redemption.pk)


@login_required
@require_GET
def my_coupons(request):
    member = _member(request)
    if member is None:
        return render(request, "rewards/my_coupons.html", {"member": None})
    now = timezone.now()
    usable, past = coupons_for_member(member=member, now=now)
    page = Paginator(past, PAST_COUPONS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"member": member, "usable": list(usable[:USABLE_COUPONS_SHOWN]), "page": page, "now": now}
    return render(request, "rewards/my_coupons.html", context)


def _own_coupon(request, pk: int):
    member = _member(request)
    redemption = redemption_for_member(member=member, pk=pk) if member is not None else None
    if redemption is None:
        raise Http404(_("No such coupon."))
    return member, redemption


@login_required
@require_GET
def coupon(request, pk: int):
    _member_, redemption = _own_coupon(request, pk)
    return render(request, "rewards/coupon.html", {"redemption": redemption, "now": timezone.now()})


@login_required
@require_GET
def coupon_qr(request, pk: int):
    """The coupon as a QR code (SVG) for the till's scanner."""
    _member_, redemption = _own_coupon(request, pk)
    return qr_svg_response(coupon_qr_value(redemption))


@login_required
@require_http_methods(["GET", "POST"])
def coupon_cancel(request, pk: int):
    """Cancelling an unused coupon: a page that says what happens, then the confirmation (points back)."""
    member, redemption = _own_coupon(request, pk)
    if request.method == "POST":
        try:
            redemption_cancel_by_member(member=member, redemption=redemption)
        except LedgerError as error:
            messages.error(request, error.detail or _("This coupon cannot be cancelled."))
            return redirect("rewards:coupon", pk=redemption.pk)
        messages.success(
            request,
            _("Coupon cancelled: %(points)s points are back in your account.") % {"points": redemption.points},
        )
        return redirect("rewards:my_coupons")
    if not redemption.member_may_cancel():
        messages.error(request, _("This coupon cannot be cancelled."))
        return redirect("rewards:coupon", pk=redemption.pk)
    return render(request, "rewards/coupon_cancel.html", {"redemption": redemption})
