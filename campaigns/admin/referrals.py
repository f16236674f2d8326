"""Admin for referrals: staff review blocked ones (unblock pays as if never blocked; cancel ends it), each
review recorded in the audit log."""

from django.contrib import admin, messages
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from campaigns.models import Referral, ReferralStatus
from campaigns.services.referrals import referrals_review
from loyalty.admin.display import action_selection
from loyalty.exports import CsvExportMixin


@admin.register(Referral)
class ReferralAdmin(CsvExportMixin, admin.ModelAdmin):
    list_display = ["created_at", "referrer", "referee", "status", "block_reason", "channel", "ip_address",
                    "referee_points", "referrer_points", "rewarded_at"]
    list_filter = ["status", "block_reason", "channel", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["referrer", "referee"]
    search_fields = ["=referrer__loyalty_id", "referrer__email", "=referee__loyalty_id", "referee__email",
                     "=referrer__referral_code", "=ip_address"]
    ordering = ["-created_at", "-id"]
    show_full_result_count = False
    actions = ["unblock", "cancel"]
    change_list_template = "admin/change_list_csv.html"
    csv_filename = "referrals"
    # Loyalty IDs, not emails or IP addresses: a spreadsheet travels further than the admin.
    csv_header = ("id", "created_at", "referrer", "referee", "channel", "status", "block_reason", "referee_points",
                  "referrer_points", "rewarded_at", "decided_at")
    readonly_fields = ["referrer", "referee", "status", "block_reason", "channel", "ip_address", "referee_confirmed",
                       "referee_points", "referee_transaction", "referrer_points", "referrer_transaction", "purchase",
                       "created_at", "rewarded_at", "decided_at", "decided_by"]
    fields = tuple(readonly_fields)

    def csv_rows(self, queryset):
        return queryset.values_list(
            "id", "created_at", "referrer__loyalty_id", "referee__loyalty_id", "channel", "status", "block_reason",
            "referee_points", "referrer_points", "rewarded_at", "decided_at",
        ).iterator(chunk_size=self.csv_chunk_size)

    def has_add_permission(self, request):
        return False  # a referral is made by the new member's enrolment

    def has_delete_permission(self, request, obj=None):
        return False

    def _review(self, request, queryset, decision: str, done_message: str) -> None:
        result = referrals_review(referrals=queryset, decision=decision, staff_user=request.user,
                                  selection=action_selection(request))
        for loyalty_id, why in result.refused:
            self.message_user(request, f"{loyalty_id}: {why}", messages.ERROR)
        if result.done:
            self.message_user(request, done_message % {"count": result.done}, messages.SUCCESS)

    @admin.action(description=_("Unblock the selected referrals (pay them as if never blocked)"),
                  permissions=["change"])
    def unblock(self, request, queryset):
        blocked = queryset.filter(status=ReferralStatus.BLOCKED)
        count = blocked.count()
        self._review(request, blocked, "unblock",
                     ngettext("%(count)s referral unblocked.", "%(count)s referrals unblocked.", count))
        if count < queryset.count():
            self.message_user(request, gettext("Only blocked referrals can be unblocked; the others were left as they "
                                               "were."), messages.WARNING)

    @admin.action(description=_("Cancel the selected referrals (nothing more is paid)"), permissions=["change"])
    def cancel(self, request, queryset):
        open_ = queryset.filter(status__in=[ReferralStatus.PENDING, ReferralStatus.BLOCKED])
        count = open_.count()
        self._review(request, open_, "cancel",
                     ngettext("%(count)s referral cancelled.", "%(count)s referrals cancelled.", count))
        if count < queryset.count():
            self.message_user(request, gettext("Only pending or blocked referrals can be cancelled; the others were "
                                               "left as they were."), messages.WARNING)
