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

from loyalty.models import ConfigVersion, ExpiryExtension, Program, Tier

# The configuration (the program row, the tiers, the earning rules, the promotions, ...) is read on every
# purchase and member read: it lives in the Django cache (Redis when REDIS_URL is set, shared by every
# process; otherwise each process's own memory), under keys that carry the configuration version: a
# counter that a database trigger raises on every change to a configuration table (ConfigVersion; the
# ConfigVersionTrigger migration operation), whoever makes the change: a save, a queryset update(), SQL.
# Each request reads the version once (API requests get it with their API-key look-up, others with one
# small query), so every process reads a change on its next request, with or without a shared cache.
# The version row also names the install, so installs that share a Redis never read each other's values.
# The key carries a version and the models' columns too, so a deploy that changes them never unpickles
# old rows. A new cached table needs its ConfigVersionTrigger (and config_models_register for the test).
CACHE_VERSION = 2
CACHE_TIMEOUT = 3600
_COLUMNS = zlib.crc32(
    ",".join(f.attname for model in (Program, Tier) for f in model._meta.concrete_fields).encode()
)
PROGRAM_KEY = f"loyalty:program:v{CACHE_VERSION}:{_COLUMNS:x}"
TIERS_KEY = f"loyalty:tiers:v{CACHE_VERSION}:{_COLUMNS:x}"
CONFIG_MODELS: list[type[Model]] = []


def config_models_register(*models: type[Model]) -> None:
    """Models whose rows are cached: their tables must have a ConfigVersionTrigger (a test checks)."""
    CONFIG_MODELS.extend(model for model in models if model not in CONFIG_MODELS)


config_models_register(Program, Tier)


# Within one request each cached value is unpickled once (a request memo; loyalty.middleware turns it on):
# a purchase asked for the program and the tiers seven times, each a cache read (a Redis round trip in
# production) and an unpickling. Callers still get their own copies; cached_forget() empties the memo too.
_memo: ContextVar[dict[str, Any] | None] = ContextVar("loyalty_config_memo", default=None)
_VERSION = "__config_version__"


@contextmanager
def config_memo() -> Iterator[None]:
    """Read each cached configuration value at most once in this block (one request, one job run)."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def config_version_sql() -> str:
    """The configuration version as one text value, for a look-up that reads it on the way (API keys)."""
    return "SELECT install || ':' || version FROM loyalty_configversion WHERE id = 1"


def config_version_seen(value: str | None) -> None:
    """The version a request read with another query (see config_version_sql)."""
    memo = _memo.get()
    if memo is not None and value:
        memo[_VERSION] = (value, connection.in_atomic_block)


def _config_version() -> str:
    """The configuration version, read once per request. A version read inside a transaction may be one
    that transaction made and then rolled back, so outside of it it is read again."""
    memo = _memo.get()
    if memo is not None and (seen := memo.get(_VERSION)) is not None:
        value, in_atomic = seen
        if not in_atomic or connection.in_atomic_block:
            return value
    with connection.cursor() as cursor:
        cursor.execute(config_version_sql())
        row = cursor.fetchone()
    if row is None:  # the row is made by a migration; an emptied table gets it back
        ConfigVersion.objects.get_or_create(pk=1)
        return _config_version()
    value = str(row[0])
    if memo is not None:
        memo[_VERSION] = (value, connection.in_atomic_block)
    return value


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


# In front of the shared cache, each process keeps the values of the current configuration version in its own
# memory: a value under a versioned key never changes, and every request reads the version from the database,
# so this copy is exactly as fresh as Redis and spares a purchase its five Redis round trips (bench_load).
# Values of an older version are dropped when a newer one is stored. Callers only ever get copies (_own).
_process: dict[str, Any] = {}
_process_version: list[str] = [""]


def _process_keep(version: str, versioned: str, value: Any) -> None:
    if _process_version[0] != version:
        _process.clear()
        _process_version[0] = version
    _process[versioned] = value


def _cached(key: str, load: Callable[[], Any]) -> Any:
    """Cache-aside under the configuration version: the request memo, this process's copy, the shared cache,
    the database. A value read inside a transaction is cached only once that transaction commits, so a
    rolled-back change never reaches a cache (nor the request memo)."""
    memo = _memo.get()
    if memo is not None and key in memo:
        return _own(memo[key])
    version = _config_version()
    versioned = f"{key}:{version}"
    value = _process.get(versioned)
    if value is None:
        value = cache.get(versioned)
        committed = value is not None or not connection.in_atomic_block
        if value is None:
            value = load()
            if connection.in_atomic_block:
                transaction.on_commit(lambda: cache.set(versioned, value, CACHE_TIMEOUT))
            else:
                cache.set(versioned, value, CACHE_TIMEOUT)
        if not committed:
            return value
        _process_keep(version, versioned, value)
    if memo is not None:
        memo[key] = value
    return _own(value)


def cached_forget(*keys: str) -> None:
    """Forget cached values in this request (the memo, and the version it read): a change made by this
    request is seen by the rest of it. Other processes see it through the version the change raised."""
    _memo_forget(keys)
    if connection.in_atomic_block:
        transaction.on_commit(lambda: _memo_forget(keys))


def _memo_forget(keys: tuple[str, ...]) -> None:
    if (memo := _memo.get()) is not None:
        for key in (*keys, _VERSION):
            memo.pop(key, None)


def program_get() -> Program:
    """The program's settings row, created with the defaults on first use (cached; see above).

    Each call returns its own copy: changing it and calling save() is how the settings are changed.
    """
    return _cached(PROGRAM_KEY, lambda: Program.objects.get_or_create(pk=1)[0])


def tiers_cached_get() -> list[Tier]:
    """Every tier ordered by rank (cached like the program; each call returns its own copies)."""
    return _cached(TIERS_KEY, lambda: list(Tier.objects.order_by("rank")))


def config_cache_clear(**kwargs) -> None:
    """Forget the program and tiers read in this request, now and after the surrounding transaction commits."""
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
