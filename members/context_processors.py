"""What every page needs: the programme (name, logo), the branding stylesheet's version, and the menu."""

from __future__ import annotations

from loyalty.branding import branding_version
from loyalty.services.program import program_get, tiers_cached_get
from members.navigation import portal_nav


def portal(request) -> dict:
    program = program_get()
    tiers = [(tier.code, tier.colour) for tier in tiers_cached_get()]
    context = {
        "program": program,
        "branding_version": branding_version(program.brand_colour, program.accent_colour, tiers),
    }
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and getattr(user, "member", None) is not None:
        context["portal_nav"] = portal_nav(request.path)
    return context
