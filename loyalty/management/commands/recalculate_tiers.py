from loyalty.management.commands._job import JobCommand
from loyalty.services.tiers import tiers_recalculate


class Command(JobCommand):
    help = "Put every member in the tier due at --as-of (downgrades only after the hold period)."
    job = "recalculate_tiers"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--full", action="store_true",
            help="Look at every member, not only at those with something new since the last run.",
        )

    def run(self, *, as_of, dry_run, progress, options):
        return tiers_recalculate(as_of=as_of, dry_run=dry_run, progress=progress, full=options["full"])

    def describe(self, result):
        return ", ".join(f"{key} {value}" for key, value in result.items())
