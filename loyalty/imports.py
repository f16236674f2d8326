"""CSV imports through the services, all or nothing, with a dry run that lists the errors of every row.

A `ServiceImportResource` is a django-import-export resource: the admin's import pages (upload, preview,
confirm) and the management commands (`import_members`, `import_points`) both call its `import_data`.
Each row goes through the services (enrolment, the ledger, the tiers), never straight into tables:

- the whole file is one database transaction: one bad row, or a dry run, rolls every row back;
- a dry run runs every row for real and rolls back, so it reports what the import would do (a debit larger
  than the balance left by the rows before it, too);
- each row is idempotent (a ledger idempotency key derived from the row), so the same file imported again
  changes nothing;
- a committed import is recorded in the audit log (StaffAction) in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar

import tablib
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export import resources
from import_export.instance_loaders import BaseInstanceLoader
from import_export.results import Result, RowResult

from loyalty.models import LedgerTransaction, StaffActionKind
from loyalty.services.audit import staff_action_record
from loyalty.services.ledger import LedgerError, points_adjust
from members.models import Member, MemberStatus

MAX_REASON_LENGTH = 255


class RowInvalid(Exception):
    """A row that cannot be imported: errors per column (NON_FIELD_ERRORS for the row as a whole)."""

    def __init__(self, errors: Mapping[str, Sequence[str] | str]) -> None:
        super().__init__(errors)
        self.errors = {name: [messages] if isinstance(messages, str) else list(messages)
                       for name, messages in errors.items()}


class FileInvalid(Exception):
    """The file as a whole cannot be imported (missing or unknown columns)."""


@dataclass
class RowOutcome:
    """What a row did: `import_type` new, update or skip (RowResult's), and its preview cells."""

    import_type: str
    preview: list[Any]
    counts: Counter = field(default_factory=Counter)


# -- reading cells ---------------------------------------------------------------------------------


def cell(row: Mapping[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None:
        return ""
    return str(value).strip()


def parse_int(text: str, errors: dict, name: str, *, minimum: int | None = None) -> int | None:
    try:
        value = int(text.replace(" ", "").replace("_", ""))
    except ValueError:
        errors[name] = gettext("Enter a whole number.")
        return None
    if minimum is not None and value < minimum:
        errors[name] = gettext("Enter a number of at least %(minimum)d.") % {"minimum": minimum}
        return None
    return value


def parse_day(text: str, errors: dict, name: str) -> date | None:
    try:
        day = parse_date(text)
    except ValueError:
        day = None
    if day is None:
        errors[name] = gettext("Enter a date as YYYY-MM-DD.")
    return day


def parse_moment(text: str, errors: dict, name: str, *, day_end: bool = False) -> datetime | None:
    """A date (the start of that day, or its end with `day_end`) or a date and time; the site's time zone
    when no offset is given."""
    moment = None
    try:
        if len(text) == 10 and (day := parse_date(text)) is not None:  # parse_datetime takes a bare date too
            moment = datetime.combine(day + timedelta(days=1) if day_end else day, time.min)
        else:
            moment = parse_datetime(text)
    except ValueError:
        moment = None
    if moment is None:
        errors[name] = gettext("Enter a date as YYYY-MM-DD, or a date and time as YYYY-MM-DD HH:MM.")
        return None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def parse_bool(text: str, errors: dict, name: str) -> bool | None:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "y", "ja", "j", "x"):
        return True
    if lowered in ("", "0", "false", "no", "n", "nee"):
        return False
    errors[name] = gettext("Enter yes or no.")
    return None


def digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, default=str, ensure_ascii=False).encode()).hexdigest()[:32]


def dataset_load(data: bytes | str) -> tablib.Dataset:
    """A CSV file as a dataset (UTF-8, with or without a BOM)."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")
    return tablib.Dataset().load(text, format="csv")


# -- the resource ----------------------------------------------------------------------------------


class _NoInstanceLoader(BaseInstanceLoader):
    """Rows find their members through the services, not through an instance loader."""

    def get_instance(self, row):
        return None


class ServiceImportResource(resources.Resource):
    """Base of the imports: subclasses name their columns and import one row with `row_import`."""

    columns: ClassVar[tuple[str, ...]] = ()  # every column read
    ignored_columns: ClassVar[tuple[str, ...]] = ()  # columns written by our export and not read back
    preview_headers: ClassVar[tuple[Any, ...]] = ()
    action_kind: ClassVar[str] = ""

    class Meta:
        instance_loader_class = _NoInstanceLoader
        use_transactions = True
        skip_html_diff = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.totals: Counter = Counter()
        self.file_errors: list[str] = []

    # All or nothing, whoever calls: the admin, the commands, or code calling import_data directly.
    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None,
                    collect_failed_rows=False, rollback_on_validation_errors=False, **kwargs) -> Result:
        self.totals = Counter()
        self.file_errors = []
        return super().import_data(
            dataset, dry_run=dry_run, raise_errors=False, use_transactions=True,
            collect_failed_rows=collect_failed_rows, rollback_on_validation_errors=True, **kwargs,
        )

    def required_columns(self, headers: Sequence[str]) -> list[list[str]]:
        """Column groups of which at least one column must be present (e.g. loyalty_id or email)."""
        return []

    def before_import(self, dataset, **kwargs) -> None:
        headers = [str(header or "").strip() for header in dataset.headers or []]
        dataset.headers = headers
        known = set(self.columns) | set(self.ignored_columns)
        unknown = [header for header in headers if header not in known]
        missing = [" / ".join(group) for group in self.required_columns(headers)
                   if not any(name in headers for name in group)]
        duplicated = sorted(name for name, count in Counter(headers).items() if count > 1)
        if missing:
            self.file_errors.append(gettext("Missing column: %(columns)s.") % {"columns": ", ".join(missing)})
        if unknown:
            self.file_errors.append(
                gettext("Unknown column: %(columns)s. The columns read are: %(known)s.")
                % {"columns": ", ".join(unknown), "known": ", ".join(self.columns)}
            )
        if duplicated:
            self.file_errors.append(gettext("Column given twice: %(columns)s.") % {"columns": ", ".join(duplicated)})
        if self.file_errors:
            raise FileInvalid(" ".join(self.file_errors))

    def _check_import_id_fields(self, headers) -> None:
        """Rows are matched by the services, not by import_id_fields."""

    def get_diff_headers(self) -> list[str]:
        return [str(header) for header in self.preview_headers]

    def get_user_visible_fields(self):
        return []

    @classmethod
    def get_display_name(cls) -> str:
        return cls.__name__

    def import_row(self, row, instance_loader, **kwargs) -> RowResult:
        result = self.get_row_result_class()()
        if self.file_errors:  # the header check failed: no row is read
            result.import_type = RowResult.IMPORT_TYPE_SKIP
            return result
        values = {str(name): cell(row, name) for name in row}
        try:
            with transaction.atomic():  # a row that fails half-way leaves nothing behind for the next rows
                outcome = self.row_import(values=values, number=kwargs.get("row_number", 0) + 1,
                                          user=kwargs.get("user"), dry_run=kwargs.get("dry_run", False))
        except RowInvalid as error:
            result.import_type = RowResult.IMPORT_TYPE_INVALID
            result.validation_error = ValidationError(error.errors)
            return result
        result.import_type = outcome.import_type
        result.diff = outcome.preview
        self.totals[outcome.import_type] += 1
        self.totals.update(outcome.counts)
        return result

    def row_import(self, *, values: dict[str, str], number: int, user, dry_run: bool) -> RowOutcome:
        raise NotImplementedError

    def after_import(self, dataset, result, **kwargs) -> None:
        if kwargs.get("dry_run") or result.has_errors() or result.has_validation_errors():
            return
        done = self.totals[RowResult.IMPORT_TYPE_NEW] + self.totals[RowResult.IMPORT_TYPE_UPDATE]
        details = {"file": kwargs.get("file_name") or "", "rows": len(dataset),
                   **dict(sorted(self.totals.items()))}
        staff_action_record(kind=self.action_kind, staff_user=_staff(kwargs.get("user")), count=done,
                            details=details)


def _staff(user):
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def import_errors(result: Result) -> list[tuple[int, str]]:
    """(spreadsheet line, message) for every error of an import, for people: the header is line 1."""
    errors: list[tuple[int, str]] = [(1, str(error.error)) for error in result.base_errors]
    for number, row_errors in result.row_errors():
        errors.extend((number + 1, str(error.error)) for error in row_errors)
    for invalid in result.invalid_rows:
        for name, messages in invalid.error_dict.items():
            prefix = "" if name == NON_FIELD_ERRORS else f"{name}: "
            errors.extend((invalid.number + 1, f"{prefix}{message}") for message in messages)
    return sorted(errors, key=lambda error: error[0])


# -- points: grants and corrections ----------------------------------------------------------------


def member_find(values: Mapping[str, str], errors: dict) -> Member | None:
    """The member a row names by `loyalty_id` and/or `email` (both given: they must name the same member)."""
    loyalty_id, email = values.get("loyalty_id", ""), values.get("email", "")
    by_id = by_email = None
    if loyalty_id:
        by_id = Member.objects.filter(loyalty_id=loyalty_id).first()
        if by_id is None:
            errors["loyalty_id"] = gettext("No member has this loyalty ID.")
    if email:
        by_email = Member.objects.filter(email__iexact=email).first()
        if by_email is None:
            errors["email"] = gettext("No member has this email address.")
    if not loyalty_id and not email:
        errors[NON_FIELD_ERRORS] = gettext("Give the member's loyalty_id or email.")
    if by_id is not None and by_email is not None and by_id.pk != by_email.pk:
        errors["email"] = gettext("This email belongs to another member than the loyalty ID.")
        return None
    return by_id or by_email


class PointsImportResource(ServiceImportResource):
    """Point grants and corrections: `loyalty_id` or `email`, `points` (positive adds, negative removes),
    `reason` (shown to the member as typed), optional `expires_at` (grants only) and `reference`.

    Each row is one ledger adjustment whose idempotency key is derived from the member and the row: the
    `reference` when given, else points, reason and expiry (and how often that same row came before in the
    file), so importing a file again posts nothing, and two identical rows in one file post twice."""

    columns = ("loyalty_id", "email", "points", "reason", "expires_at", "reference")
    preview_headers = (_("Line"), _("Member"), _("Points"), _("Reason"), _("Expires"), _("Available after"))
    action_kind = StaffActionKind.POINTS_IMPORTED

    def required_columns(self, headers):
        return [["loyalty_id", "email"], ["points"], ["reason"]]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seen: Counter = Counter()

    def import_data(self, dataset, *args, **kwargs):
        self.seen = Counter()
        return super().import_data(dataset, *args, **kwargs)

    def row_import(self, *, values, number, user, dry_run) -> RowOutcome:
        errors: dict[str, str] = {}
        member = member_find(values, errors)
        points = parse_int(values.get("points", ""), errors, "points")
        if points == 0:
            errors["points"] = gettext("Points must not be zero.")
        reason = values.get("reason", "")
        if not reason:
            errors["reason"] = gettext("A reason is required: the member sees it in their history.")
        elif len(reason) > MAX_REASON_LENGTH:
            errors["reason"] = gettext("At most %(max)d characters.") % {"max": MAX_REASON_LENGTH}
        reference = values.get("reference", "")
        if len(reference) > 100:
            errors["reference"] = gettext("At most %(max)d characters.") % {"max": 100}
        expires_at = None
        if values.get("expires_at"):
            expires_at = parse_moment(values["expires_at"], errors, "expires_at", day_end=True)
            if points is not None and points < 0:
                errors["expires_at"] = gettext("An expiry date only applies to points added.")
            elif expires_at is not None and expires_at <= timezone.now():
                errors["expires_at"] = gettext("The expiry date must lie in the future.")
        if member is not None and member.status == MemberStatus.CLOSED:
            errors[NON_FIELD_ERRORS] = gettext("This member's account is closed.")
        if errors:
            raise RowInvalid(errors)
        assert member is not None and points is not None
        if reference:
            key = f"import-points:{member.pk}:ref:{digest(reference)}"
        else:
            content = digest(points, reason, expires_at.isoformat() if expires_at else "")
            self.seen[(member.pk, content)] += 1
            key = f"import-points:{member.pk}:{content}:{self.seen[(member.pk, content)]}"
        preview = [number, f"{member.loyalty_id} {member.email}", f"{points:+d}", reason,
                   expires_at.date().isoformat() if expires_at else ""]
        earlier = LedgerTransaction.objects.filter(idempotency_key=key).first()
        if earlier is not None:
            if earlier.points != points:
                raise RowInvalid({"reference": gettext(
                    "Reference %(reference)s was already imported for this member with %(points)+d points."
                ) % {"reference": reference, "points": earlier.points}})
            return RowOutcome(RowResult.IMPORT_TYPE_SKIP, [*preview, gettext("already imported")])
        extra: dict[str, Any] = {"expires_at": expires_at} if expires_at is not None else {}
        try:
            txn = points_adjust(
                member=member, points=points, reason=reason, staff_user=_staff(user), idempotency_key=key,
                reference=reference, job="" if _staff(user) else "import_points", **extra,
            )
        except LedgerError as error:
            raise RowInvalid({"points": error.detail}) from None
        balances = txn.member_balances  # type: ignore[attr-defined]  # set by the ledger service
        counts = Counter({"points_added": max(points, 0), "points_removed": max(-points, 0)})
        return RowOutcome(RowResult.IMPORT_TYPE_NEW, [*preview, balances["available"]], counts)
