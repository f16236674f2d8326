"""`manage.py roll_up_kpis [--rebuild]`: add what was recorded since the last run to the KPI dashboard's day
sums (loyalty.kpi_rollup; beat runs it every ten minutes as loyalty.tasks.roll_up_kpis)."""

from django.utils.translation import gettext_lazy

from loyalty.kpi_rollup import kpi_rollup_run
from loyalty.management.commands._job import JobCommand


class Command(JobCommand):
    help = "Add the ledger transactions, members and purchases recorded since the last run to the KPI rollups."
    job = "roll_up_kpis"
    summary = gettext_lazy("read %(transactions)s ledger transactions, %(members)s members, %(purchases)s purchases")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--rebuild", action="store_true", help="Forget the rollups and read every row again.")

    def run(self, *, as_of, dry_run, progress, options):
        return kpi_rollup_run(as_of=as_of, dry_run=dry_run, rebuild=options["rebuild"])
