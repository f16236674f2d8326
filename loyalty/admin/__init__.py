"""Admin registrations, one module per area."""

from django.contrib import admin

from . import core, login, purchases, tiers  # noqa: F401

# The navigation sidebar took a quarter of a 1280 px screen, pushing the lists' key columns (status, tier,
# points, dates) out of sight; the index page and the breadcrumbs navigate instead.
admin.site.enable_nav_sidebar = False
