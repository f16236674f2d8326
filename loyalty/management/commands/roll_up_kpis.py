"""`manage.py roll_up_kpis [--rebuild]`: add what was recorded since the last run to the KPI dashboard's day
sums (loyalty.kpi_rollup; beat runs it every ten minutes as loyalty.tasks.roll_up_kpis)."""

import time

from django.core.management.base import BaseCommand

from loyalty.kpi_rollup import kpi_rollup_run


class Command(BaseCommand):
    help = "Add the ledger transactions, members and purchases recorded since the last run to the KPI rollups."

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true", help="Forget the rollups and read every row again.")

    def handle(self, *args, rebuild: bool, **options):
        started = time.perf_counter()
        read = kpi_rollup_run(rebuild=rebuild)
        self.stdout.write(f"roll_up_kpis: read {', '.join(f'{count:,} {source}' for source, count in read.items())} "
                          f"in {time.perf_counter() - started:.1f} s")
