from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        # loyalty never imports campaigns: campaigns plugs its promotions into the earning pipeline here,
        # and listens to loyalty's signals (purchases, refunds, postings, tier changes) for challenges,
        # badges and leaderboards.
        from campaigns.receivers import receivers_connect
        from campaigns.services.promotions import promotion_bonuses
        from loyalty.services.earning import register_bonus_provider

        register_bonus_provider(promotion_bonuses)

        from campaigns.services.referrals import referrals_signals_connect

        referrals_signals_connect()
        receivers_connect()

        from members.navigation import portal_nav_register

        portal_nav_register(url_name="campaigns:referrals", label=_("Refer a friend"), order=90, icon="users")
        portal_nav_register(url_name="campaigns:challenges", label=_("Challenges"), order=60, icon="trophy")
        portal_nav_register(url_name="campaigns:badges", label=_("Badges"), order=70, icon="award")
        portal_nav_register(url_name="campaigns:leaderboard", label=_("Leaderboard"), order=80, icon="chart")
