"""Admin for logins (email-only users) and members: balances, history, manual adjustments, bulk actions, CSV
import/export."""

from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from loyalty.admin.display import action_selection, date_cell
from loyalty.admin.imports import ServiceImportAdminMixin
from loyalty.exports import CsvExportMixin
from loyalty.models import AccountKind, LedgerAccount, LedgerTransaction, PointLot
from loyalty.selectors import member_expiring_get, member_points_get
from loyalty.services.ledger import LedgerError
from members.bulk import (
    BulkResult,
    BulkTooLarge,
    member_points_adjust,
    members_expiry_reminder_resend,
    members_points_adjust,
    members_status_set,
)
from members.forms import (
    BulkPointsAdjustForm,
    MemberAdminForm,
    PointsAdjustForm,
    UserAdminChangeForm,
    UserAdminCreationForm,
)
from members.imports import MemberImportResource
from members.models import Member, MemberStatus, User
from members.services import MemberInvalid, member_create, member_status_set

RECENT_HISTORY = 20
OPEN_LOTS = 50


def _with_points(queryset):
    """Annotate each member with the cached balances of their two accounts (one indexed row each)."""

    def balance(kind):
        return Subquery(LedgerAccount.objects.filter(member=OuterRef("pk"), kind=kind).values("balance")[:1])

    return queryset.annotate(
        available_points=balance(AccountKind.AVAILABLE), pending_points=balance(AccountKind.PENDING)
    )


# -- users -------------------------------------------------------------------------------------------


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Django's user admin without a username: people sign in with their email address."""

    form = UserAdminChangeForm
    add_form = UserAdminCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),
    )
    list_display = ("email", "first_name", "last_name", "is_staff", "is_active", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("email", "first_name", "last_name")
    ordering = ("email",)
    readonly_fields = ("last_login", "date_joined")


# -- members ---------------------------------------------------------------------------------------


@admin.register(Member)
class MemberAdmin(CsvExportMixin, ServiceImportAdminMixin, admin.ModelAdmin):
    """Members are never deleted (loyalty IDs are never reused): close them instead."""

    resource_classes = [MemberImportResource]
    form = MemberAdminForm
    import_help = _(
        "Enrol members, for instance from another programme: for new members the original join date "
        "(joined_at), an opening balance (available_points) and a tier floor (tier) are imported too. Members "
        "already enrolled (same email) get the filled-in profile cells updated."
    )
    change_list_template = "admin/change_list_csv.html"
    csv_filename = "members"
    csv_header = MemberImportResource.columns[:8] + (
        "status", "tier", "joined_at", "available_points", "pending_points", "lifetime_earned", "referral_code",
    )
    change_form_template = "admin/members/member/change_form.html"
    adjust_template = "admin/members/member/adjust_points.html"
    list_display = ["loyalty_id", "name_and_email", "status", "tier", "available_points", "joined_on"]
    list_filter = [
        "status", "tier", "marketing_consent", "leaderboard_opt_in", ("joined_at", admin.DateFieldListFilter)
    ]
    list_select_related = ["tier"]
    search_fields = ["=loyalty_id", "email", "first_name", "last_name", "=referral_code"]
    search_help_text = _("Loyalty ID or referral code (exact), email or name.")
    ordering = ["-joined_at", "-id"]
    show_full_result_count = False
    raw_id_fields = ["user"]
    add_fields = ["email", "first_name", "last_name", "birthday", "phone", "language", "marketing_consent"]
    fieldsets = [
        (None, {"fields": ["loyalty_id", "status", "user"]}),
        (_("Profile"), {"fields": ["email", "first_name", "last_name", "birthday", "phone", "language", "nickname",
                                   "leaderboard_opt_in"]}),
        (_("Consent"), {"fields": ["marketing_consent", "marketing_consent_at"]}),
        (_("Tier"), {"fields": ["tier", "tier_since", "tier_floor", "tier_floor_reason"]}),
        (_("Referral"), {"fields": ["referral_code", "referred_by"]}),
        (_("Points"), {"fields": ["lifetime_earned", "joined_at"]}),
    ]
    # Tiers change through the tier services (with history); points only through the ledger.
    change_readonly_fields = ["loyalty_id", "marketing_consent_at", "tier", "tier_since", "tier_floor",
                              "tier_floor_reason", "referral_code", "referred_by", "lifetime_earned", "joined_at"]

    def get_queryset(self, request):
        return _with_points(super().get_queryset(request))

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "language":
            return forms.ChoiceField(label=db_field.verbose_name, choices=settings.LANGUAGES, initial="en")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description=_("points"), ordering="available_points")
    def available_points(self, obj: Member):
        """Available points, and the pending ones below them (a new member's first points are pending)."""
        available, pending = obj.available_points, obj.pending_points  # type: ignore[attr-defined]  # annotated
        if pending:
            return format_html('{}<br><span class="quiet">{}</span>', available,
                               gettext("+%(points)s pending") % {"points": pending})
        return available

    @admin.display(description=_("member"), ordering="last_name")
    def name_and_email(self, obj: Member):
        name = f"{obj.first_name} {obj.last_name}".strip()
        return format_html('{}<br><span class="quiet">{}</span>', name or "—", obj.email)

    @admin.display(description=_("joined"), ordering="joined_at")
    def joined_on(self, obj: Member) -> str:
        return date_cell(obj.joined_at)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": self.add_fields})]
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.status == MemberStatus.CLOSED:  # anonymised: only the (final) status shows as a field
            return [name for _title, options in self.fieldsets for name in options["fields"] if name != "status"]
        return self.change_readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False

    def has_import_permission(self, request):
        return super().has_import_permission(request) and self.has_add_permission(request)

    # -- bulk actions: the selected members, or all that match the list's filter ("Select all") -------

    actions = ["bulk_adjust_points", "bulk_suspend", "bulk_reactivate", "bulk_resend_expiry_reminder"]
    bulk_adjust_template = "admin/members/member/bulk_adjust_points.html"

    def has_bulk_permission(self, request) -> bool:
        return self.has_view_permission(request) and request.user.has_perm("loyalty.run_bulk_actions")

    def _report(self, request, result: BulkResult, done: Callable[[int], str]) -> None:
        """Messages after a bulk action; `done(count)` says what was done, in the right plural form."""
        self.message_user(request, done(result.done) % {"count": result.done}, messages.SUCCESS)
        if result.already:
            self.message_user(request, ngettext(
                "%(count)d member was already done; nothing changed for them.",
                "%(count)d members were already done; nothing changed for them.", result.already,
            ) % {"count": result.already}, messages.INFO)
        if result.refused:
            shown = "; ".join(f"{loyalty_id}: {why}" for loyalty_id, why in result.refused[:10])
            more = len(result.refused) - 10
            if more > 0:
                shown += " " + gettext("(and %(count)d more, listed in the audit log)") % {"count": more}
            self.message_user(request, ngettext(
                "%(count)d member was left out: %(members)s", "%(count)d members were left out: %(members)s",
                len(result.refused),
            ) % {"count": len(result.refused), "members": shown}, messages.WARNING)

    @admin.action(description=_("Add or remove points…"), permissions=["bulk"])
    def bulk_adjust_points(self, request, queryset):
        from django.contrib.admin import helpers

        form = BulkPointsAdjustForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            try:
                result = members_points_adjust(
                    members=queryset, points=form.cleaned_data["points"], reason=form.cleaned_data["reason"],
                    staff_user=request.user, token=str(form.cleaned_data["token"]),
                    selection=action_selection(request),
                )
            except BulkTooLarge as error:
                self.message_user(request, str(error), messages.ERROR)
                return None
            self._report(request, result, lambda count: ngettext(
                "Points posted for %(count)d member.", "Points posted for %(count)d members.", count))
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Add or remove points"),
            "form": form,
            "count": queryset.count(),
            "queryset": queryset[:20],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "media": self.media + form.media,
        }
        return TemplateResponse(request, self.bulk_adjust_template, context)

    def _status(self, request, queryset, status: str, done: Callable[[int], str]) -> None:
        try:
            result = members_status_set(members=queryset, status=status, staff_user=request.user,
                                        selection=action_selection(request))
        except BulkTooLarge as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        self._report(request, result, done)

    @admin.action(description=_("Suspend the selected members"), permissions=["bulk"])
    def bulk_suspend(self, request, queryset):
        self._status(request, queryset, MemberStatus.SUSPENDED, lambda count: ngettext(
            "%(count)d member suspended.", "%(count)d members suspended.", count))

    @admin.action(description=_("Reactivate the selected members"), permissions=["bulk"])
    def bulk_reactivate(self, request, queryset):
        self._status(request, queryset, MemberStatus.ACTIVE, lambda count: ngettext(
            "%(count)d member reactivated.", "%(count)d members reactivated.", count))

    @admin.action(description=_("Send the expiry reminder again"), permissions=["bulk"])
    def bulk_resend_expiry_reminder(self, request, queryset):
        try:
            result = members_expiry_reminder_resend(members=queryset, staff_user=request.user,
                                                    selection=action_selection(request))
        except BulkTooLarge as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        self._report(request, result, lambda count: ngettext(
            "Expiry reminder sent to %(count)d member.", "Expiry reminders sent to %(count)d members.", count))

    def has_adjust_permission(self, request, obj=None) -> bool:
        """Support staff adjust points without changing members' profiles: viewing members is enough."""
        return self.has_view_permission(request, obj) and request.user.has_perm("loyalty.add_ledgertransaction")

    def csv_rows(self, queryset):
        rows = queryset.values_list(
            "loyalty_id", "email", "first_name", "last_name", "birthday", "phone", "language", "marketing_consent",
            "status", "tier__code", "joined_at", "available_points", "pending_points", "lifetime_earned",
            "referral_code",
        )
        return rows.iterator(chunk_size=self.csv_chunk_size)

    def save_model(self, request, obj, form, change):
        if change:
            # The status changes through the service, as in the API: closing anonymises the member (the
            # portal's member_close) and is recorded in the audit log with the staff user.
            status = obj.status
            if "status" in form.changed_data:
                obj.status = form.initial["status"]
            super().save_model(request, obj, form, change)
            if status != obj.status:
                try:
                    member_status_set(member=obj, status=status, staff_user=request.user)
                except MemberInvalid as error:  # the form's checks passed, then something changed meanwhile
                    raise PermissionDenied(error.fields.get("status", [error.detail])[0]) from None
            return
        member = member_create(**{name: form.cleaned_data[name] for name in self.add_fields})
        obj.pk = member.pk
        obj.loyalty_id = member.loyalty_id
        obj.referral_code = member.referral_code
        obj.joined_at = member.joined_at
        obj._state.adding = False

    # -- member page: balances, open lots, recent history ----------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        member = self.get_object(request, unquote(object_id))
        if member is not None:
            extra_context = {**(extra_context or {}), **self._points_context(request, member)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _points_context(self, request, member: Member) -> dict:
        return {
            "points": member_points_get(member=member),
            "expiring": member_expiring_get(member=member),
            "open_lots": list(
                PointLot.objects.filter(member=member, remaining__gt=0).order_by("expires_at", "earned_at", "id")[
                    :OPEN_LOTS
                ]
            ),
            "history": list(
                LedgerTransaction.objects.filter(member=member)
                .select_related("store", "staff_user")
                .order_by("-occurred_at", "-id")[:RECENT_HISTORY]
            ),
            "history_url": reverse("admin:loyalty_ledgertransaction_changelist") + f"?q={member.loyalty_id}",
            "can_adjust": self.has_adjust_permission(request, member),
        }

    # -- adjust points ---------------------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "<path:object_id>/adjust-points/",
                self.admin_site.admin_view(self.adjust_points_view),
                name=f"{self.opts.app_label}_{self.opts.model_name}_adjust_points",
            ),
            *super().get_urls(),
        ]

    def adjust_points_view(self, request, object_id):
        member = self.get_object(request, unquote(object_id))
        if member is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_adjust_permission(request, member):
            raise PermissionDenied
        if request.method == "POST":
            form = PointsAdjustForm(request.POST)
            if form.is_valid():
                try:
                    txn, replay = member_points_adjust(
                        member=member,
                        points=form.cleaned_data["points"],
                        reason=form.cleaned_data["reason"],
                        staff_user=request.user,
                        idempotency_key=form.idempotency_key,
                    )
                except LedgerError as exc:
                    form.add_error("points" if exc.code == "insufficient_points" else None, exc.detail)
                else:
                    if replay:
                        self.message_user(request, gettext("This adjustment was already recorded."), messages.WARNING)
                    else:
                        self.log_change(request, member, gettext("Adjusted points by %(points)+d: %(reason)s") % {
                            "points": txn.points, "reason": txn.reason,
                        })
                        self.message_user(
                            request,
                            gettext("Adjusted %(member)s by %(points)+d points. New total: %(balance)d.") % {
                                "member": member, "points": txn.points, "balance": txn.balance_after,
                            },
                            messages.SUCCESS,
                        )
                    return HttpResponseRedirect(reverse("admin:members_member_change", args=[member.pk]))
        else:
            form = PointsAdjustForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": member,
            "form": form,
            "points": member_points_get(member=member),
            "title": gettext("Adjust points"),
            "subtitle": str(member),
            "media": self.media + form.media,
        }
        return TemplateResponse(request, self.adjust_template, context)
