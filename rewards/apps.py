from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = _("Rewards")

    def ready(self) -> None:
        from loyalty.signals import purchase_refunded
        from rewards import tasks  # noqa: F401 - registers the Celery tasks in every process, not only workers
        from rewards.services import on_purchase_refunded

        # A full refund cancels the pay-with-points redemptions recorded for that order (points back).
        purchase_refunded.connect(on_purchase_refunded, dispatch_uid="rewards.cancel_pay_with_points_on_refund")

        from loyalty.kpi import KpiTable, kpi_table_register
        from rewards.selectors import rewards_top_get

        kpi_table_register(KpiTable(
            key="top_rewards", title=_("Top rewards"), columns=(_("Reward"), _("Redemptions"), _("Points")),
            rows=lambda period, figures: rewards_top_get(since=period.since, until=period.until),
            description=_("Most redeemed in the range, cancelled redemptions left out."), order=30,
        ))

        from members.navigation import portal_nav_register
        from members.selectors import member_export_register
        from rewards.selectors import redemptions_export

        portal_nav_register(url_name="rewards:catalogue", label=_("Rewards"), order=30, icon="gift")
        portal_nav_register(url_name="rewards:my_coupons", label=_("My coupons"), order=40, icon="ticket")
        member_export_register("redemptions", redemptions_export)
