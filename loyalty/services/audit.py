"""The audit log of staff actions (loyalty.models.StaffAction): written by the bulk-action and import
services, and by the services of single staff changes (a manual adjustment, a membership closed, an action
recorded), in the same database transaction as the work they record."""

from typing import Any

from loyalty.models import ApiKey, StaffAction, StaffActionSource


def api_key_label(api_key: ApiKey) -> str:
    """How the audit log names an API key: its prefix (never the key) and its name."""
    return f"{api_key.prefix}… {api_key.name}".strip()


def staff_action_record(
    *, kind: str, staff_user=None, count: int, details: dict[str, Any] | None = None, api_key: ApiKey | None = None
) -> StaffAction:
    """Record one bulk action, import or staff change. With `api_key` it came through the REST API (admin
    scope: no staff user, the key is named in the details); without either it was run from the command line."""
    details = dict(details or {})
    if staff_user is not None:
        source = StaffActionSource.ADMIN
    elif api_key is not None:
        source = StaffActionSource.API
        details["api_key"] = api_key_label(api_key)
    else:
        source = StaffActionSource.COMMAND
    return StaffAction.objects.create(
        kind=kind,
        staff_user=staff_user,
        source=source,
        count=count,
        details=details,
    )
