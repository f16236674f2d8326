"""Reads a PostgreSQL read replica may serve (`DATABASE_REPLICA_URL`; README "Sizing").

Only reads that tolerate a replica's lag go there, and only where the code says so with `replica_reads()`:
the KPI dashboard and the member portal's dashboard and history pages. Everything else, every write, the user
and session rows that sign-in depends on, and the cached configuration (loaded under the version read from the
primary) always use the primary. Without a replica nothing changes.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model

REPLICA = "replica"
DOMAIN_APPS = frozenset({"loyalty", "members", "rewards", "campaigns"})
_reading: ContextVar[bool] = ContextVar("loyalty_replica_reads", default=False)


@contextmanager
def replica_reads() -> Iterator[None]:
    """In this block (or view, as a decorator) the domain's reads may come from the replica."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def replica_alias() -> str:
    """The database alias for a raw read in a replica_reads() block (the primary without a replica)."""
    return REPLICA if _reading.get() and REPLICA in connections.databases else DEFAULT_DB_ALIAS


def _configuration_models() -> list[type[Model]]:
    from loyalty.models import ConfigVersion
    from loyalty.services.program import CONFIG_MODELS

    return [ConfigVersion, *CONFIG_MODELS]


class ReplicaRouter:
    """DATABASE_ROUTERS when a replica is configured (loyalty.settings)."""

    def db_for_read(self, model: type[Model], **hints) -> str | None:
        if not _reading.get() or model._meta.app_label not in DOMAIN_APPS:
            return None
        if model._meta.label == settings.AUTH_USER_MODEL or model in _configuration_models():
            return None  # signing in, and the configuration cached under the primary's version
        return REPLICA

    def db_for_write(self, model: type[Model], **hints) -> str | None:
        return None

    def allow_relation(self, obj1: Model, obj2: Model, **hints) -> bool:
        return True  # the same data on both

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool:
        return db == DEFAULT_DB_ALIAS
