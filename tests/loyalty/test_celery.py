"""The Celery tasks (run eagerly here) and their default beat schedules."""

import os
from datetime import timedelta

import pytest
from django.db import OperationalError
from django_celery_beat.models import PeriodicTask

from loyalty import celery_app, tasks
from loyalty.models import LedgerTransaction, TransactionKind
from loyalty.selectors import member_points_get
from loyalty.services import jobs
from loyalty.services.ledger import Audit, points_credit
from tests.loyalty.jobs_support import T0, program_configure

JOB_TASKS = {
    "loyalty.tasks.release_pending_points": ("0", "*"),
    "loyalty.tasks.expire_points": ("0", "2"),
    "loyalty.tasks.recalculate_tiers": ("0", "3"),
    "loyalty.tasks.verify_ledger": ("0", "4"),
    "loyalty.tasks.award_birthday_bonuses": ("0", "6"),
    "loyalty.tasks.send_expiry_reminders": ("0", "9"),
    "loyalty.tasks.roll_up_kpis": ("*/10", "*"),
    "rewards.expire_coupons": ("0", "1"),
    "campaigns.tasks.reward_referrals": ("30", "*"),
    "campaigns.tasks.close_challenges": ("5", "*"),
    "campaigns.tasks.refresh_leaderboards": ("30", "1"),
    "campaigns.tasks.award_leaderboard_prizes": ("30", "2"),  # on the 1st (tests/campaigns/test_jobs.py)
}
OUR_APPS = ("loyalty.", "members.", "rewards.", "campaigns.")
celery_app.loader.import_default_modules()  # every app's tasks module, as a worker imports them


@pytest.fixture
def program(db):
    return program_configure()


def test_tests_run_tasks_eagerly_unless_told_otherwise():
    """CI's PostgreSQL pass sets REDIS_URL; tests must still not enqueue to Redis by accident."""
    expected = os.environ.get("CELERY_TASK_ALWAYS_EAGER", "true") == "true"
    assert celery_app.conf.task_always_eager is expected


@pytest.mark.django_db
def test_default_schedules_exist_and_point_at_registered_tasks():
    scheduled = {t.task: t for t in PeriodicTask.objects.all() if t.task.startswith(OUR_APPS)}
    assert set(scheduled) == set(JOB_TASKS)
    for name, (minute, hour) in JOB_TASKS.items():
        task = scheduled[name]
        assert task.enabled and name in celery_app.tasks
        assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == (minute, hour, "*")
        assert str(task.crontab.timezone) == "Europe/Amsterdam"


def test_every_task_is_late_acked_and_retries_on_database_errors():
    """Every task of ours is idempotent: a dead worker's task is delivered again, a lost database retried."""
    ours = [name for name in celery_app.tasks if name.startswith(OUR_APPS)]
    assert set(JOB_TASKS) <= set(ours)
    for name in ours:
        task = celery_app.tasks[name]
        assert task.acks_late is True and task.reject_on_worker_lost is True
        assert OperationalError in task.autoretry_for
        assert task.retry_backoff and task.max_retries == 5


@pytest.mark.django_db
def test_expire_task_runs_the_service_with_its_as_of(program, member):
    points_credit(member=member, points=40, audit=Audit(reason="earn", idempotency_key="a", occurred_at=T0))
    result = tasks.expire_points.delay(as_of=(T0 + timedelta(days=29)).isoformat()).get()
    assert result["points"] == 0
    result = tasks.expire_points.delay(as_of=(T0 + timedelta(days=30)).isoformat()).get()
    assert (result["members"], result["points"]) == (1, 40)
    assert member_points_get(member=member)["available"] == 0


@pytest.mark.django_db
def test_other_job_tasks_run(program, member):
    points_credit(member=member, points=10, audit=Audit(reason="earn", idempotency_key="a", occurred_at=T0),
                  available_at=T0 + timedelta(days=5), now=T0)
    assert tasks.release_pending_points.delay(as_of=(T0 + timedelta(days=5)).isoformat()).get()["points"] == 10
    assert tasks.send_expiry_reminders.delay(as_of=(T0 + timedelta(days=20)).isoformat()).get()["sent"] == 1
    assert tasks.award_birthday_bonuses.delay().get()["members"] == 0
    assert "members" in tasks.recalculate_tiers.delay(as_of=T0.isoformat()).get()
    assert tasks.verify_ledger.delay().get() == {"problems": 0}


@pytest.mark.django_db
def test_verify_task_logs_each_breach(program, member, caplog):
    from loyalty.models import LedgerAccount

    LedgerAccount.objects.filter(member=member, kind="available").update(balance=5)  # drift
    assert tasks.verify_ledger.delay().get() == {"problems": 2}
    assert any(r.levelname == "ERROR" and "BROKEN" in r.message for r in caplog.records)


@pytest.mark.django_db
def test_task_retries_on_operational_error(program, member, monkeypatch):
    points_credit(member=member, points=40, audit=Audit(reason="earn", idempotency_key="a", occurred_at=T0))
    real = jobs.points_expire
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("could not serialize access")
        return real(**kwargs)

    monkeypatch.setattr(jobs, "points_expire", flaky)
    # throw=False: let apply() run the retry eagerly instead of raising Retry (tests propagate errors)
    result = tasks.expire_points.apply(kwargs={"as_of": (T0 + timedelta(days=31)).isoformat()}, throw=False).get()
    assert len(calls) == 2 and result["points"] == 40


def test_task_refuses_a_bad_as_of():
    with pytest.raises(ValueError):
        tasks.expire_points.apply(kwargs={"as_of": "soon"}).get()


@pytest.mark.django_db
def test_enqueue_on_commit_waits_for_the_commit(program, member, django_capture_on_commit_callbacks):
    points_credit(member=member, points=40, audit=Audit(reason="earn", idempotency_key="a", occurred_at=T0))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        tasks.enqueue_on_commit(tasks.expire_points, as_of=(T0 + timedelta(days=31)).isoformat())
        assert not LedgerTransaction.objects.filter(kind=TransactionKind.EXPIRE).exists()
    assert len(callbacks) == 1
    assert LedgerTransaction.objects.filter(kind=TransactionKind.EXPIRE).count() == 1
