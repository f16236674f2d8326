"""Server-side prepared statements for the few hot statements (the purchase path, account locks, balance reads).

Django sends every query as text with its values inlined, so PostgreSQL parses and plans each one anew. For
the purchase's one-statement posting that was more than a millisecond of a request of about eight:
prepared once per connection and run with a generic plan (settings: `plan_cache_mode`), it costs neither.

Prepared statements are on when the connection has a `prepare_threshold` (settings.py sets a threshold no
query reaches, so only the statements that ask are prepared; DATABASE_PREPARED_STATEMENTS=false turns it
off, e.g. behind PgBouncer before 1.21 in transaction mode). Anywhere else this is the plain cursor.
"""

from typing import NamedTuple

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.operations import AddIndex, RemoveIndex
from django.db.migrations.operations.base import Operation

try:
    import psycopg
except ImportError:  # psycopg 2 or no PostgreSQL driver: the plain cursor is used
    psycopg = None  # type: ignore[assignment]


if psycopg is not None:

    class PreparedCursor(psycopg.Cursor):
        """Server-side binding; every statement it runs is prepared (once per connection)."""

        def execute(self, query, params=None, **kwargs):
            kwargs["prepare"] = True
            result = super().execute(query, params, **kwargs)
            if self._query is None:  # psycopg keeps no query for a prepared run; Django's query log reads it
                self._query = _QueryText(query.encode())
            return result

    class _QueryText(NamedTuple):
        query: bytes


def prepared_cursor():
    """A cursor (with Django's wrappers: query logging, execute_wrapper) whose statements are prepared.

    Use `%s` placeholders and one statement per execute (the extended protocol takes no `;` lists).
    """
    db = connections[DEFAULT_DB_ALIAS]  # once: each attribute of the `connection` proxy is a context lookup
    if db.vendor != "postgresql" or psycopg is None:
        return db.cursor()
    db.ensure_connection()
    raw = db.connection
    if not isinstance(raw, psycopg.Connection) or raw.prepare_threshold is None:  # switched off
        return db.cursor()
    return db._prepare_cursor(PreparedCursor(raw))


# -- the configuration version's triggers ----------------------------------------------------------

_VERSION_BUMP = "UPDATE loyalty_configversion SET version = version + 1 WHERE id = 1"


def config_version_trigger_sql(table: str, vendor: str) -> tuple[list[str], list[str]]:
    """(create, drop) statements for the triggers that bump ConfigVersion on any change to `table`:
    one statement-level trigger on PostgreSQL, one per row event on SQLite."""
    name = f"{table}_config_version"
    if vendor == "postgresql":
        return (
            [
                "CREATE OR REPLACE FUNCTION loyalty_config_version_bump() RETURNS trigger AS $$ "
                f"BEGIN {_VERSION_BUMP}; RETURN NULL; END $$ LANGUAGE plpgsql",
                f"CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION loyalty_config_version_bump()",
            ],
            [f"DROP TRIGGER IF EXISTS {name} ON {table}"],
        )
    events = ("INSERT", "UPDATE", "DELETE")
    return (
        [f"CREATE TRIGGER {name}_{e.lower()} AFTER {e} ON {table} BEGIN {_VERSION_BUMP}; END" for e in events],
        [f"DROP TRIGGER IF EXISTS {name}_{e.lower()}" for e in events],
    )


class ConfigVersionTrigger(Operation):
    """Migration operation: changes to `table` bump the configuration version (see ConfigVersion). Every table
    whose rows are cached through loyalty.services.program._cached needs one, in its app's migrations."""

    reduces_to_sql = True

    def __init__(self, table: str) -> None:
        self.table = table

    def deconstruct(self):
        return (f"{__name__}.{type(self).__name__}", [self.table], {})

    def state_forwards(self, app_label, state) -> None:
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        for statement in config_version_trigger_sql(self.table, schema_editor.connection.vendor)[0]:
            schema_editor.execute(statement)

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        for statement in config_version_trigger_sql(self.table, schema_editor.connection.vendor)[1]:
            schema_editor.execute(statement)

    def describe(self) -> str:
        return f"Configuration version trigger on {self.table}"

    @property
    def migration_name_fragment(self) -> str:
        return f"config_version_{self.table}"


class AddIndexConcurrently(AddIndex):
    """AddIndex that on PostgreSQL builds the index without blocking writes (CREATE INDEX CONCURRENTLY: the
    purchase path keeps writing to a large live table meanwhile); its migration must be `atomic = False`.
    Elsewhere a plain AddIndex. Django's own (django.contrib.postgres) refuses every other database."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if schema_editor.connection.vendor != "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        elif self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, concurrently=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if schema_editor.connection.vendor != "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        elif self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)


class RemoveIndexConcurrently(RemoveIndex):
    """RemoveIndex that on PostgreSQL drops the index without blocking writes (DROP INDEX CONCURRENTLY; the
    migration must be `atomic = False`). Elsewhere a plain RemoveIndex."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if schema_editor.connection.vendor != "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        elif self.allow_migrate_model(schema_editor.connection.alias, model):
            index = from_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            schema_editor.remove_index(model, index, concurrently=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if schema_editor.connection.vendor != "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        elif self.allow_migrate_model(schema_editor.connection.alias, model):
            index = to_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            schema_editor.add_index(model, index, concurrently=True)
