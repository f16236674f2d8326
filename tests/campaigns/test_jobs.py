"""The campaigns' Celery tasks, their beat schedules, and the after-commit hooks that never fail a purchase."""

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from campaigns import receivers, tasks
from campaigns.models import Challenge, ChallengeProgress
from loyalty import celery_app
from tests.campaigns.conftest import buy, challenge

pytestmark = pytest.mark.django_db

JOB_TASKS = {
    "campaigns.tasks.close_challenges": ("5", "*", "*"),
    "campaigns.tasks.refresh_leaderboards": ("30", "1", "*"),
    "campaigns.tasks.award_leaderboard_prizes": ("30", "2", "1"),
}


def test_default_schedules_exist_and_point_at_registered_tasks():
    scheduled = {t.task: t for t in PeriodicTask.objects.filter(task__startswith="campaigns.tasks.")}
    assert set(JOB_TASKS) <= set(scheduled)
    for name, (minute, hour, day) in JOB_TASKS.items():
        task = scheduled[name]
        assert task.enabled and name in celery_app.tasks
        assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_month) == (minute, hour, day)
        assert str(task.crontab.timezone) == "Europe/Amsterdam"


def test_tasks_are_late_acked_and_retry_on_database_errors():
    for name in [*JOB_TASKS, "campaigns.tasks.challenge_progress_refresh", "campaigns.tasks.leaderboard_member_refresh",
                 "campaigns.tasks.challenge_progress_backfill"]:
        task = celery_app.tasks[name]
        assert task.acks_late is True and OperationalError in task.autoretry_for


def test_close_challenges_task_takes_an_as_of(store, member):
    goal = challenge(target=1, ends_at=timezone.now() - timedelta(hours=1),
                     starts_at=timezone.now() - timedelta(days=2))
    buy(store, member, at=timezone.now() - timedelta(days=1))
    result = tasks.close_challenges.delay(as_of=timezone.now().isoformat()).get()
    assert result == {"challenges": 1, "completed": 1, "expired": 0, "failed": 0}
    assert Challenge.objects.get(pk=goal.pk).closed_at is not None


def test_a_failing_recount_never_fails_the_purchase(store, member, committed, monkeypatch, caplog):
    goal = challenge(target=5)

    def broken(**kwargs):
        raise OperationalError("the database went away")

    monkeypatch.setattr(receivers.challenge_progress_refresh, "run", broken)
    with committed():
        purchase = buy(store, member)  # committed: the recount after it fails, the purchase stands
    assert purchase.pk and not ChallengeProgress.objects.filter(challenge=goal).exists()
    assert "challenge_progress_refresh" in caplog.text
