"""bench_scale builds two sizes in one database, measures every figure at both, and keeps the ledger sound."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from loyalty.services.verify import ledger_verify
from members.models import Member

FIGURES = [
    "expire_points job (s)", "recalculate_tiers job (s)", "GET /api/v1/rewards/ (control) median (ms)",
    *(f"{name} {stat} (ms)" for name in (
        "POST /api/v1/purchases/", "GET /api/v1/members/{id}/balance/", "GET /api/v1/members/{id}/",
        "portal dashboard", "GET /api/v1/leaderboard/ (top 10)", "GET /api/v1/me/leaderboard/ (own rank)",
    ) for stat in ("median", "p95")),
    "/admin/kpi/ cold median (ms)", "/admin/kpi/ warm median (ms)",
]


def bench(*args):
    out = StringIO()
    call_command("bench_scale", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.postgres
@pytest.mark.django_db
def test_bench_measures_every_figure_at_both_sizes_on_a_sound_ledger(tmp_path):
    figures = tmp_path / "figures.json"
    out = bench("--members", "300", "--base", "100", "--due", "10", "--runs", "3", "--kpi-runs", "1", "--verify",
                "--figures", str(figures))
    assert "100 then 300 members" in out and "build: 90 members, 900 ledger entries" in out
    assert out.count("ledger_verify: 0 problem(s)") == 2  # at 100 members and at 300
    table = out[out.index("figure "):]
    assert "100 members" in table and "300 members" in table
    for name in FIGURES:
        line = next(line for line in table.splitlines() if line.startswith(name))
        assert any(verdict in line for verdict in ("PASS", "FAIL", "information", "control")), line
    assert "load average (1 / 5 / 15 min)" in table
    assert Member.objects.count() == 300
    # The measured tier recalculation looks only at what is new since the night before, at both sizes.
    measured = [line for line in out.splitlines() if line.startswith("recalculate_tiers: ")]
    assert len(measured) == 2 and all("'full': 0, 'upgraded': 10," in line for line in measured), measured
    assert ledger_verify() == []  # the purchases made while measuring too

    again = bench("--members", "300", "--base", "100", "--due", "10", "--runs", "3", "--kpi-runs", "1", "--no-build",
                  "--figures", str(figures))
    assert "-- 310 members" in again and all(name in again for name in FIGURES)
    assert ledger_verify() == []


@pytest.mark.django_db
def test_bench_needs_postgresql_and_sensible_sizes():
    if connection.vendor != "postgresql":
        with pytest.raises(CommandError, match="needs PostgreSQL"):
            bench("--members", "300", "--base", "100")
        return
    with pytest.raises(CommandError, match="--due"):
        bench("--members", "100", "--base", "100")


