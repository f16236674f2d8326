from django.utils.translation import gettext_lazy as _

from campaigns.services.challenges import challenges_close
from loyalty.management.commands._job import JobCommand


class Command(JobCommand):
    help = (
        "Close the challenges whose window ended by --as-of: a last count (late completions are paid), then "
        "unfinished progress is marked expired."
    )
    job = "close_challenges"
    service = staticmethod(challenges_close)
    summary = _("%(challenges)s challenges closed, %(completed)s completed at the close, %(expired)s progress "
                "expired, %(failed)s failed")
