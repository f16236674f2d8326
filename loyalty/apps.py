from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty program")

    def ready(self) -> None:
        from django.conf import settings

        if not settings.DEBUG and settings.SECRET_KEY == settings.INSECURE_DEV_SECRET_KEY:
            raise ImproperlyConfigured(
                "SECRET_KEY must be set in the environment when DEBUG is off (or set DEBUG=true for development)."
            )
        engine = settings.DATABASES["default"]["ENGINE"]
        if engine not in ("django.db.backends.sqlite3", "django.db.backends.postgresql"):
            raise ImproperlyConfigured(f"Unsupported database engine {engine}: use SQLite or PostgreSQL.")

        from loyalty.emails import email_signals_connect
        from loyalty.services.tiers import tier_signals_connect

        tier_signals_connect()
        email_signals_connect()
