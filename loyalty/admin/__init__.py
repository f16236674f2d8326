"""Admin registrations, one module per area."""

from . import core, purchases, tiers  # noqa: F401
