import copy
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Model
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from loyalty.models import ExpiryExtension, Program, Tier

# The program row and the tier list are read on every purchase and member read: they live in the Django
# cache (Redis when REDIS_URL is set, shared by every process), dropped on every save/delete of a Program
# or Tier (post_save/post_delete receivers below, at once and again after the commit). A change made by
# the admin, the API or any service is seen at once. The timeout bounds the staleness in the one case no
# receiver covers: a bulk queryset.update() or a change straight in SQL (and, without Redis, a change
# made by another process: the locmem cache is per process).
# The key carries a version and the models' columns, so a deploy that changes them never unpickles old rows.
CACHE_VERSION = 1
CACHE_TIMEOUT = 300
_COLUMNS = zlib.crc32(
    ",".join(f.attname for model in (Program, Tier) for f in model._meta.concrete_fields).encode()
)
PROGRAM_KEY = f"loyalty:program:v{CACHE_VERSION}:{_COLUMNS:x}"
TIERS_KEY = f"loyalty:tiers:v{CACHE_VERSION}:{_COLUMNS:x}"


# Within one request each cached value is unpickled once (a request memo; loyalty.middleware turns it on):
# a purchase asked for the program and the tiers seven times, each a cache read (a Redis round trip in
# production) and an unpickling. Callers still get their own copies; cached_forget() empties the memo too.
_memo: ContextVar[dict[str, Any] | None] = ContextVar("loyalty_config_memo", default=None)


@contextmanager
def config_memo() -> Iterator[None]:
    """Read each cached configuration value at most once in this block (one request)."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def _own(value: Any) -> Any:
    """A copy a caller may change: model instances (alone or in a list) copied, as unpickling would."""
    if isinstance(value, Model):
        copied = copy.copy(value.__dict__)
        copied["_state"] = copy.copy(value._state)
        copied["_state"].fields_cache = dict(value._state.fields_cache)
        instance = value.__class__.__new__(value.__class__)
        instance.__dict__ = copied
        return instance
    if isinstance(value, list):
        return [_own(item) for item in value]
    return value


def _cached(key: str, load: Callable[[], Any]) -> Any:
    """Cache-aside. A value read inside a transaction is cached only once that transaction commits, so
    a rolled-back change never reaches the cache (nor the request memo)."""
    memo = _memo.get()
    if memo is not None and key in memo:
        return _own(memo[key])
    value = cache.get(key)
    committed = value is not None or not connection.in_atomic_block
    if value is None:
        value = load()
        if connection.in_atomic_block:
            transaction.on_commit(lambda: cache.set(key, value, CACHE_TIMEOUT))
        else:
            cache.set(key, value, CACHE_TIMEOUT)
    if memo is None or not committed:
        return value
    memo[key] = value
    return _own(value)


def cached_forget(*keys: str) -> None:
    """Drop cached values now (cache and request memo) and again after the surrounding transaction commits."""
    cache.delete_many(keys)
    if (memo := _memo.get()) is not None:
        for key in keys:
            memo.pop(key, None)
    if connection.in_atomic_block:
        transaction.on_commit(lambda: cache.delete_many(keys))


def program_get() -> Program:
    """The program's settings row, created with the defaults on first use (cached; see above).

    Each call returns its own copy: changing it and calling save() is how the settings are changed.
    """
    return _cached(PROGRAM_KEY, lambda: Program.objects.get_or_create(pk=1)[0])


def tiers_cached_get() -> list[Tier]:
    """Every tier ordered by rank (cached like the program; each call returns its own copies)."""
    return _cached(TIERS_KEY, lambda: list(Tier.objects.order_by("rank")))


def config_cache_clear(**kwargs) -> None:
    """Drop the cached program and tiers now and after the surrounding transaction commits."""
    cached_forget(PROGRAM_KEY, TIERS_KEY)


for _model in (Program, Tier):
    post_save.connect(config_cache_clear, sender=_model, dispatch_uid=f"config_cache_clear_save_{_model.__name__}")
    post_delete.connect(
        config_cache_clear, sender=_model, dispatch_uid=f"config_cache_clear_delete_{_model.__name__}"
    )


def lot_expiry(program: Program, earned_at: datetime) -> datetime | None:
    """When points earned at `earned_at` expire: N days later, optionally pushed to month or year end.

    "Until the end of the month" means the points expire at local midnight starting the next month.
    """
    if program.points_valid_days is None:
        return None
    expires_at = earned_at + timedelta(days=program.points_valid_days)
    if program.expiry_extends_to == ExpiryExtension.NONE:
        return expires_at
    local = timezone.localtime(expires_at)
    if program.expiry_extends_to == ExpiryExtension.MONTH_END:
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    else:
        year, month = local.year + 1, 1
    return timezone.make_aware(datetime(year, month, 1))
