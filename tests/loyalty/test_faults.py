"""Fault tests on PostgreSQL (CI's second pass, with Redis): a web worker killed with SIGKILL in the middle of
a purchase stream, the app's database connections terminated in the middle of one, and a Celery worker killed
with SIGKILL in the middle of a job. Each is bounded in time and ends with verify_ledger and "every 2xx
purchase exists exactly once": clients retry a failed request with the same Idempotency-Key and body, as the
API contract tells them to, and every order ends up recorded once, with the points its answer gave.
"""

import http.client
import json
import os
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection, connections

from loyalty import celery_app, tasks
from loyalty.localserver import LocalServer, database_url
from loyalty.models import LedgerTransaction, Purchase, Store, TransactionKind
from loyalty.services.api_keys import api_key_create
from loyalty.services.verify import ledger_verify
from tests.factories import MemberFactory
from tests.loyalty.jobs_support import T0, earn, program_configure
from tests.loyalty.test_celery_worker import worker_start, worker_stop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ATTEMPTS = 30


class Client:
    """One till: purchases over one kept-alive HTTP connection, each retried (same key, same body) until it
    gets an answer that is not a 5xx or a broken connection."""

    def __init__(self, server: LocalServer, key: str) -> None:
        self.server, self.key = server, key
        self.connection: http.client.HTTPConnection | None = None
        self.retries = 0

    def post(self, path: str, body: dict, idempotency_key: str) -> tuple[int, dict]:
        payload = json.dumps(body)
        headers = {"Authorization": f"Api-Key {self.key}", "Content-Type": "application/json",
                   "Idempotency-Key": idempotency_key}
        for _attempt in range(ATTEMPTS):
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
                self.connection.request("POST", path, payload, headers)
                response = self.connection.getresponse()
                status, answer = response.status, response.read()
                if status < 500:
                    return status, json.loads(answer)
            except (OSError, http.client.HTTPException):
                pass
            if self.connection is not None:
                self.connection.close()
                self.connection = None
            self.retries += 1
            time.sleep(0.2)
        raise AssertionError(f"{path} {idempotency_key}: no answer after {ATTEMPTS} attempts")

    def purchase(self, member, order_id: str, total: str = "10.00") -> tuple[int, dict]:
        body = {"member": member.loyalty_id, "order_id": order_id, "total": total, "currency": "EUR"}
        return self.post("/api/v1/purchases/", body, idempotency_key=f"key-{order_id}")


@pytest.fixture
def shop(tmp_path):
    program_configure(pending_days=0)
    store = Store.objects.create(slug="till", name="Till")
    _api_key, key = api_key_create(store=store, scope="pos")
    members = [MemberFactory() for _ in range(8)]
    server = LocalServer(env={"DATABASE_URL": database_url(), "DEBUG": "true"}, workers=2,
                         log=tmp_path / "gunicorn.log").start()
    yield {"server": server, "key": key, "members": members}
    server.stop()


def stream(shop, *, threads: int = 4, orders: int = 25, during=None) -> dict[str, dict]:
    """Purchases from `threads` tills at once while `during()` runs; returns each order's 2xx answer, and
    checks that the fault did hit the stream (some requests had to be sent again)."""
    answers: dict[str, dict] = {}
    failures: list[str] = []
    clients: list[Client] = []

    def till(number: int) -> None:
        client = Client(shop["server"], shop["key"])
        clients.append(client)
        try:
            for n in range(orders):
                order_id = f"T{number}-{n:03d}"
                status, answer = client.purchase(shop["members"][(number + n) % len(shop["members"])], order_id)
                if status not in (200, 201):
                    failures.append(f"{order_id}: {status} {answer}")
                answers[order_id] = answer
        except AssertionError as error:
            failures.append(str(error))

    workers = [threading.Thread(target=till, args=(number,), daemon=True) for number in range(threads)]
    for worker in workers:
        worker.start()
    if during is not None:
        during(answers)
    for worker in workers:
        worker.join(timeout=240)
    assert not any(worker.is_alive() for worker in workers), "a till hung"
    assert failures == []
    assert sum(client.retries for client in clients) > 0, "the fault never hit a request"
    return answers


def assert_each_answered_purchase_exists_once(answers: dict[str, dict]) -> None:
    recorded = {p.order_id: p for p in Purchase.objects.filter(order_id__in=list(answers))}
    assert set(recorded) == set(answers)
    assert Purchase.objects.count() == len(answers)  # nothing else was recorded either
    for order_id, answer in answers.items():
        assert answer["order_id"] == order_id and answer["points"]["total"] == recorded[order_id].points_total
    assert LedgerTransaction.objects.filter(kind=TransactionKind.EARN).count() == len(answers)
    assert ledger_verify() == []


def wait_until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


class MemberLock:
    """Holds a member's row from another connection, so a purchase of that member waits inside its
    transaction (after its Idempotency-Key is claimed) until released."""

    def __init__(self, member) -> None:
        self.db = connections.create_connection("default")
        self.db.set_autocommit(False)
        with self.db.cursor() as cursor:
            cursor.execute("SELECT id FROM members_member WHERE id = %s FOR UPDATE", [member.pk])

    def release(self) -> None:
        self.db.rollback()
        self.db.close()


def _in_flight_purchase(shop, member, order_id: str) -> threading.Thread:
    """A purchase sent once (no retry) that waits on a MemberLock; its connection dies with the fault."""
    def send() -> None:
        probe = http.client.HTTPConnection("127.0.0.1", shop["server"].port, timeout=60)
        body = json.dumps({"member": member.loyalty_id, "order_id": order_id, "total": "10.00", "currency": "EUR"})
        try:
            probe.request("POST", "/api/v1/purchases/", body, {
                "Authorization": f"Api-Key {shop['key']}", "Content-Type": "application/json",
                "Idempotency-Key": f"key-{order_id}"})
            probe.getresponse().read()
        except (OSError, http.client.HTTPException):
            pass  # the fault broke it
        finally:
            probe.close()

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    wait_until(lambda: _waiting_on_a_lock() >= 1, timeout=30)
    return thread


def _waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type"
                       " = 'Lock'")
        return cursor.fetchone()[0]


def _retried_after_the_fault(shop, member, order_id: str) -> dict:
    status, answer = Client(shop["server"], shop["key"]).purchase(member, order_id)
    assert status in (200, 201), answer
    return answer


def test_a_web_worker_killed_in_the_middle_of_a_purchase_stream(shop):
    server = shop["server"]

    def kill_workers(answers) -> None:
        for round_ in range(3):  # three times, once the stream is going and the master has replaced the last
            wait_until(lambda: len(answers) >= 15 * (round_ + 1) and len(server.worker_pids()) == 2, timeout=120)
            server.kill_worker()

    answers = stream(shop, during=kill_workers)

    # And killed while a purchase is inside its transaction, its Idempotency-Key claimed: the retry with the
    # same key is not refused ("still being processed"), it records the purchase once.
    member = shop["members"][0]
    lock = MemberLock(member)
    sender = _in_flight_purchase(shop, member, "IN-FLIGHT")
    server.kill_workers()
    lock.release()
    sender.join(timeout=60)
    wait_until(lambda: len(server.worker_pids()) == 2, timeout=60)
    answers["IN-FLIGHT"] = _retried_after_the_fault(shop, member, "IN-FLIGHT")
    assert_each_answered_purchase_exists_once(answers)


def test_database_connections_terminated_in_the_middle_of_a_purchase_stream(shop):
    def terminate(_answers=None) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                           " WHERE datname = current_database() AND pid <> pg_backend_pid()")
            return cursor.fetchone()[0]

    def terminate_repeatedly(answers) -> None:
        for round_ in range(4):
            wait_until(lambda: len(answers) >= 15 * (round_ + 1), timeout=120)
            terminate()

    answers = stream(shop, during=terminate_repeatedly)

    # And terminated while a purchase waits inside its transaction: rolled back, then recorded once on retry.
    member = shop["members"][1]
    lock = MemberLock(member)
    sender = _in_flight_purchase(shop, member, "IN-FLIGHT")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                       " AND wait_event_type = 'Lock'")
    sender.join(timeout=60)
    lock.release()
    answers["IN-FLIGHT"] = _retried_after_the_fault(shop, member, "IN-FLIGHT")
    assert_each_answered_purchase_exists_once(answers)


@pytest.mark.redis
def test_a_celery_worker_killed_in_the_middle_of_the_expiry_job(tmp_path):
    """The job is delivered again once the broker's visibility timeout passes (5 s here), the new worker
    finishes what the killed one left, and no member's points expire twice."""
    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs a broker: set REDIS_URL=redis://127.0.0.1:6379/<n>")
    program_configure()
    members = [MemberFactory() for _ in range(60)]
    for number, member in enumerate(members):
        earn(member, 10 + number, T0, f"lot-{number}", available_at=T0)
    queue = f"loyalty-test-{uuid.uuid4().hex[:10]}"
    log = tmp_path / "workers.log"
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    first = worker_start(queue, log, CELERY_VISIBILITY_TIMEOUT="5")
    lock = MemberLock(members[35])  # batches of 10: the fourth one waits for it
    expired = LedgerTransaction.objects.filter(kind=TransactionKind.EXPIRE)
    try:
        tasks.expire_points.apply_async(
            kwargs={"as_of": (T0 + timedelta(days=31)).isoformat(), "batch_size": 10}, queue=queue
        )
        wait_until(lambda: expired.count() >= 30 and _waiting_on_a_lock() >= 1, timeout=120)
        first.kill()  # SIGKILL: no goodbye to the broker, the message stays unacknowledged
        first.wait(timeout=30)
        assert expired.count() == 30
        lock.release()
        second = worker_start(queue, log, CELERY_VISIBILITY_TIMEOUT="5")
        try:
            wait_until(lambda: expired.count() == 60, timeout=120)
            time.sleep(2)  # nothing more comes
        finally:
            worker_stop(second)
    finally:
        celery_app.conf.task_always_eager = eager
        worker_stop(first)
    assert expired.count() == 60
    assert sorted(expired.values_list("member_id", flat=True)) == sorted(member.pk for member in members)
    assert sum(-txn.points for txn in expired) == sum(10 + number for number in range(60))
    assert ledger_verify() == []
