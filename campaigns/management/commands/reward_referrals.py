from django.utils.translation import gettext_lazy as _

from campaigns.services.referrals import referrals_reward_due
from loyalty.management.commands._job import JobCommand


class Command(JobCommand):
    help = ("Pay the referrers of pending referrals whose friend's first purchase with points is released "
            "(catches up what the live reward missed).")
    job = "reward_referrals"
    service = staticmethod(referrals_reward_due)
    summary = _("%(referrals)s referrals due: %(rewarded)s rewarded, %(capped)s capped, %(blocked)s blocked, "
                "%(failed)s failed")
