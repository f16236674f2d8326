"""What every page needs: the programme (name, logo), the branding stylesheet's version, and the menu.
Lazy: a page that shows none of them (the API docs, the admin's own pages) asks nothing of the database."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject, lazy

from loyalty.branding import branding_version
from loyalty.services.program import program_get, tiers_cached_get
from members.navigation import portal_nav


def _branding_version() -> str:
    program = program_get()
    tiers = [(tier.code, tier.colour) for tier in tiers_cached_get()]
    return branding_version(program.brand_colour, program.accent_colour, tiers)


def _nav(request) -> list:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(user, "member", None) is None:
        return []
    return portal_nav(request.path)


def portal(request) -> dict:
    return {
        "program": SimpleLazyObject(program_get),
        "branding_version": lazy(_branding_version, str)(),
        "portal_nav": SimpleLazyObject(lambda: _nav(request)),
    }
