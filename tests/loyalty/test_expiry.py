"""Point expiry: the set-based job against the DESIGN rules and the per-member writer."""

import threading
from datetime import datetime, timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.models import (
    AccountKind,
    ExpiryExtension,
    LedgerAccount,
    LedgerTransaction,
    LotAllocation,
    PointLot,
    TransactionKind,
)
from loyalty.selectors import member_points_get
from loyalty.services import jobs, ledger_bulk
from loyalty.services.ledger import Audit, points_debit, points_expire_member, points_return
from loyalty.services.verify import ledger_verify
from tests.factories import MemberFactory
from tests.loyalty.jobs_support import day, earn, program_configure


@pytest.fixture
def program(db):
    return program_configure()


def available(member) -> int:
    return member_points_get(member=member)["available"]


def expired_balance() -> int:
    shards = LedgerAccount.objects.filter(member=None, kind=AccountKind.EXPIRED)
    return sum(shards.values_list("balance", flat=True))


def lots_state() -> list[tuple[int, int, int]]:
    return list(PointLot.objects.order_by("id").values_list("id", "remaining", "expired"))


@pytest.mark.django_db
def test_expiry_is_recorded_on_the_lots_not_as_allocations(program, member):
    spent = earn(member, 100, day(0), "e1")
    kept = earn(member, 50, day(5), "e2")
    points_debit(member=member, points=30, audit=Audit(reason="spend", idempotency_key="s1"))
    assert jobs.points_expire(as_of=day(40))["lots"] == 2
    txn = LedgerTransaction.objects.get(member=member, kind=TransactionKind.EXPIRE)
    assert (txn.points, txn.metadata) == (-120, {"expired_lots": 2})
    assert not LotAllocation.objects.filter(transaction=txn).exists()
    lots = {lot.transaction_id: lot for lot in PointLot.objects.filter(member=member)}
    assert (lots[spent.pk].remaining, lots[spent.pk].expired) == (0, 70)  # 100 - 30 spent
    assert (lots[kept.pk].remaining, lots[kept.pk].expired) == (0, 50)
    assert ledger_verify() == []


@pytest.mark.django_db
def test_worked_example_from_design(program, member):
    earn(member, 100, day(0), "e1")
    earn(member, 200, day(14), "e2")
    points_debit(member=member, points=180, audit=Audit(reason="spend", idempotency_key="s1"))

    result = jobs.points_expire(as_of=day(30))
    assert result["points"] == 0 and result["members"] == 0
    assert available(member) == 120

    result = jobs.points_expire(as_of=day(44))
    assert (result["members"], result["points"], result["lots"]) == (1, 120, 1)
    assert available(member) == 0
    txn = LedgerTransaction.objects.get(member=member, kind=TransactionKind.EXPIRE)
    assert (txn.points, txn.balance_after, txn.reason, txn.job) == (-120, 0, "Points expired", "expire_points")
    assert txn.occurred_at == day(44)
    assert expired_balance() == 120
    assert ledger_verify() == []


@pytest.mark.django_db
def test_lot_expires_exactly_at_expires_at_not_before(program, member):
    earn(member, 50, day(0), "e1")
    assert jobs.points_expire(as_of=day(30) - timedelta(seconds=1))["points"] == 0
    assert jobs.points_expire(as_of=day(30))["points"] == 50


@pytest.mark.django_db
def test_running_twice_with_the_same_as_of_changes_nothing(program):
    members = [MemberFactory() for _ in range(3)]
    for i, member in enumerate(members):
        earn(member, 10 * (i + 1), day(0), f"e{i}")
    first = jobs.points_expire(as_of=day(31))
    counts = (LedgerTransaction.objects.count(), lots_state(), expired_balance())
    second = jobs.points_expire(as_of=day(31))
    assert first["points"] == 60 and second == {**first, "members": 0, "points": 0, "lots": 0, "batches": 0}
    assert (LedgerTransaction.objects.count(), lots_state(), expired_balance()) == counts
    assert ledger_verify() == []


@pytest.mark.django_db
def test_dry_run_reports_and_writes_nothing(program, member):
    earn(member, 70, day(0), "e1")
    earn(member, 30, day(1), "e2")
    result = jobs.points_expire(as_of=day(40), dry_run=True)
    assert result == {"members": 1, "points": 100, "lots": 2, "batches": 0, "dry_run": True}
    assert available(member) == 100
    assert not LedgerTransaction.objects.filter(kind=TransactionKind.EXPIRE).exists()


@pytest.mark.django_db
def test_month_end_extension(program, member):
    program.expiry_extends_to = ExpiryExtension.MONTH_END
    program.save()
    earned = timezone.make_aware(datetime(2025, 1, 10, 15, 0))  # +30 days = 9 Feb -> end of February
    earn(member, 40, earned, "e1")
    assert jobs.points_expire(as_of=timezone.make_aware(datetime(2025, 2, 28, 23, 59, 59)))["points"] == 0
    assert jobs.points_expire(as_of=timezone.make_aware(datetime(2025, 3, 1, 0, 0)))["points"] == 40
    assert ledger_verify() == []


@pytest.mark.django_db
def test_year_end_extension(program, member):
    program.expiry_extends_to = ExpiryExtension.YEAR_END
    program.save()
    earn(member, 40, timezone.make_aware(datetime(2024, 6, 15, 9, 0)), "e1")
    assert jobs.points_expire(as_of=timezone.make_aware(datetime(2024, 12, 31, 23, 59, 59)))["points"] == 0
    assert jobs.points_expire(as_of=timezone.make_aware(datetime(2025, 1, 1, 0, 0)))["points"] == 40


@pytest.mark.django_db
def test_pending_points_expire_at_the_next_run_after_release(program, member):
    earn(member, 80, day(0), "e1", available_at=day(40), now=day(0))  # pending longer than valid
    assert jobs.points_expire(as_of=day(35))["points"] == 0  # still pending: not expired
    assert member_points_get(member=member)["pending"] == 80

    assert jobs.pending_points_release(as_of=day(40))["points"] == 80
    assert available(member) == 80
    assert jobs.points_expire(as_of=day(40))["points"] == 80
    assert available(member) == 0
    assert ledger_verify() == []


@pytest.mark.django_db
def test_points_returned_to_an_expired_lot_expire_at_the_next_run(program, member):
    earn(member, 100, day(0), "e1")
    spend = points_debit(member=member, points=60, audit=Audit(reason="spend", idempotency_key="s1"))
    assert jobs.points_expire(as_of=day(31))["points"] == 40
    points_return(original=spend, audit=Audit(reason="cancel"))
    assert available(member) == 60
    assert jobs.points_expire(as_of=day(31))["points"] == 60
    assert available(member) == 0
    assert ledger_verify() == []


@pytest.mark.django_db
def test_member_in_debt_is_left_alone(program, member):
    """Members with a negative balance hold no remaining points, so nothing expires for them."""
    from loyalty.services.ledger import points_reverse

    earn(member, 50, day(0), "e1")
    points_debit(member=member, points=50, audit=Audit(reason="spend", idempotency_key="s1"))
    points_reverse(member=member, points=20, audit=Audit(reason="refund", idempotency_key="r1"))
    assert jobs.points_expire(as_of=day(60))["members"] == 0
    assert available(member) == -20
    assert ledger_verify() == []


def _crash_on(statement_start: str, nth: int):
    """An execute wrapper that raises on the nth statement starting with `statement_start`."""
    seen = {"count": 0}

    def wrapper(execute, sql, params, many, context):
        if sql.lstrip().startswith(statement_start):
            seen["count"] += 1
            if seen["count"] == nth:
                raise RuntimeError("killed")
        return execute(sql, params, many, context)

    return wrapper


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "crash_at",
    [
        "INSERT INTO loyalty_ledgerentry",
        "UPDATE loyalty_pointlot",
        "UPDATE loyalty_ledgeraccount SET balance = balance + t.points",  # the member balances
    ],
)
def test_killed_halfway_then_rerun_expires_everything_once(program, crash_at):
    members = [MemberFactory() for _ in range(5)]
    for i, member in enumerate(members):
        earn(member, 10, day(0), f"a{i}")
        earn(member, 5, day(1), f"b{i}")
    with connection.execute_wrapper(_crash_on(crash_at, 3)), pytest.raises(RuntimeError, match="killed"):
        jobs.points_expire(as_of=day(40), batch_size=2)  # batches 1-2 commit, batch 3 dies mid-way

    assert ledger_verify() == []
    assert LedgerTransaction.objects.filter(kind=TransactionKind.EXPIRE).count() == 4  # two batches of two
    assert [available(m) for m in members] == [0, 0, 0, 0, 15]

    result = jobs.points_expire(as_of=day(40), batch_size=2)
    assert (result["members"], result["points"], result["lots"]) == (1, 15, 2)
    assert ledger_verify() == []
    assert expired_balance() == 75
    # every lot expired exactly once, in full
    assert sorted(expired for _id, remaining, expired in lots_state() if remaining == 0) == [5] * 5 + [10] * 5
    assert LedgerTransaction.objects.filter(kind=TransactionKind.EXPIRE).count() == 5
    assert not LotAllocation.objects.exists()


@pytest.mark.django_db
def test_job_failing_on_batch_three_then_rerun(program, monkeypatch):
    members = [MemberFactory() for _ in range(6)]
    for i, member in enumerate(members):
        earn(member, 10, day(0), f"a{i}")
    real = ledger_bulk.points_expire_batch
    calls = {"n": 0}

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionError("worker lost")
        return real(**kwargs)

    monkeypatch.setattr(ledger_bulk, "points_expire_batch", flaky)
    with pytest.raises(ConnectionError):
        jobs.points_expire(as_of=day(40), batch_size=2)
    assert expired_balance() == 40
    monkeypatch.setattr(ledger_bulk, "points_expire_batch", real)
    assert jobs.points_expire(as_of=day(40), batch_size=2)["points"] == 20
    assert expired_balance() == 60
    assert ledger_verify() == []


@pytest.mark.django_db
def test_progress_is_reported_per_batch(program):
    for i in range(5):
        earn(MemberFactory(), 10, day(0), f"a{i}")
    calls = []
    jobs.points_expire(as_of=day(40), batch_size=2, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 5), (4, 5), (5, 5)]


@pytest.mark.django_db
def test_the_job_visits_only_members_with_lots_due(program, monkeypatch):
    """Members with points that are not due yet, or with no points left, are never read into a batch: a run
    costs the work due, not the size of the programme."""
    due = [MemberFactory() for _ in range(3)]
    for i, member in enumerate(due):
        earn(member, 10, day(0), f"due{i}")
        earn(member, 5, day(20), f"later{i}")  # due later: stays
    for i in range(12):
        member = MemberFactory()
        earn(member, 10, day(20), f"open{i}")  # expires on day 50
        if i % 3 == 0:
            points_debit(member=member, points=10, audit=Audit(reason="spend", idempotency_key=f"spent{i}"))
    batches = []
    real_batch = ledger_bulk.points_expire_batch

    def spy(**kwargs):
        batches.append(list(kwargs["member_ids"]))
        return real_batch(**kwargs)

    monkeypatch.setattr(ledger_bulk, "points_expire_batch", spy)
    result = jobs.points_expire(as_of=day(40), batch_size=2)
    assert sorted(pk for batch in batches for pk in batch) == sorted(member.pk for member in due)
    assert (result["members"], result["lots"], result["points"], result["batches"]) == (3, 3, 30, 2)
    assert jobs.points_expire(as_of=day(40))["batches"] == 0
    assert ledger_verify() == []


# -- the set-based batch produces what the per-member writer produces --------------------------------


def _snapshot(member, txn):
    lots = [(lot.remaining, lot.expired) for lot in PointLot.objects.filter(member=member).order_by("id")]
    balances = member_points_get(member=member)
    if txn is None:
        return balances, lots, None
    entries = sorted(
        ("member" if e.account.member_id else e.account.kind, e.account.kind, e.points)
        for e in txn.entries.select_related("account")
    )
    shape = (txn.kind, txn.points, txn.balance_after, txn.reason, txn.job, txn.occurred_at, txn.metadata, entries,
             txn.allocations.count())
    return balances, lots, shape


ops = st.lists(
    st.tuples(
        st.sampled_from(["earn", "earn", "pending", "spend"]),
        st.integers(min_value=1, max_value=150),
        st.integers(min_value=0, max_value=60),
    ),
    min_size=1,
    max_size=8,
)


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops, as_of_day=st.integers(min_value=0, max_value=100), released_day=st.integers(min_value=0, max_value=100))
def test_batch_matches_points_expire_member(program, ops, as_of_day, released_day):
    with transaction.atomic():
        left, right = MemberFactory(), MemberFactory()
        for n, (op, points, at) in enumerate(ops):
            for member in (left, right):
                key = f"{member.pk}:{n}"
                if op == "earn":
                    earn(member, points, day(at), key)
                elif op == "pending":
                    earn(member, points, day(at), key, available_at=day(at + 20), now=day(at))
                elif available(member) >= points:
                    points_debit(member=member, points=points, audit=Audit(reason="spend", idempotency_key=key))
        for member in (left, right):
            jobs.pending_points_release(as_of=day(released_day))

        by_member = points_expire_member(member=left, as_of=day(as_of_day))
        result = ledger_bulk.points_expire_batch(member_ids=[right.pk], as_of=day(as_of_day))
        by_batch = LedgerTransaction.objects.filter(member=right, kind=TransactionKind.EXPIRE).first()

        assert _snapshot(left, by_member) == _snapshot(right, by_batch)
        assert result.points == (-by_member.points if by_member else 0)
        assert ledger_verify() == []
        transaction.set_rollback(True)


# -- concurrency (PostgreSQL: real row locks) -------------------------------------------------------


def _in_threads(count, target):
    barrier = threading.Barrier(count)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(target())
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_expire_each_lot_once(program):
    members = [MemberFactory() for _ in range(40)]
    for i, member in enumerate(members):
        earn(member, 10, day(0), f"a{i}")
        earn(member, 7, day(2), f"b{i}")
    results = _in_threads(2, lambda: jobs.points_expire(as_of=day(40), batch_size=7))

    assert sum(r["points"] for r in results) == 40 * 17
    assert sum(r["lots"] for r in results) == 80
    assert expired_balance() == 40 * 17
    assert LedgerTransaction.objects.filter(kind=TransactionKind.EXPIRE).count() == 40
    assert sorted(expired for _id, _remaining, expired in lots_state()) == [7] * 40 + [10] * 40
    assert ledger_verify() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_batch_and_per_member_writer_racing_expire_each_lot_once(program):
    members = [MemberFactory() for _ in range(20)]
    for i, member in enumerate(members):
        earn(member, 10, day(0), f"a{i}")

    def per_member():
        return sum(1 for m in reversed(members) if points_expire_member(member=m, as_of=day(40)))

    def bulk():
        return jobs.points_expire(as_of=day(40), batch_size=5)["members"]

    barrier = threading.Barrier(2)
    out, errors = {}, []

    def run(name, fn):
        try:
            barrier.wait()
            out[name] = fn()
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(name, fn)) for name, fn in (("one", per_member), ("bulk", bulk))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert out["one"] + out["bulk"] == 20
    assert LedgerTransaction.objects.filter(kind=TransactionKind.EXPIRE).count() == 20
    assert expired_balance() == 200
    assert ledger_verify() == []
