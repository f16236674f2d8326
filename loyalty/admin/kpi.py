"""The KPI dashboard at /admin/kpi/ (loyalty.kpi computes it): figures, a chart of points per month and
tables, for a date range, each table downloadable as CSV (`?csv=<table>`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty.exports import csv_response
from loyalty.kpi import ACTIVE_DAYS, KpiRange, kpi_tables, kpis_get

MAX_DAYS = 10 * 366


def default_range(today: date) -> KpiRange:
    """The current month and the eleven before it, up to today."""
    start = today.replace(day=1)
    for _month in range(11):
        start = (start - timedelta(days=1)).replace(day=1)
    return KpiRange(start=start, end=today)


class KpiRangeForm(forms.Form):
    start = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    end = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if start > end:
                self.add_error("end", gettext("The end of the range must not come before its start."))
            elif (end - start).days > MAX_DAYS:
                self.add_error("start", gettext("Choose a range of at most ten years."))
        return cleaned


def _percent(value) -> str:
    return "–" if value is None else f"{value} %"


def _cards(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline figures with what each one means (values as shown)."""
    cards = [
        {"label": _("Members"), "value": data["members_total"], "id": "members-total",
         "help": _("Enrolled by the end of the range.")},
        {"label": _("New members"), "value": data["members_new"], "id": "members-new",
         "help": _("Joined in the range.")},
        {"label": _("Active members"), "value": data["members_active"], "id": "members-active",
         "help": _("Bought something in the %(days)d days up to the end of the range.") % {"days": ACTIVE_DAYS}},
        {"label": _("Activation rate"), "value": _percent(data["activation_rate"]), "id": "activation-rate",
         "help": _("Of the members who joined in the range, those who bought something.")},
        {"label": _("Outstanding points"), "value": data["outstanding"], "id": "outstanding",
         "help": _("Available %(available)s plus pending %(pending)s, now.") % {
             "available": intcomma(data["outstanding_available"]), "pending": intcomma(data["outstanding_pending"])}},
        {"label": _("Points liability"), "value": f"{data['liability']} {data['currency']}", "id": "liability",
         "help": _("Outstanding points times the point value.")},
        {"label": _("Redemption rate"), "value": _percent(data["redemption_rate"]), "id": "redemption-rate",
         "help": _("Points redeemed per point issued in the range.")},
        {"label": _("Breakage"), "value": _percent(data["breakage"]), "id": "breakage",
         "help": _("Points expired per point issued in the range.")},
        {"label": _("Repeat-purchase rate"), "value": _percent(data["repeat_purchase_rate"]), "id": "repeat-rate",
         "help": _("Of the %(buyers)s members who bought in the range, those who bought at least twice.")
         % {"buyers": intcomma(data["buyers"])}},
        {"label": _("Average order value"), "id": "aov",
         "value": "–" if data["average_order_value"] is None else f"{data['average_order_value']} {data['currency']}",
         "help": _("Members' purchases in the range, less refunds, per order (%(orders)s orders).")
         % {"orders": intcomma(data["orders"])}},
    ]
    for card in cards:
        if isinstance(card["value"], int):
            card["value"] = intcomma(card["value"])
    return cards


def _month_label(month: date) -> str:
    return dateformat.format(month, "M Y")


def _tables(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every table: key, title, columns, rows (as shown and as downloaded)."""
    tables = [
        {"key": "points_by_month", "title": gettext("Points per month"),
         "columns": [gettext("Month"), gettext("Issued"), gettext("Redeemed"), gettext("Expired")],
         "rows": [(month, *figures) for month, *figures in data["points_by_month"]],
         "description": gettext("Issued: earned, bonus and points added by staff or imports. Redeemed: spent, "
                                "less cancelled redemptions.")},
        {"key": "members_by_month", "title": gettext("New members per month"),
         "columns": [gettext("Month"), gettext("New members")], "rows": data["members_by_month"],
         "description": ""},
    ]
    for table in kpi_tables():
        tables.append({"key": table.key, "title": str(table.title), "columns": [str(c) for c in table.columns],
                       "rows": data["tables"].get(table.key, []), "description": str(table.description)})
    return tables


def _summary_rows(cards: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(str(card["label"]), card["value"]) for card in cards]


def kpi_dashboard_view(request):
    if not request.user.has_perm("loyalty.view_kpi_dashboard"):
        raise PermissionDenied
    today = timezone.localdate()
    period = default_range(today)
    form = KpiRangeForm(request.GET if "start" in request.GET or "end" in request.GET else None,
                        initial={"start": period.start, "end": period.end})
    if form.is_bound and form.is_valid():
        period = KpiRange(start=form.cleaned_data["start"], end=form.cleaned_data["end"])
    data = kpis_get(period=period)
    cards = _cards(data)
    tables = _tables(data)
    query = {"start": period.start.isoformat(), "end": period.end.isoformat()}
    if table_key := request.GET.get("csv"):
        stamp = f"{period.start:%Y%m%d}-{period.end:%Y%m%d}"
        if table_key == "summary":
            return csv_response(f"kpi-summary-{stamp}.csv", [gettext("Figure"), gettext("Value")],
                                _summary_rows(cards))
        table = next((table for table in tables if table["key"] == table_key), None)
        if table is None:
            raise Http404
        return csv_response(f"kpi-{table_key}-{stamp}.csv", table["columns"], table["rows"])
    url = reverse("kpi_dashboard")
    for table in tables:
        table["csv_url"] = f"{url}?{urlencode({**query, 'csv': table['key']})}"
        if table["key"] in ("points_by_month", "members_by_month"):
            table["rows"] = [(_month_label(month), *rest) for month, *rest in table["rows"]]
    points = tables[0]
    chart = {
        "labels": [row[0] for row in points["rows"]],
        "series": [{"label": label, "data": [row[index] for row in points["rows"]]}
                   for index, label in enumerate(points["columns"][1:], start=1)],
        "title": points["title"],
    }
    ranges = [
        (gettext("Last 30 days"), today - timedelta(days=29)),
        (gettext("Last 90 days"), today - timedelta(days=89)),
        (gettext("Last 12 months"), today - timedelta(days=364)),
        (gettext("This year"), today.replace(month=1, day=1)),
    ]
    shortcuts = [(label, f"{url}?{urlencode({'start': start.isoformat(), 'end': today.isoformat()})}")
                 for label, start in ranges]
    context = {
        **admin.site.each_context(request),
        "title": gettext("Programme performance"),
        "form": form,
        "period": period,
        "cards": cards,
        "tables": tables,
        "chart": chart,
        "shortcuts": shortcuts,
        "summary_csv_url": f"{url}?{urlencode({**query, 'csv': 'summary'})}",
        "computed_at": data["computed_at"],
    }
    return TemplateResponse(request, "admin/kpi.html", context)
