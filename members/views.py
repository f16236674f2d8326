from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from loyalty.selectors import member_points_get


@login_required
def dashboard(request):
    member = getattr(request.user, "member", None)
    context = {"member": member, "points": member_points_get(member=member) if member else None}
    return render(request, "portal/dashboard.html", context)
