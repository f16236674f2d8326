"""CSV downloads streamed row by row (a million rows never sit in memory), with formula-like cells escaped.

A spreadsheet runs a cell that starts with =, +, -, @, a tab or a carriage return as a formula (CSV
injection): such text cells get a leading apostrophe. Phone numbers (+31 6 ...) and numbers stay as they are.
"""

import csv
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PHONE_LIKE = re.compile(r"^\+[0-9 ()./-]+$")


def csv_safe(value: Any) -> Any:
    """A cell value as written to the CSV: text that would run as a formula gets a leading apostrophe;
    datetimes in the site's time zone (ISO 8601); None as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.isoformat(timespec="seconds")
    if isinstance(value, bool | int | float | Decimal | date):
        return value
    text = str(value)
    if text.startswith(FORMULA_START) and not PHONE_LIKE.match(text):
        return "'" + text
    return text


class _Echo:
    """A file-like object whose write returns the line, for csv.writer inside a generator."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The CSV text, one line at a time: a BOM (so spreadsheets read UTF-8), the header, then the rows."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow([csv_safe(name) for name in header])
    for row in rows:
        yield writer.writerow([csv_safe(value) for value in row])


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> StreamingHttpResponse:
    """A streamed CSV download named `filename`."""
    response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


class CsvExportMixin:
    """A ModelAdmin mixin: an "Export CSV" button on the list that downloads the rows the list shows (its
    filters, search and ordering), streamed. The admin names `csv_header` and `csv_rows(queryset)` (an
    iterator of rows; use values_list and .iterator() so nothing is held in memory) and `csv_filename`."""

    csv_header: Sequence[str] = ()
    csv_filename = "export"
    csv_chunk_size = 2000

    def csv_rows(self, queryset) -> Iterable[Sequence[Any]]:
        raise NotImplementedError

    def has_csv_export_permission(self, request) -> bool:
        return self.has_view_permission(request)  # type: ignore[attr-defined]  # a ModelAdmin method

    def get_urls(self):
        from django.urls import path

        opts = self.model._meta  # type: ignore[attr-defined]
        return [
            path("export-csv/", self.admin_site.admin_view(self.csv_export_view),  # type: ignore[attr-defined]
                 name=f"{opts.app_label}_{opts.model_name}_export_csv"),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def csv_export_view(self, request):
        from django.contrib.admin.options import IncorrectLookupParameters
        from django.core.exceptions import PermissionDenied
        from django.http import HttpResponseRedirect

        if not self.has_csv_export_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)  # type: ignore[attr-defined]
        except IncorrectLookupParameters:
            return HttpResponseRedirect("../")
        queryset = changelist.get_queryset(request)
        filename = f"{self.csv_filename}-{timezone.localdate():%Y-%m-%d}.csv"
        return csv_response(filename, [str(name) for name in self.csv_header], self.csv_rows(queryset))

    def changelist_view(self, request, extra_context=None):
        from django.urls import reverse

        if self.has_csv_export_permission(request):
            opts = self.model._meta  # type: ignore[attr-defined]
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_export_csv")
            query = request.GET.urlencode()
            extra_context = {**(extra_context or {}), "csv_export_url": f"{url}?{query}" if query else url}
        return super().changelist_view(request, extra_context)  # type: ignore[misc]
