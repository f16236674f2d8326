"""Campaign admin pages, one module per domain; importing them registers them."""

from campaigns.admin import badges, challenges, leaderboards, promotions  # noqa: F401
