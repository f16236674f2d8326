"""Celery tasks for rewards: thin wrappers around the services (schedule them with django-celery-beat)."""

from celery import shared_task
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from loyalty import emails
from loyalty.tasks import EMAIL_TASK_OPTIONS
from rewards.emails import reward_redeemed_email_send
from rewards.services import redemptions_expire


@shared_task(name="rewards.expire_coupons")
def expire_coupons(as_of: str | None = None) -> int:
    """Mark issued coupons past their expiry as expired; `as_of` ISO 8601, default now."""
    moment = parse_datetime(as_of) if as_of else None
    return redemptions_expire(as_of=moment or timezone.now())


@shared_task(**EMAIL_TASK_OPTIONS)
def send_reward_redeemed_email(self, redemption_id: int) -> bool:
    return bool(emails.deliver(self, lambda: reward_redeemed_email_send(redemption_id=redemption_id)))
