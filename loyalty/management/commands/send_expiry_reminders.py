from django.utils.translation import gettext as _

from loyalty.management.commands._job import JobCommand
from loyalty.services.jobs import expiry_reminders_send


class Command(JobCommand):
    help = "Email members about points expiring within the program's warning days (once per expiry date)."
    job = "send_expiry_reminders"

    def run(self, *, as_of, dry_run, progress, options):
        return expiry_reminders_send(as_of=as_of, dry_run=dry_run, progress=progress)

    def summary(self, result):
        return _(
            "%(sent)s reminders sent about %(points)s points, %(skipped)s already sent, %(failed)s failed"
        ) % result
