"""Shared helpers of the job tests (test_expiry, test_jobs, test_celery)."""

from datetime import datetime, timedelta

from django.utils import timezone

from loyalty.services.ledger import Audit, points_credit
from loyalty.services.program import program_get

T0 = timezone.make_aware(datetime(2025, 3, 3, 12, 0))  # a Monday in the past, 12:00 Amsterdam


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def program_configure(**fields):
    """The program with points valid 30 days, plus `fields`."""
    program = program_get()
    for name, value in {"points_valid_days": 30, **fields}.items():
        setattr(program, name, value)
    program.save()
    return program


def earn(member, points, at, key, **kwargs):
    """Credit `points` earned at `at` (kwargs go to points_credit, e.g. available_at and now)."""
    audit = Audit(reason="earn", idempotency_key=key, occurred_at=at)
    return points_credit(member=member, points=points, audit=audit, **kwargs)
