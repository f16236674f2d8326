import functools
import secrets
from datetime import timedelta
from typing import TypeVar

from django.db import connection
from django.db.models import Model
from django.utils import timezone

from loyalty.db import prepared_cursor
from loyalty.models import ApiKey, Store
from loyalty.services.program import config_version_seen, config_version_sql

KEY_PREFIX_LENGTH = 8
M = TypeVar("M", bound=Model)


def api_key_create(*, store: Store, scope: str, name: str = "") -> tuple[ApiKey, str]:
    """Create a key; returns the row and the raw key, which is never stored and shown only now."""
    prefix = secrets.token_hex(KEY_PREFIX_LENGTH // 2)
    raw = f"{prefix}.{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(store=store, scope=scope, name=name, prefix=prefix, hashed_key=ApiKey.hash(raw))
    return api_key, raw


def api_key_authenticate(*, raw: str) -> ApiKey | None:
    """The live key matching `raw`, or None. Records when it was last used (at most once a minute).
    The configuration version comes with it (one round trip for both; see loyalty.services.program)."""
    with prepared_cursor() as cursor:
        cursor.execute(_lookup_sql(), [ApiKey.hash(raw)])
        row = cursor.fetchone()
    if row is None:
        return None
    keys = len(ApiKey._meta.concrete_fields)
    api_key = _from_row(ApiKey, row[:keys])
    api_key.store = _from_row(Store, row[keys:-1])
    config_version_seen(row[-1])
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


# Every API request starts with this look-up, so it is written once as SQL from the models' fields and
# prepared, not built by the ORM each time: building and compiling that queryset took 0.7 ms of CPU per
# request, more than the rest of a balance read's Python (README "Sizing").
@functools.cache
def _lookup_sql() -> str:
    keys, stores = ApiKey._meta.db_table, Store._meta.db_table
    columns = [f"{keys}.{f.column}" for f in ApiKey._meta.concrete_fields]
    columns += [f"{stores}.{f.column}" for f in Store._meta.concrete_fields]
    # Table and column names come from the models; the key's hash is a parameter.
    return (
        f"SELECT {', '.join(columns)}, ({config_version_sql()}) FROM {keys} "  # noqa: S608
        f"JOIN {stores} ON {stores}.id = {keys}.store_id WHERE {keys}.hashed_key = %s AND {keys}.revoked_at IS NULL"
    )


def _from_row(model: type[M], values) -> M:
    """A model instance from its columns, converted as the ORM converts them (JSON, SQLite's dates)."""
    fields = model._meta.concrete_fields
    converted = []
    for field, value in zip(fields, values, strict=True):
        column = field.get_col(model._meta.db_table)
        for convert in connection.ops.get_db_converters(column) + column.get_db_converters(connection):
            value = convert(value, column, connection)
        converted.append(value)
    return model.from_db(connection.alias, [field.attname for field in fields], converted)


def api_key_revoke(*, api_key: ApiKey) -> None:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
