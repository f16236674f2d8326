"""The load generator of `manage.py bench_load`: locust users driving the API and the portal over HTTP.

Run as a child process by the command:

    python -m loyalty.loadtest PLAN.json RESULT.json

PLAN.json (written by the command) names the server, the API key, the members, the portal sessions and the
phases to run in order; RESULT.json gets for each phase, per operation, the requests, failures, expected
refusals, 5xx answers and the latency percentiles of the measured window, plus this process's CPU time.

Why a child process: importing locust monkeypatches the standard library with gevent (sockets, ssl, threads,
time). In the command's process, which holds Django's psycopg connection, that broke at once (tried: ssl's
context setup recursed, then Django refused its connection as "created in another thread"). Here nothing
touches the database or Django, and the generator's CPU is its own process's, measured apart from the
server's and the database's.
"""

from __future__ import annotations

import itertools
import json
import random
import secrets
import sys
import time
from collections import Counter, deque
from typing import Any

import gevent
from locust import FastHttpUser, constant, task
from locust.env import Environment

RATIO_PHASES = ("purchases", "trivial_post", "trivial_write")  # purchases only, then the two trivial endpoints
PURCHASE_TOTAL = "59.90"
REFUND_AMOUNT = "10.00"
REDEEM_POINTS = 50
HOT_REDEEM_POINTS = 50


class Plan:
    """What the command built, read from PLAN.json once per process."""

    url = ""
    api_key = ""
    currency = "EUR"
    tag = ""
    members: list[str] = []  # noqa: RUF012 - filled once before any user starts
    hot_member = ""
    reward = ""
    sessions: list[str] = []  # noqa: RUF012
    session_cookie = "sessionid"


class Tally:
    """Per operation: the statuses answered and the errors over the whole phase (warm-up and the graceful stop
    included), and the expected refusals and 5xx answers of the measured window (reset with locust's
    statistics when the warm-up ends)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.answered: dict[str, Counter] = {}
        self.errors: Counter = Counter()  # (operation, message)
        self.refused: Counter = Counter()
        self.server_errors: Counter = Counter()
        self.min_available: int | None = None
        self.min_available_op = ""

    def reset_window(self) -> None:
        self.refused.clear()
        self.server_errors.clear()

    def status(self, op: str, code: int) -> None:
        self.answered.setdefault(op, Counter())[code] += 1
        if code >= 500:
            self.server_errors[op] += 1

    def available(self, op: str, points: int | None) -> None:
        if points is not None and (self.min_available is None or points < self.min_available):
            self.min_available, self.min_available_op = points, op


TALLY = Tally()
ORDERS: deque[str] = deque()  # purchases answered 201 in this phase, refunded oldest first
SEQUENCE = itertools.count()
PROCESS = secrets.token_hex(3)  # a phase may run twice (the ratio phases' halves): order ids stay unique


def _order_id(phase: str) -> str:
    return f"load-{Plan.tag}-{phase}-{PROCESS}-{next(SEQUENCE)}"


def _purchase_body(member: str, order_id: str) -> dict:
    return {
        "member": member, "order_id": order_id, "total": PURCHASE_TOTAL, "currency": Plan.currency,
        "lines": [{"sku": "MUG-01", "quantity": 2, "amount": "12.00"},
                  {"sku": "TEE-L", "quantity": 1, "amount": "35.90"}],
    }


class _ApiUser(FastHttpUser):
    """A till or web shop: requests back to back (no think time) over one kept-alive connection."""

    abstract = True
    wait_time = constant(0)
    phase = ""

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Api-Key {Plan.api_key}"}

    def _call(self, method: str, path: str, op: str, *, expect: tuple[int, ...], refusals: tuple[str, ...] = (),
              **kwargs) -> Any:
        """One request named `op`: a status in `expect` succeeds; a 4xx whose code is in `refusals` (e.g.
        insufficient_points) is an expected refusal, counted apart and not an error; anything else fails.
        Returns the answer's JSON when it succeeded, else None."""
        kwargs.setdefault("headers", self._headers())
        with self.client.request(method, path, name=op, catch_response=True, **kwargs) as response:
            code = response.status_code or 0
            TALLY.status(op, code)
            body: Any = None
            if code in expect:
                response.success()
                body = _json(response)
            elif refusals and 400 <= code < 500 and (_json(response) or {}).get("code") in refusals:
                response.success()
                TALLY.refused[op] += 1
            else:
                message = f"{code}: {(response.text or str(response.error))[:200]}"
                TALLY.errors[op, message] += 1
                response.failure(message)
            return body

    def purchase(self, member: str) -> None:
        order_id = _order_id(self.phase)
        body = self._call("POST", "/api/v1/purchases/", "purchase", expect=(201,),
                          json=_purchase_body(member, order_id))
        if body is not None:
            ORDERS.append(order_id)
            TALLY.available("purchase", body.get("member_points", {}).get("available"))

    def balance(self, member: str) -> None:
        body = self._call("GET", f"/api/v1/members/{member}/balance/", "balance", expect=(200,))
        if body is not None:
            TALLY.available("balance", body.get("available"))

    def redeem_points(self, member: str, points: int) -> None:
        data = {"member": member, "points": points, "order_id": _order_id(self.phase)}
        body = self._call("POST", "/api/v1/redemptions/", "redeem", expect=(201,),
                          refusals=("insufficient_points",), json=data)
        if body is not None:
            TALLY.available("redeem", body.get("member_points", {}).get("available"))


class MixUser(_ApiUser):
    """The mixed day: 70 % purchases, 10 % refunds, 10 % balance reads, 2.5 % quotes, 2.5 % redemptions
    (catalogue and pay with points in turn), 5 % portal dashboards of signed-in members."""

    phase = "mix"

    def on_start(self) -> None:
        """One request of each operation first (in the warm-up), so even a short run exercises them all."""
        self.catalogue = random.random() < 0.5  # noqa: S311 - picking load, not secrets
        for operation in (self.purchase_task, self.refund_task, self.balance_task, self.quote_task,
                          self.redeem_task, self.portal_task):
            operation()

    @task(140)
    def purchase_task(self) -> None:
        self.purchase(random.choice(Plan.members))  # noqa: S311

    @task(20)
    def refund_task(self) -> None:
        if not ORDERS:  # nothing bought yet in this phase
            return
        order_id = ORDERS.popleft()
        self._call("POST", f"/api/v1/purchases/{order_id}/refunds/", "refund", expect=(201,),
                   json={"refund_id": "r1", "amount": REFUND_AMOUNT})

    @task(20)
    def balance_task(self) -> None:
        self.balance(random.choice(Plan.members))  # noqa: S311

    @task(5)
    def quote_task(self) -> None:
        data = {"member": random.choice(Plan.members), "subtotal": "40.00", "currency": Plan.currency}  # noqa: S311
        self._call("POST", "/api/v1/redemptions/quote/", "quote", expect=(200,), json=data)

    @task(5)
    def redeem_task(self) -> None:
        member = random.choice(Plan.members)  # noqa: S311
        self.catalogue = not self.catalogue
        if not self.catalogue:
            self.redeem_points(member, REDEEM_POINTS)
            return
        self._call("POST", "/api/v1/redemptions/", "redeem", expect=(201,), refusals=("insufficient_points",),
                   json={"member": member, "reward": Plan.reward})

    @task(10)
    def portal_task(self) -> None:
        cookie = f"{Plan.session_cookie}={random.choice(Plan.sessions)}"  # noqa: S311
        with self.client.request("GET", "/", name="portal", catch_response=True, allow_redirects=False,
                                 headers={"Cookie": cookie}) as response:
            code = response.status_code or 0
            TALLY.status("portal", code)
            # The member's dashboard shows the card number; a login page or the "no member" page does not.
            if code == 200 and 'id="loyalty-id"' in (response.text or ""):
                response.success()
            else:
                message = f"{code}: not a signed-in member's dashboard"
                TALLY.errors["portal", message] += 1
                response.failure(message)


class PurchaseUser(_ApiUser):
    """Purchases only: the numerator of the ratio to a trivial endpoint."""

    phase = "purchases"

    @task
    def purchase_task(self) -> None:
        self.purchase(random.choice(Plan.members))  # noqa: S311


class TrivialPostUser(_ApiUser):
    """bench_api's trivial POST: the same API-key authentication and DRF, no work (no database write)."""

    phase = "trivial_post"

    @task
    def trivial(self) -> None:
        body = _purchase_body(Plan.members[0], "x")
        self._call("POST", "/bench/ok/", "trivial POST", expect=(200,), json=body)


class TrivialWriteUser(_ApiUser):
    """bench_api's trivial write: one row inserted in a transaction that commits."""

    phase = "trivial_write"

    @task
    def trivial(self) -> None:
        self._call("POST", "/bench/write/", "trivial write", expect=(200,),
                   json=_purchase_body(Plan.members[0], "x"))


class HotUser(_ApiUser):
    """Many tills serving ONE member at once: purchases, redemptions and balance reads. Redemptions outrun
    the points earned, so many are refused (422 insufficient_points): what must never happen is a balance
    below zero."""

    phase = "hot"

    @task(2)
    def purchase_task(self) -> None:
        self.purchase(Plan.hot_member)

    @task(3)
    def redeem_task(self) -> None:
        self.redeem_points(Plan.hot_member, HOT_REDEEM_POINTS)

    @task(1)
    def balance_task(self) -> None:
        self.balance(Plan.hot_member)


USERS = {"mix": MixUser, "purchases": PurchaseUser, "trivial_post": TrivialPostUser,
         "trivial_write": TrivialWriteUser, "hot": HotUser}


def _json(response) -> Any:
    try:
        return response.json()
    except (ValueError, TypeError):
        return None


def _cpu() -> float:
    return time.process_time()


def phase_run(*, phase: str, users: int, warmup: float, seconds: float, index: int) -> dict:
    """Run `users` users of the phase's class for `warmup` + `seconds`; the figures are of the last `seconds`.
    Then the users stop gracefully (each finishes its request), so every answer is counted in `answered`.
    The measured window is announced on stdout (MEASURE / MEASURED lines) for the command to read the
    server's and the database's CPU at its edges."""
    TALLY.reset()
    environment = Environment(user_classes=[USERS[phase]], host=Plan.url, stop_timeout=60)
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=max(users * 10, 1))
    gevent.sleep(warmup)
    environment.stats.reset_all()
    TALLY.reset_window()
    print(f"MEASURE {index} {phase}", flush=True)
    wall, cpu = time.monotonic(), _cpu()
    gevent.sleep(seconds)
    wall, cpu = time.monotonic() - wall, _cpu() - cpu
    print(f"MEASURED {index} {phase}", flush=True)
    operations = {}
    for (name, _method), entry in sorted(environment.stats.entries.items()):
        operations[name] = {
            "requests": entry.num_requests, "failures": entry.num_failures,
            "refused": TALLY.refused[name], "server_errors": TALLY.server_errors[name],
            "per_second": entry.num_requests / wall,
            "p50": entry.get_response_time_percentile(0.50), "p95": entry.get_response_time_percentile(0.95),
            "p99": entry.get_response_time_percentile(0.99), "mean": entry.avg_response_time,
        }
    runner.quit()
    errors = [{"operation": op, "error": message, "count": count}
              for (op, message), count in TALLY.errors.most_common()]
    return {
        "phase": phase, "users": users, "seconds": wall, "cpu_seconds": cpu, "operations": operations,
        "errors": errors, "answered": {op: dict(counts) for op, counts in TALLY.answered.items()},
        "min_available": TALLY.min_available, "min_available_op": TALLY.min_available_op,
    }


def probe(path: str) -> int:
    """The status of one GET (the trivial endpoint exists on bench servers only)."""
    from geventhttpclient import URL, HTTPClient

    url = URL(Plan.url + path)
    client = HTTPClient.from_url(url, connection_timeout=10, network_timeout=30)
    try:
        return client.get(url.request_uri, headers={"Authorization": f"Api-Key {Plan.api_key}"}).status_code
    finally:
        client.close()


def main(argv: list[str]) -> int:
    """Run the plan's phases in order; phases on the trivial endpoints are dropped when the server has none."""
    if len(argv) != 2:
        print("usage: python -m loyalty.loadtest PLAN.json RESULT.json", file=sys.stderr)
        return 2
    plan_path, result_path = argv
    with open(plan_path) as file:
        plan = json.load(file)
    for name in ("url", "api_key", "currency", "tag", "members", "hot_member", "reward", "sessions", "session_cookie"):
        setattr(Plan, name, plan[name])
    phases = plan["phases"]
    trivial = not any(phase["phase"].startswith("trivial") for phase in phases) or probe("/bench/ok/") == 200
    if not trivial:
        phases = [phase for phase in phases if phase["phase"] not in RATIO_PHASES]
    results = [phase_run(index=index, **phase) for index, phase in enumerate(phases)]
    with open(result_path, "w") as file:
        json.dump({"phases": results, "trivial_endpoint": trivial}, file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
