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

        from campaigns.services.kpi import challenge_completion_rows, referral_conversion_rows
        from loyalty.kpi import KpiTable, kpi_table_register

        kpi_table_register(KpiTable(
            key="challenge_completion", title=_("Challenge completion"),
            columns=(_("Challenge"), _("Started"), _("Completed"), _("Completion rate (%)")),
            rows=challenge_completion_rows, order=50,
            description=_("Members who made their first progress in the range, and of those the ones who "
                          "completed the challenge by its end."),
        ))
        kpi_table_register(KpiTable(
            key="referral_conversion", title=_("Referral conversion"),
            columns=(_("Channel"), _("Referrals"), _("Rewarded"), _("Over the cap"), _("Blocked"),
                     _("Conversion rate (%)")),
            rows=referral_conversion_rows, order=60,
            description=_("Referrals made in the range. Rewarded and over the referrer's cap by the end of the "
                          "range: the friend made a qualifying purchase (conversion). Blocked: as they are now."),
        ))

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
