"""The portal's Leaderboard page: the periods, the top places, my own place and a link to the settings."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from campaigns.models import LeaderboardPeriod
from campaigns.services.leaderboards import leaderboard_rank_get, leaderboard_top_get, member_on_board, period_get
from members.models import Member
from members.views import member_required

BOARD_SIZE = 25


@member_required
@require_GET
def leaderboard(request, member: Member):
    member = Member.objects.get(pk=member.pk)
    kind = request.GET.get("period", LeaderboardPeriod.WEEK)
    if kind not in LeaderboardPeriod.values:
        kind = LeaderboardPeriod.WEEK
    period = period_get(kind)
    context = {
        "member": member,
        "period": period,
        "periods": LeaderboardPeriod.choices,
        "rows": leaderboard_top_get(period=period, limit=BOARD_SIZE),
        "me": leaderboard_rank_get(member=member, period=period),
        "on_board": member_on_board(member),
    }
    return render(request, "campaigns/leaderboard.html", context)
