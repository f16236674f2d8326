"""Campaign admin pages, one module per domain; importing them registers them."""

from campaigns.admin import actions, badges, challenges, leaderboards, promotions, referrals  # noqa: F401
