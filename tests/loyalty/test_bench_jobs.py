"""bench_jobs builds a consistent ledger, times the jobs on it, and refuses a database with real members."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F

from loyalty.models import LedgerTransaction, PointLot, TransactionKind
from loyalty.services.verify import ledger_verify
from members.models import Member
from tests.factories import MemberFactory


def bench(*args):
    out = StringIO()
    call_command("bench_jobs", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_bench_builds_data_expires_everything_and_keeps_the_ledger_sound():
    out = bench("--members", "30", "--lots", "100", "--batch-size", "7")
    assert "bench_jobs: 30 members, 100 lots" in out
    assert "expire, plain SQL" in out and "UPDATE lots (100 rows)" in out
    assert "points_expire (batch 7)" in out and "(30 members," in out and "5 batches" in out
    assert "tiers_recalculate" in out and "ledger_verify: 0 problem(s)" in out
    assert Member.objects.filter(email__endswith="@bench.invalid").count() == 30
    assert PointLot.objects.count() == 100 and not PointLot.objects.filter(remaining__gt=0).exists()
    assert PointLot.objects.filter(expired=F("points")).count() == 100  # COPY left expired to its default, 0
    assert LedgerTransaction.objects.filter(kind=TransactionKind.EXPIRE).count() == 30  # the plain run rolled back
    assert ledger_verify() == []

    bench("--members", "5", "--lots", "5", "--no-verify")  # a second run on the same bench database
    assert Member.objects.count() == 35
    assert ledger_verify() == []


@pytest.mark.django_db
def test_bench_refuses_a_database_with_real_members():
    MemberFactory()
    with pytest.raises(CommandError, match="throwaway"):
        bench("--members", "3", "--lots", "3")
    assert Member.objects.count() == 1
    assert "ledger_verify: 0 problem(s)" in bench("--members", "3", "--lots", "6", "--force")


@pytest.mark.django_db
def test_bench_refuses_nonsense_sizes():
    with pytest.raises(CommandError):
        bench("--members", "10", "--lots", "5")
