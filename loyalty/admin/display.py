"""Compact list cells shared by the admin's lists, so that their key columns fit at 1280 px."""

from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from members.models import Member


def member_cell(member: Member | None):
    """The member's name over their loyalty ID (one narrow column instead of two wide ones)."""
    if member is None:
        return "—"
    name = f"{member.first_name} {member.last_name}".strip() or member.email
    return format_html('{}<br><span class="quiet">{}</span>', Truncator(name).chars(28), member.loyalty_id)


def date_cell(moment):
    """A date without the time, in the site's one date format."""
    if moment is None:
        return "—"
    return formats.date_format(timezone.localtime(moment) if timezone.is_aware(moment) else moment, "DATE_FORMAT")


def text_cell(text: str, length: int = 60) -> str:
    return Truncator(text or "").chars(length)


def action_selection(request) -> dict:
    """What an admin action ran on, for the audit log: every row matching the list's filter ("Select all"),
    or the number of rows ticked."""
    from django.contrib.admin import helpers

    if request.POST.get("select_across") == "1":
        return {"filter": request.GET.urlencode() or "all"}
    return {"selected": len(request.POST.getlist(helpers.ACTION_CHECKBOX_NAME))}
