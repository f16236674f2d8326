"""The member portal. Every view reads only `request.user.member`: no view takes a member id."""

from datetime import timedelta
from functools import wraps

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from loyalty.models import AccountKind, LedgerEntry, LedgerTransaction
from loyalty.selectors import member_expiring_get, member_points_get
from members.forms import REFERRAL_SESSION_KEY, ProfileForm
from members.models import Member
from members.services import member_profile_update

RECENT_ON_DASHBOARD = 5
HISTORY_PAGE_SIZE = 25


def _member_of(request) -> Member | None:
    """The signed-in person's member, or None (a login whose email is not verified yet, or staff)."""
    return getattr(request.user, "member", None)


def member_required(view):
    """Signed in and linked to a member; otherwise the dashboard explains what is missing."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        member = _member_of(request)
        if member is None:
            return redirect("portal:dashboard")
        return view(request, member, *args, **kwargs)

    return wrapper


def _history(member: Member):
    # A release moves points from pending to available: the total stays the same, so the page shows
    # how many points became available instead.
    released = LedgerEntry.objects.filter(
        transaction=OuterRef("pk"), account__kind=AccountKind.AVAILABLE, points__gt=0
    ).values("points")[:1]
    return (
        LedgerTransaction.objects.filter(member=member)
        .annotate(released=Subquery(released))
        .order_by("-occurred_at", "-id")
    )


def _expiring(member: Member) -> list[dict]:
    """Expiry as the last day the points can be used (a lot expiring at midnight is valid the day before)."""
    return [
        {"points": row["points"], "valid_until": timezone.localdate(row["expires_at"] - timedelta(microseconds=1))}
        for row in member_expiring_get(member=member)
    ]


def _grouped(loyalty_id: str) -> str:
    """1234 5678 9012 3456: easier to read out at a till."""
    return " ".join(loyalty_id[i : i + 4] for i in range(0, len(loyalty_id), 4))


@login_required
@require_GET
def dashboard(request):
    member = _member_of(request)
    if member is None:
        return render(request, "portal/no_member.html")
    context = {
        "member": member,
        "loyalty_id_grouped": _grouped(member.loyalty_id),
        "points": member_points_get(member=member),
        "expiring": _expiring(member),
        "recent": list(_history(member)[:RECENT_ON_DASHBOARD]),
    }
    return render(request, "portal/dashboard.html", context)


@member_required
@require_GET
def history(request, member: Member):
    page = Paginator(_history(member), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "portal/history.html", {"member": member, "page": page})


@member_required
@require_http_methods(["GET", "POST"])
def profile(request, member: Member):
    if request.method == "POST":
        form = ProfileForm(request.POST, instance=Member.objects.get(pk=member.pk))
        if form.is_valid():
            member = member_profile_update(member=member, **form.changes())
            messages.success(request, _("Your profile was saved."))
            response = redirect("portal:profile")
            if member.language in dict(settings.LANGUAGES):
                translation.activate(member.language)
                response.set_cookie(
                    settings.LANGUAGE_COOKIE_NAME, member.language, max_age=settings.LANGUAGE_COOKIE_AGE,
                    samesite=settings.LANGUAGE_COOKIE_SAMESITE, secure=settings.LANGUAGE_COOKIE_SECURE,
                    httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                )
            return response
    else:
        form = ProfileForm(instance=member)
    return render(request, "portal/profile.html", {"member": member, "form": form})


@login_required
@require_GET
def loyalty_qr(request):
    """The signed-in member's loyalty ID as a QR code (SVG), for scanning at the till."""
    member = _member_of(request)
    if member is None:
        raise Http404(_("No loyalty card for this login yet."))
    image = qrcode.make(member.loyalty_id, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    response = HttpResponse(image.to_string(encoding="unicode"), content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_GET
def referral_link(request, code: str):
    """A friend's invitation: remember the code for the sign-up form (which fills it in and checks it) and go
    there. Says nothing about whether the code exists, so the link cannot be used to probe codes."""
    request.session[REFERRAL_SESSION_KEY] = code.upper()
    return redirect("account_signup")
