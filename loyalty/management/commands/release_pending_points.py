from django.utils.translation import gettext as _

from loyalty.management.commands._job import JobCommand
from loyalty.services.jobs import pending_points_release


class Command(JobCommand):
    help = "Move pending points whose pending period has ended to available (one transaction per member)."
    job = "release_pending_points"

    def run(self, *, as_of, dry_run, progress, options):
        return pending_points_release(as_of=as_of, dry_run=dry_run, progress=progress)

    def summary(self, result):
        return _("%(points)s points released for %(members)s members, %(failed)s failed") % result
