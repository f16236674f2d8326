"""The audit log of staff actions (loyalty.models.StaffAction): written by the bulk-action and import
services, in the same database transaction as the work they record."""

from typing import Any

from loyalty.models import StaffAction, StaffActionSource


def staff_action_record(
    *, kind: str, staff_user=None, count: int, details: dict[str, Any] | None = None
) -> StaffAction:
    """Record one bulk action or import. Without a staff user it was run from the command line."""
    return StaffAction.objects.create(
        kind=kind,
        staff_user=staff_user,
        source=StaffActionSource.ADMIN if staff_user is not None else StaffActionSource.COMMAND,
        count=count,
        details=details or {},
    )
