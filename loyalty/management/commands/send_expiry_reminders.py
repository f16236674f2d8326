from django.utils.translation import gettext_lazy as _

from loyalty.management.commands._job import JobCommand
from loyalty.services.jobs import expiry_reminders_send


class Command(JobCommand):
    help = "Email members about points expiring within the program's warning days (once per expiry date)."
    job = "send_expiry_reminders"
    service = staticmethod(expiry_reminders_send)
    summary = _("%(sent)s reminders sent about %(points)s points, %(skipped)s already sent, %(failed)s failed")
