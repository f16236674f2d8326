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

        from campaigns.services.member_data import MEMBER_EXPORT_SECTIONS, on_member_closed
        from members.selectors import member_export_register
        from members.signals import member_closed

        for name, builder in MEMBER_EXPORT_SECTIONS.items():
            member_export_register(name, builder)
        member_closed.connect(on_member_closed, dispatch_uid="campaigns.forget_closed_member")

        from members.navigation import portal_nav_register

        portal_nav_register(url_name="campaigns:referrals", label=_("Refer a friend"), order=90, icon="users")
        portal_nav_register(url_name="campaigns:challenges", label=_("Challenges"), order=60, icon="trophy")
        portal_nav_register(url_name="campaigns:badges", label=_("Badges"), order=70, icon="award")
        portal_nav_register(url_name="campaigns:leaderboard", label=_("Leaderboard"), order=80, icon="chart")
