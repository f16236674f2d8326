import hashlib

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Store(models.Model):
    """A till group or webshop. API keys and purchases belong to a store."""

    slug = models.SlugField(_("slug"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    woocommerce_secret = models.CharField(_("WooCommerce webhook secret"), max_length=255, blank=True)
    auto_enroll = models.BooleanField(
        _("enrol unknown customers"), default=False,
        help_text=_("Webhook orders from unknown emails enrol a new member."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiKeyScope(models.TextChoices):
    POS = "pos", _("Till / webshop")
    ADMIN = "admin", _("Administration")


class ApiKey(models.Model):
    """Stored as a SHA-256 hash; the key itself is shown once, at creation."""

    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="api_keys", verbose_name=_("store"))
    name = models.CharField(_("name"), max_length=100, blank=True)
    prefix = models.CharField(_("prefix"), max_length=12, unique=True, editable=False)
    hashed_key = models.CharField(_("hashed key"), max_length=64, unique=True, editable=False)
    scope = models.CharField(_("scope"), max_length=5, choices=ApiKeyScope.choices, default=ApiKeyScope.POS)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    # Kinds of look-up (loyalty.api.misses) this key may not make until a time (epoch seconds): written when
    # its misses reach the limit, read with the key on every request, so a look-up that finds something
    # costs no extra round trip.
    lookups_limited_until = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        constraints = [models.CheckConstraint(condition=Q(scope__in=["pos", "admin"]), name="api_key_scope_valid")]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.store})"

    @staticmethod
    def hash(raw_key: str) -> str:
        return hashlib.sha256(raw_key.encode()).hexdigest()


class IdempotencyRecord(models.Model):
    """The first response to a POST with an Idempotency-Key, replayed for retries with the same body."""

    scope = models.CharField(max_length=100)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_record_unique_key")]

    def __str__(self) -> str:
        return self.key

    @staticmethod
    def scope_for(caller: str) -> str:
        """The stored scope of a caller's key space ("user:<pk>" for a member's session, see loyalty.api.base)."""
        return hashlib.sha256(caller.encode()).hexdigest()[:64]
