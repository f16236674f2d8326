"""Celery tasks for rewards: thin wrappers around the services (schedule them with django-celery-beat)."""

from celery import shared_task
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from rewards.services import redemptions_expire


@shared_task(name="rewards.expire_coupons")
def expire_coupons(as_of: str | None = None) -> int:
    """Mark issued coupons past their expiry as expired; `as_of` ISO 8601, default now."""
    moment = parse_datetime(as_of) if as_of else None
    return redemptions_expire(as_of=moment or timezone.now())
