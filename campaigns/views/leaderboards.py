"""The portal's Leaderboard page: the periods, the top places, my own place and a link to the settings."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from campaigns.models import LeaderboardPeriod
from campaigns.services.leaderboards import (
    leaderboard_prizes_get,
    leaderboard_rank_get,
    leaderboard_top_get,
    member_on_board,
    period_get,
)
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
    rows = leaderboard_top_get(period=period, limit=BOARD_SIZE)
    me = leaderboard_rank_get(member=member, period=period)
    context = {
        "member": member,
        "period": period,
        "period_label": LeaderboardPeriod(kind).label,
        "periods": LeaderboardPeriod.choices,
        "rows": rows,
        "me": me,
        # Below the top places: the member's own row, after a gap.
        "me_below": me is not None and me["rank"] > len(rows),
        "on_board": member_on_board(member),
        "prizes": leaderboard_prizes_get(),
    }
    return render(request, "campaigns/leaderboard.html", context)
