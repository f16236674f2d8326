"""Two real server processes without Redis (each with its own local-memory cache) see a configuration change
made through the other one, or straight in the database, on their very next request.

On SQLite the servers share a database file (a copy of the test database); on PostgreSQL the test database.
"""

import json
import sqlite3
import urllib.request
from decimal import Decimal

import pytest
from django.db import connection

from loyalty.localserver import LocalServer, database_url
from loyalty.models import Program, Store
from loyalty.services.api_keys import api_key_create
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db(transaction=True)


def call(server, key, method, path, body=None):
    request = urllib.request.Request(
        f"{server.url}{path}", method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Api-Key {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own local server
        return response.status, json.loads(response.read())


def shared_database(tmp_path):
    """(DATABASE_URL for the servers, a function running SQL on that database), once the data is made."""
    if connection.vendor == "postgresql":
        def execute(sql):
            with connection.cursor() as cursor:
                cursor.execute(sql)
        return database_url(), execute
    path = tmp_path / "shared.sqlite3"
    with sqlite3.connect(path) as copy:
        connection.ensure_connection()
        connection.connection.backup(copy)

    def execute(sql):
        with sqlite3.connect(path) as db:
            db.execute(sql)
    return f"sqlite:///{path}", execute


def test_both_processes_earn_and_quote_with_a_change_made_through_either(tmp_path):
    Program.objects.update_or_create(pk=1, defaults={"pending_days": 14, "max_discount_percent": 50})
    store = Store.objects.create(slug="web", name="Web")
    _api_key, key = api_key_create(store=store, scope="admin")
    member = MemberFactory()
    url, execute = shared_database(tmp_path)
    env = {"DATABASE_URL": url, "REDIS_URL": "", "DEBUG": "true", "CACHE_KEY_PREFIX": "two-processes"}
    orders = iter(range(1000))

    def purchase(server):
        body = {"member": member.loyalty_id, "order_id": f"O-{next(orders)}", "total": "20.00", "currency": "EUR"}
        status, answer = call(server, key, "POST", "/api/v1/purchases/", body)
        assert status == 201, answer
        return answer

    def quote(server):
        body = {"member": member.loyalty_id, "subtotal": "100.00", "currency": "EUR"}
        return call(server, key, "POST", "/api/v1/redemptions/quote/", body)[1]

    with LocalServer(env=env, log=tmp_path / "a.log") as one, LocalServer(env=env, log=tmp_path / "b.log") as two:
        servers = (one, two)
        for server in servers:  # each process reads (and caches) the settings
            assert purchase(server)["status"] == "pending"
        available = purchase(one)["member_points"]["available"]
        assert available == 0

        status, program = call(one, key, "PATCH", "/api/v1/program/", {"pending_days": 0, "max_discount_percent": 10})
        assert status == 200 and program["pending_days"] == 0
        for _round in range(3):  # every following request, on both
            for server in servers:
                assert purchase(server)["status"] == "available"
                assert Decimal(quote(server)["max_discount"]) <= Decimal("10.00")

        # A change made around every save signal (a queryset update(), SQL): raised by the database trigger.
        execute("UPDATE loyalty_program SET earn_rate = 3 WHERE id = 1")
        for server in servers:
            assert purchase(server)["points"]["total"] == 60
