"""bench_load: the data it builds (any database), and short runs against a real gunicorn and locust (PostgreSQL:
the server process needs the test's database). About 30 s in all."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from loyalty.management.commands.bench_load import load_data_build
from loyalty.models import AccountKind, LedgerAccount, LedgerTransaction, Purchase, Refund, Store
from loyalty.services.verify import ledger_verify
from rewards.models import Redemption

OPERATIONS = ("purchase", "refund", "balance", "quote", "redeem", "portal")


def bench(*args: str) -> str:
    out = StringIO()
    call_command("bench_load", "--noinput", "--workers", "2", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def table(out: str, phase: str) -> dict[str, dict[str, float]]:
    """The rows of a phase's table: operation -> requests, per_second, p50, p95, p99, errors, 5xx, refused."""
    section = out.split(f"\n{phase}: ", 1)[1].split("\nall ", 1)[0]
    names = ("requests", "per_second", "p50", "p95", "p99", "errors", "server_errors", "refused")
    rows = {}
    for line in section.splitlines()[2:]:
        name, *values = line.split()
        rows[name] = dict(zip(names, map(float, values), strict=True))
    return rows


@pytest.mark.django_db
def test_the_data_has_balances_a_reward_and_signed_in_portal_sessions():
    data = load_data_build(members=12, portal_members=3, hot=True)
    assert len(data.loyalty_ids) == 12 and len(data.sessions) == 3
    balances = LedgerAccount.objects.filter(member__loyalty_id__in=data.loyalty_ids, kind=AccountKind.AVAILABLE)
    assert balances.count() == 12 and all(account.balance > 0 for account in balances)
    assert data.hot_member is not None
    assert LedgerAccount.objects.get(member=data.hot_member, kind=AccountKind.AVAILABLE).balance == 1_000
    assert ledger_verify() == []
    client = Client()
    client.cookies["sessionid"] = data.sessions[0]
    page = client.get("/", secure=True)
    assert page.status_code == 200 and b'id="loyalty-id"' in page.content  # a member's dashboard, signed in


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_short_mixed_run_exercises_every_operation_and_the_ledger_verifies():
    out = bench("--members", "40", "--portal-members", "5", "--users", "6", "--duration", "2", "--warmup", "0.5",
                "--ratio-seconds", "1")
    rows = table(out, "mix")
    assert rows["purchase"]["requests"] > 0 and set(rows) <= set(OPERATIONS), out
    assert all(row["errors"] == 0 and row["server_errors"] == 0 for row in rows.values()), out
    answered = out.split("answered over the whole phase", 1)[1].splitlines()[0]
    for name, status in zip(OPERATIONS, (201, 201, 200, 200, 201, 200), strict=True):
        assert re.search(rf"\b{name} {status} x \d+", answered), (name, out)  # every operation ran (and passed)
    assert "ERROR" not in out, out
    assert re.search(r"purchases / trivial POST \d+%, purchases / trivial write \d+%", out), out
    assert "load generator" in out and "load average" in out
    assert "PASS  zero errors" in out and "PASS  zero drift" in out and "verify_ledger: 0 problem(s)" in out
    answered = int(re.search(r"purchases answered 201: (\d+), recorded: (\d+)", out).group(1))
    store = Store.objects.get(slug__startswith="load-")
    assert Purchase.objects.filter(store=store).count() == answered > rows["purchase"]["requests"]
    assert Refund.objects.filter(purchase__store=store).exists()
    assert Redemption.objects.filter(store=store).exists()
    assert ledger_verify() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_hot_member_is_never_overdrawn_and_no_request_fails():
    out = bench("--hot", "--members", "5", "--portal-members", "1", "--users", "40", "--duration", "2",
                "--warmup", "1", "--hot-points", "100")
    rows = table(out, "hot")
    assert {"purchase", "redeem"} <= set(rows) <= {"purchase", "redeem", "balance"}, out
    assert all(row["errors"] == 0 and row["server_errors"] == 0 for row in rows.values()), out
    answered = out.split("answered over the whole phase", 1)[1].splitlines()[0]
    assert re.search(r"redeem 201 x \d+, 422 x \d+", answered), out  # both sides of the overdraft check
    assert "PASS  no overdraft" in out and "PASS  no 5xx" in out and "PASS  zero drift" in out, out
    hot = LedgerAccount.objects.get(kind=AccountKind.AVAILABLE, member__email__endswith="-hot@example.invalid")
    assert hot.balance >= 0
    assert not LedgerTransaction.objects.filter(member_id=hot.member_id, balance_after__lt=0).exists()
    assert Redemption.objects.filter(member_id=hot.member_id).count() > 0
    assert ledger_verify() == []
