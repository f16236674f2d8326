"""A real Celery worker (subprocess) consuming job tasks from Redis against the test database.

Runs only with PostgreSQL (DATABASE_URL) and a broker (REDIS_URL), e.g. in CI's second pass. The
worker gets DATABASE_URL pointing at pytest-django's test database and its own queue, so it neither
touches the developer database nor steals tasks from anyone else on the same Redis.
"""

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from loyalty import celery_app, tasks
from loyalty.models import LedgerTransaction, Tier, TransactionKind
from loyalty.selectors import member_points_get
from loyalty.services.ledger import Audit, points_credit
from members.models import Member
from tests.factories import MemberFactory
from tests.loyalty.jobs_support import T0, program_configure

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

def _database_url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "postgres")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(tmp_path):
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        pytest.skip("needs a broker: set REDIS_URL=redis://127.0.0.1:6379/<n>")
    queue = f"loyalty-test-{uuid.uuid4().hex[:10]}"
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CACHE_KEY_PREFIX": settings.CACHE_KEY_PREFIX,  # the prefix derived from the database would differ
        "DATABASE_URL": _database_url(),
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "loyalty", "worker", "--pool=solo", "-Q", queue,
             "-n", f"{queue}@%h", "--without-gossip", "--without-mingle", "--loglevel=INFO"],
            env=env, cwd=Path(settings.BASE_DIR), stdout=out, stderr=subprocess.STDOUT,
        )
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False  # this test goes through the broker
    try:
        yield {"queue": queue, "log": log, "process": process}
    finally:
        celery_app.conf.task_always_eager = eager
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_for(condition, worker, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if worker["process"].poll() is not None:
            break
        time.sleep(0.5)
    tail = worker["log"].read_text()[-4000:]
    raise AssertionError(f"the worker did not do it in time (exit {worker['process'].poll()}):\n{tail}")


def test_worker_runs_expiry_and_tier_tasks_from_the_broker(worker):
    program_configure()
    silver = Tier.objects.create(code="silver", name="Silver", rank=1, threshold=50)
    member = MemberFactory()
    points_credit(member=member, points=80, audit=Audit(reason="earn", idempotency_key="w1", occurred_at=T0))
    Member.objects.filter(pk=member.pk).update(tier=None, tier_since=None)  # out of date: recalculation fixes it

    tasks.expire_points.apply_async(kwargs={"as_of": (T0 + timedelta(days=31)).isoformat()}, queue=worker["queue"])
    tasks.recalculate_tiers.apply_async(kwargs={"as_of": (T0 + timedelta(days=1)).isoformat()}, queue=worker["queue"])

    _wait_for(lambda: LedgerTransaction.objects.filter(member=member, kind=TransactionKind.EXPIRE).exists(), worker)
    assert member_points_get(member=member)["available"] == 0
    _wait_for(lambda: Member.objects.filter(pk=member.pk, tier=silver).exists(), worker)
    log = worker["log"].read_text()
    assert "Task loyalty.tasks.expire_points" in log and "Task loyalty.tasks.recalculate_tiers" in log
