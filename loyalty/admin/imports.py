"""The admin side of the CSV imports (loyalty.imports): django-import-export's upload, preview and confirm
pages, with every row run through the services in one transaction. A file with errors shows them line by
line and offers no "Confirm import"; a confirmed import that fails (the data changed since the preview)
shows its errors again instead of a success message."""

from typing import TYPE_CHECKING

from django.contrib import messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from import_export.admin import ImportMixin
from import_export.formats.base_formats import CSV
from import_export.results import RowResult

from loyalty.imports import import_errors

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise


class ServiceImportAdminMixin(ImportMixin):
    import_template_name = "admin/import_service.html"
    import_export_change_list_template = "admin/change_list_import_csv.html"
    formats = [CSV]
    skip_admin_log = True  # the import writes its own audit log entry (StaffAction)
    import_help: "str | StrPromise" = ""  # what the file holds, shown above the upload form

    def has_import_permission(self, request) -> bool:
        return request.user.has_perm("loyalty.import_data") and self.has_view_permission(request)

    def get_import_context_data(self, **kwargs):
        columns = self.resource_classes[0].columns
        return {**super().get_import_context_data(**kwargs), "import_help": self.import_help,
                "import_columns": columns}

    def import_action(self, request, **kwargs):
        response = super().import_action(request, **kwargs)
        if isinstance(response, TemplateResponse) and response.context_data.get("result") is not None:
            response.context_data["import_errors"] = import_errors(response.context_data["result"])
        return response

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():
            context = {
                **self.admin_site.each_context(request),
                "title": gettext("Import"),
                "opts": self.model._meta,
                "result": result,
                "import_errors": import_errors(result),
                "import_failed": True,
            }
            return TemplateResponse(request, [self.import_template_name], context)
        return super().process_result(result, request)

    def add_success_message(self, result, request):
        totals = result.totals
        messages.success(request, gettext(
            "Import finished: %(new)d new, %(updated)d updated, %(skipped)d unchanged."
        ) % {"new": totals[RowResult.IMPORT_TYPE_NEW], "updated": totals[RowResult.IMPORT_TYPE_UPDATE],
             "skipped": totals[RowResult.IMPORT_TYPE_SKIP]})
