from django.utils.translation import gettext as _

from loyalty.management.commands._job import JobCommand
from loyalty.services.jobs import birthday_bonuses_award


class Command(JobCommand):
    help = "Credit the program's birthday bonus to members whose birthday it is (once a year)."
    job = "award_birthday_bonuses"

    def run(self, *, as_of, dry_run, progress, options):
        return birthday_bonuses_award(as_of=as_of, dry_run=dry_run, progress=progress)

    def summary(self, result):
        return _(
            "%(points)s points awarded to %(members)s members, %(skipped)s already had it, %(failed)s failed"
        ) % result
