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
