from django.utils.translation import gettext_lazy as _

from loyalty.management.commands._job import JobCommand
from loyalty.services.jobs import pending_points_release


class Command(JobCommand):
    help = "Move pending points whose pending period has ended to available (one transaction per member)."
    job = "release_pending_points"
    service = staticmethod(pending_points_release)
    summary = _("%(points)s points released for %(members)s members, %(failed)s failed")
