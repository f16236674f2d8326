from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty.management.commands._job import JobCommand
from loyalty.services.jobs import EXPIRE_BATCH_SIZE, points_expire


class Command(JobCommand):
    help = "Expire the remaining points of every released lot whose expiry date has passed."
    job = "expire_points"
    summary = gettext_lazy("%(points)s points expired from %(lots)s lots of %(members)s members")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--batch-size", type=int, default=EXPIRE_BATCH_SIZE,
            help=f"Members per database transaction (default {EXPIRE_BATCH_SIZE}).",
        )

    def run(self, *, as_of, dry_run, progress, options):
        if options["batch_size"] < 1:
            raise CommandError(_("--batch-size must be at least 1."))
        return points_expire(as_of=as_of, dry_run=dry_run, batch_size=options["batch_size"], progress=progress)
