"""Admin registrations, one module per area."""

from . import core, login, purchases, tiers  # noqa: F401
