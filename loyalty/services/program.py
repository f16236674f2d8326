from datetime import datetime, timedelta

from django.utils import timezone

from loyalty.models import ExpiryExtension, Program


def program_get() -> Program:
    """The program's settings row, created with the defaults on first use."""
    program, _created = Program.objects.get_or_create(pk=1)
    return program


def lot_expiry(program: Program, earned_at: datetime) -> datetime | None:
    """When points earned at `earned_at` expire: N days later, optionally pushed to month or year end.

    "Until the end of the month" means the points expire at local midnight starting the next month.
    """
    if program.points_valid_days is None:
        return None
    expires_at = earned_at + timedelta(days=program.points_valid_days)
    if program.expiry_extends_to == ExpiryExtension.NONE:
        return expires_at
    local = timezone.localtime(expires_at)
    if program.expiry_extends_to == ExpiryExtension.MONTH_END:
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    else:
        year, month = local.year + 1, 1
    return timezone.make_aware(datetime(year, month, 1))
