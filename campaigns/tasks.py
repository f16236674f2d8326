"""Celery tasks of the campaigns: thin wrappers around the services (see loyalty/tasks.py).

The jobs (`reward_referrals`, `close_challenges`, `award_leaderboard_prizes`, `refresh_leaderboards`) run on
beat schedules created by the campaigns' migrations, like loyalty's (acknowledged late, retried on database
errors: each is idempotent). The per-member tasks recount a member's challenges or leaderboard rows after a commit
(campaigns.receivers queues them): with a broker they leave the request at once; without one (development)
they run in-process after the commit.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils.dateparse import parse_datetime

from campaigns.models import Challenge
from campaigns.services import challenges as challenge_services
from campaigns.services import leaderboards as leaderboard_services
from campaigns.services.referrals import referrals_reward_due
from loyalty.tasks import JOB_TASK_OPTIONS, _run

logger = logging.getLogger(__name__)

MEMBER_TASK_OPTIONS = JOB_TASK_OPTIONS  # the same: idempotent recounts, safe to run again


def enqueue(task, **kwargs) -> None:
    """Queue `task`, never failing the caller: it runs after a commit that already happened, so a broker
    outage (or, in-process, an error in the task) is logged, and the daily jobs catch up."""
    try:
        if task.app.conf.task_always_eager:
            task(**kwargs)  # no broker: run it here and now (without a task log line per purchase)
        else:
            task.delay(**kwargs)
    except Exception:
        logger.exception("campaigns: %s(%s) failed", task.name, kwargs)


@shared_task(**JOB_TASK_OPTIONS)
def reward_referrals(as_of: str | None = None) -> dict:
    return _run("reward_referrals", referrals_reward_due, as_of)


@shared_task(**JOB_TASK_OPTIONS)
def close_challenges(as_of: str | None = None) -> dict:
    return _run("close_challenges", challenge_services.challenges_close, as_of)


@shared_task(**JOB_TASK_OPTIONS)
def award_leaderboard_prizes(as_of: str | None = None) -> dict:
    return _run("award_leaderboard_prizes", leaderboard_services.leaderboard_prizes_award, as_of)


@shared_task(**JOB_TASK_OPTIONS)
def refresh_leaderboards(as_of: str | None = None) -> dict:
    return _run("refresh_leaderboards", leaderboard_services.leaderboards_refresh, as_of)


@shared_task(**MEMBER_TASK_OPTIONS)
def challenge_progress_refresh(member_id: int, goals: list[str] | None = None) -> int:
    """Recount the member's open challenges; returns how many this completed."""
    return len(challenge_services.challenge_progress_member_refresh(member_id=member_id, goals=goals))


@shared_task(**MEMBER_TASK_OPTIONS)
def challenge_progress_backfill(challenge_id: int) -> dict:
    """Count everyone's progress on a new or changed challenge since it started."""
    challenge = Challenge.objects.filter(pk=challenge_id).first()
    if challenge is None:
        return {"completed": 0}
    return challenge_services.challenge_progress_backfill(challenge=challenge)


@shared_task(**MEMBER_TASK_OPTIONS)
def leaderboard_members_refresh(member_ids: list[int]) -> int:
    """The leaderboard rows of members whose status staff changed in bulk; returns how many were refreshed."""
    return leaderboard_services.leaderboard_members_refresh(member_ids=member_ids)


@shared_task(**MEMBER_TASK_OPTIONS)
def leaderboard_member_refresh(member_id: int, at: str | None = None) -> bool:
    """Recompute the member's leaderboard rows for the periods containing `at` (ISO 8601; default now)."""
    return leaderboard_services.leaderboard_member_refresh(member_id=member_id, at=parse_datetime(at) if at else None)
