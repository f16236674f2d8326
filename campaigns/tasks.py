"""Celery tasks of the campaigns: thin wrappers around their job services (see loyalty/tasks.py)."""

from __future__ import annotations

from celery import shared_task

from campaigns.services.referrals import referrals_reward_due
from loyalty.tasks import JOB_TASK_OPTIONS, _run


@shared_task(**JOB_TASK_OPTIONS)
def reward_referrals(as_of: str | None = None) -> dict:
    return _run("reward_referrals", referrals_reward_due, as_of)
