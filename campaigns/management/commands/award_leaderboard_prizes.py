from django.utils.translation import gettext_lazy as _

from campaigns.services.leaderboards import leaderboard_prizes_award
from loyalty.management.commands._job import JobCommand


class Command(JobCommand):
    help = "Pay the leaderboard prizes for the top places of the last month that ended by --as-of (once per month)."
    job = "award_leaderboard_prizes"
    service = staticmethod(leaderboard_prizes_award)
    summary = _("%(month)s: %(paid)s prizes paid (%(points)s points), %(already)s paid before, %(failed)s failed")
