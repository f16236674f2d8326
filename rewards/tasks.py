"""Celery tasks for rewards: thin wrappers around the services, scheduled by django-celery-beat."""

from celery import shared_task

from loyalty.tasks import JOB_TASK_OPTIONS, _run
from rewards.services import redemptions_expire


def _expire(*, as_of, progress, **kwargs) -> dict:
    return {"expired": redemptions_expire(as_of=as_of)}


@shared_task(name="rewards.expire_coupons", **JOB_TASK_OPTIONS)
def expire_coupons(as_of: str | None = None) -> dict:
    """Mark issued coupons past their expiry as expired; `as_of` ISO 8601, default now. Idempotent."""
    return _run("expire_coupons", _expire, as_of)
