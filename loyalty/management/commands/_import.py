"""Shared plumbing of the import commands (import_members, import_points): read a CSV file, run the
resource's import (all or nothing; `--dry-run` rolls back), print every row's errors by spreadsheet line,
and exit non-zero when the file was refused."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from import_export.results import RowResult

from loyalty.imports import ServiceImportResource, dataset_load, import_errors

MAX_ERRORS_SHOWN = 200


class ImportCommand(BaseCommand):
    resource_class: type[ServiceImportResource]
    what: str  # "members", "point rows"

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file, UTF-8 with a header row; '-' reads standard input.")
        parser.add_argument("--dry-run", action="store_true",
                            help="Run every row and report what would happen; change nothing.")

    def handle(self, *args, **options):
        name = options["file"]
        if name == "-":
            data = sys.stdin.buffer.read()
        else:
            path = Path(name)
            if not path.is_file():
                raise CommandError(f"no such file: {path}")
            data = path.read_bytes()
            name = path.name
        try:
            dataset = dataset_load(data)
        except Exception as error:  # tablib raises several kinds on a file that is not CSV
            raise CommandError(f"cannot read {name} as CSV: {error}") from None
        resource = self.resource_class()
        result = resource.import_data(dataset, dry_run=options["dry_run"], file_name=name, user=None)
        errors = import_errors(result)
        for line, message in errors[:MAX_ERRORS_SHOWN]:
            self.stderr.write(f"line {line}: {message}")
        if len(errors) > MAX_ERRORS_SHOWN:
            self.stderr.write(f"... and {len(errors) - MAX_ERRORS_SHOWN} more errors")
        if errors:
            rows = len({line for line, _message in errors})
            raise CommandError(f"nothing imported: {rows} line(s) of {name} have errors")
        totals = resource.totals
        counts = ", ".join(
            f"{label} {totals[key]}"
            for key, label in ((RowResult.IMPORT_TYPE_NEW, "new"), (RowResult.IMPORT_TYPE_UPDATE, "updated"),
                               (RowResult.IMPORT_TYPE_SKIP, "unchanged"))
        )
        extra = "".join(f", {key.replace('_', ' ')} {value}" for key, value in sorted(totals.items())
                        if key not in (RowResult.IMPORT_TYPE_NEW, RowResult.IMPORT_TYPE_UPDATE,
                                       RowResult.IMPORT_TYPE_SKIP))
        prefix = "dry run, nothing changed: " if options["dry_run"] else ""
        self.stdout.write(f"{prefix}{len(dataset)} {self.what} read: {counts}{extra}")
