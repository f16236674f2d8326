"""Campaign admin pages, one module per domain; importing them registers them."""

from campaigns.admin import actions, promotions, referrals  # noqa: F401
