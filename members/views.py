"""The member portal. Every view reads only `request.user.member`: no view takes a member id."""

from __future__ import annotations

import csv
import json
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.i18n import set_language

from loyalty.branding import branding_css as branding_stylesheet
from loyalty.branding import branding_version
from loyalty.models import TransactionKind
from loyalty.replicas import replica_reads
from loyalty.selectors import member_points_get, members_with_balances
from loyalty.services.program import program_get, tiers_cached_get
from members.charts import monthly_bars
from members.forms import REFERRAL_SESSION_KEY, CloseAccountForm, HistoryFilterForm, ProfileForm
from members.models import Member
from members.qr import qr_svg_response
from members.selectors import (
    member_data_export,
    member_expiring_soon_get,
    member_history_get,
    member_points_by_month,
    member_tier_status_get,
    release_sources_get,
)
from members.services import MemberCloseRefused, member_close, member_language_set, member_profile_update

RECENT_ON_DASHBOARD = 5
HISTORY_PAGE_SIZE = 25
NO_STORE = "no-store"


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


def _with_release_sources(transactions) -> list:
    """The page's transactions, each release with the order ids whose points it released."""
    rows = list(transactions)
    sources = release_sources_get(rows)
    for txn in rows:
        txn.release_sources = sources.get(txn.pk, [])
    return rows


@login_required
@require_GET
@replica_reads()
def dashboard(request):
    member = _member_of(request)
    if member is None:
        return render(request, "portal/no_member.html")
    member = members_with_balances().get(pk=member.pk)
    program = program_get()
    now = timezone.now()
    points = member_points_get(member=member)
    months = member_points_by_month(member=member, now=now)
    context = {
        "member": member,
        "points": points,
        "points_value": max(points["available"], 0) * program.point_value,
        "tier_status": member_tier_status_get(member=member, program=program),
        "expiring": member_expiring_soon_get(member=member, now=now, days=program.expiry_warning_days),
        "warning_days": program.expiry_warning_days,
        "recent": _with_release_sources(member_history_get(member=member)[:RECENT_ON_DASHBOARD]),
        "chart": monthly_bars(months),
        "chart_narrow": monthly_bars(months[-6:], width=360, height=220),  # a phone shows the last six
        "now": now,
    }
    return render(request, "portal/dashboard.html", context)


def _history_filters(request) -> tuple[HistoryFilterForm, dict]:
    form = HistoryFilterForm(request.GET or None)
    return form, (form.filters() if request.GET else {})


@member_required
@require_GET
@replica_reads()
def history(request, member: Member):
    form, filters = _history_filters(request)
    page = Paginator(member_history_get(member=member, **filters), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    query = {name: value for name, value in request.GET.items() if name != "page" and value}
    context = {
        "member": member,
        "form": form,
        "page": page,
        "rows": _with_release_sources(page.object_list),
        "query": urlencode(query),
        "filtered": bool(filters and any(filters.values())),
    }
    return render(request, "portal/history.html", context)


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a streaming response."""

    def write(self, value: str) -> str:
        return value


def _cell(value: str) -> str:
    """A spreadsheet never runs a cell as a formula: text starting with = + - @ gets a leading quote."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _release_text(txn) -> str:
    return ngettext(
        "%(points)s pending point is now available", "%(points)s pending points are now available", txn.released or 0
    ) % {"points": txn.released or 0}


@member_required
@require_GET
def history_csv(request, member: Member):
    """The history (with the page's filters) as CSV, reasons in the member's language."""
    _form, filters = _history_filters(request)
    transactions = member_history_get(member=member, explained=False, **filters)
    writer = csv.writer(_Echo())
    language = translation.get_language()

    def rows():
        with translation.override(language):
            kinds = {kind: str(label) for kind, label in TransactionKind.choices}  # once, not per row
            yield "\ufeff" + writer.writerow([_("Date"), _("Kind"), _("Description"), _("Points"), _("Reference")])
            for txn in transactions.iterator(chunk_size=2000):
                text = _release_text(txn) if txn.kind == TransactionKind.RELEASE else txn.reason_text
                yield writer.writerow([
                    timezone.localtime(txn.occurred_at).strftime("%Y-%m-%d %H:%M"), kinds.get(txn.kind, txn.kind),
                    _cell(text), txn.points, _cell(txn.reference),
                ])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    filename = f"points-history-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = NO_STORE
    return response


@member_required
@require_GET
def card(request, member: Member):
    member = Member.objects.select_related("tier").get(pk=member.pk)
    return render(request, "portal/card.html", {"member": member})


@login_required
@require_GET
def loyalty_qr(request):
    """The signed-in member's loyalty ID as a QR code (SVG), for scanning at the till."""
    member = _member_of(request)
    if member is None:
        raise Http404(_("No loyalty card for this login yet."))
    return qr_svg_response(member.loyalty_id)


def language_cookie_set(response, language: str) -> None:
    """Remember the portal's language in the browser (Django's language cookie)."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME, language, max_age=settings.LANGUAGE_COOKIE_AGE,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE, secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
    )


@member_required
@require_http_methods(["GET", "POST"])
def profile(request, member: Member):
    if request.method == "POST":
        form = ProfileForm(request.POST, instance=Member.objects.get(pk=member.pk))
        if form.is_valid():
            member = member_profile_update(member=member, **form.changes())
            response = redirect("portal:profile")
            if member.language in dict(settings.LANGUAGES):
                translation.activate(member.language)
                language_cookie_set(response, member.language)
            messages.success(request, _("Your profile was saved."))
            return response
    else:
        form = ProfileForm(instance=member)
    return render(request, "portal/profile.html", {"member": member, "form": form})


@member_required
@require_GET
def data_download(request, member: Member):
    """Everything kept about the member, as a JSON file."""
    data = member_data_export(member=member)
    body = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="my-data-{member.loyalty_id}.json"'
    response["Cache-Control"] = NO_STORE
    return response


@require_GET
def referral_link(request, code: str):
    """A friend's invitation: remember the code for the sign-up form (which fills it in and checks it) and go
    there. Says nothing about whether the code exists, so the link cannot be used to probe codes."""
    request.session[REFERRAL_SESSION_KEY] = code.upper()
    return redirect("account_signup")


@member_required
@require_http_methods(["GET", "POST"])
def close_account(request, member: Member):
    """Closing the membership: a page that says what happens, then the password and a tick to confirm."""
    member = members_with_balances().get(pk=member.pk)
    form = CloseAccountForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            member_close(member=member)
        except MemberCloseRefused as error:
            messages.error(request, error.detail)
            return redirect("portal:profile")
        logout(request)
        return redirect("account_closed")
    points = member_points_get(member=member)
    context = {
        "member": member, "form": form, "points": points,
        "forfeited": max(points["available"], 0) + points["pending"],
    }
    return render(request, "portal/close_account.html", context)


@require_GET
def account_closed(request):
    return render(request, "portal/account_closed.html")


@require_GET
def terms(request):
    return render(request, "portal/terms.html")


@require_POST
def language_set(request):
    """The footer's language switch: Django's set_language (cookie and redirect), and for a signed-in member
    the saved language too, so emails follow the language they read the portal in."""
    response = set_language(request)
    member = _member_of(request) if request.user.is_authenticated else None
    language = request.POST.get("language", "")
    if member is not None and language in dict(settings.LANGUAGES) and member.language != language:
        member_language_set(member=member, language=language)
    return response


@require_GET
def branding_css(request):
    """The programme's colours as CSS custom properties (see loyalty.branding). A URL with the current
    version may be cached for a year; the stylesheet changes URL whenever the colours change."""
    program = program_get()
    tiers = [(tier.code, tier.colour) for tier in tiers_cached_get()]
    response = HttpResponse(
        branding_stylesheet(brand_colour=program.brand_colour, accent_colour=program.accent_colour, tiers=tiers),
        content_type="text/css; charset=utf-8",
    )
    current = request.GET.get("v") == branding_version(program.brand_colour, program.accent_colour, tiers)
    response["Cache-Control"] = "public, max-age=31536000, immutable" if current else "public, max-age=300"
    return response


@require_GET
def favicon(request):
    program = program_get()
    return HttpResponseRedirect(program.logo.url if program.logo else static("favicon.svg"))
