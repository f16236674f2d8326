"""Celery tasks: thin wrappers around the job services (loyalty.services.jobs).

Each takes an optional `as_of` ISO 8601 string (default: now), calls one service and logs its counts.
All the jobs are idempotent, so the tasks are acknowledged late and re-delivered when a worker dies
mid-run (a re-run only does what is left), and retried with backoff on database errors.
The schedules live in django-celery-beat (created by migration loyalty 0005, editable in the admin).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import OperationalError, transaction

from loyalty import emails
from loyalty.kpi_rollup import kpi_rollup_run
from loyalty.services import jobs
from loyalty.services.program import config_memo
from loyalty.services.tiers import tiers_recalculate
from loyalty.services.verify import ledger_verify

logger = logging.getLogger(__name__)

JOB_TASK_OPTIONS: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": 30,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 5,
}


def enqueue_on_commit(task, **kwargs) -> None:
    """Queue `task` once the current database transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: task.delay(**kwargs))


def _run(name: str, service, as_of: str | None, **kwargs) -> dict:
    when = jobs.as_of_parse(as_of)
    with config_memo():  # one configuration for the whole run, read once (loyalty.services.program)
        result = service(as_of=when, progress=jobs.log_progress(name, log=logger), **kwargs)
    logger.info("%s as of %s: %s", name, when.isoformat(), result)
    return result


@shared_task(**JOB_TASK_OPTIONS)
def release_pending_points(as_of: str | None = None) -> dict:
    return _run("release_pending_points", jobs.pending_points_release, as_of)


@shared_task(**JOB_TASK_OPTIONS)
def expire_points(as_of: str | None = None, batch_size: int = jobs.EXPIRE_BATCH_SIZE) -> dict:
    return _run("expire_points", jobs.points_expire, as_of, batch_size=batch_size)


@shared_task(**JOB_TASK_OPTIONS)
def send_expiry_reminders(as_of: str | None = None) -> dict:
    return _run("send_expiry_reminders", jobs.expiry_reminders_send, as_of)


@shared_task(**JOB_TASK_OPTIONS)
def recalculate_tiers(as_of: str | None = None) -> dict:
    return _run("recalculate_tiers", tiers_recalculate, as_of)


@shared_task(**JOB_TASK_OPTIONS)
def award_birthday_bonuses(as_of: str | None = None) -> dict:
    return _run("award_birthday_bonuses", jobs.birthday_bonuses_award, as_of)


@shared_task(**JOB_TASK_OPTIONS)
def verify_ledger(as_of: str | None = None) -> dict:
    """Check every ledger invariant; each breach is logged at ERROR level (alert on it)."""
    problems = ledger_verify()
    for problem in problems:
        logger.error("verify_ledger: BROKEN %s", problem)
    logger.info("verify_ledger: %s problem(s)", len(problems))
    return {"problems": len(problems)}


@shared_task(**JOB_TASK_OPTIONS)
def roll_up_kpis(as_of: str | None = None) -> dict:
    """Add the ledger transactions, members and purchases recorded since the last run to the KPI dashboard's
    day sums (loyalty.kpi_rollup; `as_of` only dates the run)."""
    result = kpi_rollup_run(as_of=jobs.as_of_parse(as_of))
    logger.info("roll_up_kpis: %s", result)
    return result


# Emails: at least once (a failed delivery is retried by the task itself), acknowledged late like the jobs.
EMAIL_TASK_OPTIONS: dict[str, Any] = {**JOB_TASK_OPTIONS, "bind": True, "default_retry_delay": 300}


@shared_task(**EMAIL_TASK_OPTIONS)
def send_tier_upgrade_email(self, history_id: int) -> bool:
    return bool(emails.deliver(self, lambda: emails.tier_upgrade_email_send(history_id=history_id)))
