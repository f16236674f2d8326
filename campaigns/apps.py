from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        # loyalty never imports campaigns: campaigns plugs its promotions into the earning pipeline here.
        from campaigns.services.promotions import promotion_bonuses
        from loyalty.services.earning import register_bonus_provider

        register_bonus_provider(promotion_bonuses)

        from campaigns.services.referrals import referrals_signals_connect

        referrals_signals_connect()

        from members.navigation import portal_nav_register

        portal_nav_register(url_name="campaigns:referrals", label=_("Refer a friend"), order=90, icon="users")
