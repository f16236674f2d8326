import secrets
from datetime import timedelta

from django.db.models.expressions import RawSQL
from django.utils import timezone

from loyalty.models import ApiKey, Store
from loyalty.services.program import config_version_seen, config_version_sql

KEY_PREFIX_LENGTH = 8


def api_key_create(*, store: Store, scope: str, name: str = "") -> tuple[ApiKey, str]:
    """Create a key; returns the row and the raw key, which is never stored and shown only now."""
    prefix = secrets.token_hex(KEY_PREFIX_LENGTH // 2)
    raw = f"{prefix}.{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(store=store, scope=scope, name=name, prefix=prefix, hashed_key=ApiKey.hash(raw))
    return api_key, raw


def api_key_authenticate(*, raw: str) -> ApiKey | None:
    """The live key matching `raw`, or None. Records when it was last used (at most once a minute).
    The configuration version comes with it (one round trip for both; see loyalty.services.program)."""
    api_key = (
        ApiKey.objects.select_related("store")
        .filter(hashed_key=ApiKey.hash(raw), revoked_at__isnull=True)
        .annotate(config_version=RawSQL(f"({config_version_sql()})", ()))  # noqa: S611 - constant SQL
        .first()
    )
    if api_key is None:
        return None
    config_version_seen(api_key.config_version)
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def api_key_revoke(*, api_key: ApiKey) -> None:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
