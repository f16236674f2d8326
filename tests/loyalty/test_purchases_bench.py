"""The bench_api command: its bulk-built history is a sound ledger, and a tiny run completes."""

import pytest
from django.core.management import call_command

from loyalty.management.commands.bench_api import history_build
from loyalty.models import IdempotencyRecord, LedgerEntry
from loyalty.selectors import member_points_get
from loyalty.services.verify import ledger_verify

pytestmark = pytest.mark.django_db


def test_history_build_keeps_the_ledger_sound(member):
    history_build(member=member, entries=100)
    assert LedgerEntry.objects.filter(account__member=member).count() == 100
    member.refresh_from_db()
    assert member_points_get(member=member) == {"available": 0, "pending": 0, "lifetime_earned": 500}
    assert ledger_verify() == []


def test_tiny_benchmark_run(capsys):
    call_command("bench_api", n=2, rounds=1, history=20, noinput=True)
    out = capsys.readouterr().out
    assert "POST /purchases/" in out and "trivial GET" in out
    assert "purchases / trivial POST" in out and "verify_ledger: sound" in out
    assert "trivial write (1 INSERT + commit)" in out and "purchases / trivial write (commits)" in out
    assert "2 tiers configured" in out
    assert IdempotencyRecord.objects.filter(scope="bench_api").exists()  # the write baseline really inserts


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the server process must see the committed data
def test_tiny_benchmark_run_over_http(capsys):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("--server needs a database the gunicorn process can open: PostgreSQL here")
    call_command("bench_api", n=2, rounds=1, history=20, noinput=True, server=True)
    out = capsys.readouterr().out
    assert "over HTTP to a local gunicorn process" in out and "purchases / trivial POST" in out
    assert "verify_ledger: sound" in out
