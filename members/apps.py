from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members")

    def ready(self) -> None:
        from . import signals, tasks  # noqa: F401 - receivers; the Celery tasks registered in every process
        from .navigation import portal_nav_register

        portal_nav_register(url_name="portal:dashboard", label=_("Dashboard"), order=10, icon="home")
        portal_nav_register(url_name="portal:history", label=_("History"), order=20, icon="history")
        portal_nav_register(url_name="portal:card", label=_("Card"), order=50, icon="card")
        portal_nav_register(url_name="portal:profile", label=_("Profile"), order=100, icon="user")
