"""Admin for the leaderboards: the board itself (this week, this month, all time), the monthly prize settings
and the prizes paid."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaigns.admin.common import ReadOnlyAdmin
from campaigns.models import LeaderboardAward, LeaderboardPeriod, LeaderboardPrize, LeaderboardScore
from campaigns.services.leaderboards import leaderboard_top_get, period_get
from members.models import Member

BOARD_SIZE = 50


@admin.register(LeaderboardScore)
class LeaderboardAdmin(ReadOnlyAdmin):
    """The changelist is the board: the top places of the chosen period, as members see it (with who they are)."""

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        kind = request.GET.get("period", LeaderboardPeriod.WEEK)
        if kind not in LeaderboardPeriod.values:
            kind = LeaderboardPeriod.WEEK
        period = period_get(kind)
        rows = leaderboard_top_get(period=period, limit=BOARD_SIZE)
        members = Member.objects.in_bulk([row["member_id"] for row in rows])
        for row in rows:
            row["member"] = members.get(row["member_id"])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Leaderboard"),
            "period": period,
            "periods": LeaderboardPeriod.choices,
            "rows": rows,
            "prizes": list(LeaderboardPrize.objects.order_by("rank")),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/campaigns/leaderboard.html", context)


@admin.register(LeaderboardPrize)
class LeaderboardPrizeAdmin(admin.ModelAdmin):
    list_display = ["rank", "points"]
    list_editable = ["points"]
    ordering = ["rank"]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "subtitle": _(
            "Paid on the 1st of each month by award_leaderboard_prizes to last month's top places, once per month."
        )}
        return super().changelist_view(request, extra_context)


@admin.register(LeaderboardAward)
class LeaderboardAwardAdmin(ReadOnlyAdmin):
    list_display = ["period_key", "rank", "member", "score", "prize_points", "transaction", "awarded_at"]
    list_filter = ["period_key"]
    search_fields = ["=member__loyalty_id", "member__email", "member__nickname"]
    list_select_related = ["member", "transaction"]
