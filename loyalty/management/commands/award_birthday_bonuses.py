from django.utils.translation import gettext_lazy as _

from loyalty.management.commands._job import JobCommand
from loyalty.services.jobs import birthday_bonuses_award


class Command(JobCommand):
    help = "Credit the program's birthday bonus to members whose birthday it is (once a year)."
    job = "award_birthday_bonuses"
    service = staticmethod(birthday_bonuses_award)
    summary = _("%(points)s points awarded to %(members)s members, %(skipped)s already had it, %(failed)s failed")
