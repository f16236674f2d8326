"""The portal's badge wall: the signed-in member's earned badges, and the locked ones with how to earn them."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from campaigns.services.badges import member_badges_get
from members.models import Member
from members.views import member_required


@member_required
@require_GET
def badges(request, member: Member):
    items = member_badges_get(member=member)
    earned = sum(1 for item in items if item["award"] is not None)
    return render(request, "campaigns/badges.html", {"member": member, "items": items, "earned": earned})
