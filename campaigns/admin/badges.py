"""Admin for badges (with holders and image previews), the awards (manual grants with a reason), and the
members list's "Grant a badge" action."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from campaigns.models import Badge, BadgeAward, BadgeSource
from campaigns.services.badges import badge_save, badges_with_holders, member_badge_grant, members_badge_grant
from campaigns.services.common import CampaignInvalid
from loyalty.admin.display import action_selection
from loyalty.exports import CsvExportMixin
from members.admin import MemberAdmin
from members.bulk import BulkTooLarge


def _preview(image, size: int) -> str:
    if not image:
        return "—"
    return format_html('<img src="{}" alt="" width="{}" class="badge-preview">', image.url, size)


@admin.register(Badge)
class BadgeAdmin(admin.ModelAdmin):
    list_display = ["preview", "code", "name", "tier", "active", "holders_link"]
    list_display_links = ["code", "name"]
    list_filter = ["active", "tier"]
    search_fields = ["code", "name"]
    prepopulated_fields = {"code": ("name",)}
    readonly_fields = ["image_preview", "created_at", "updated_at"]
    fields = ["code", "name", "description", "image", "image_preview", "tier", "active", "created_at", "updated_at"]

    def get_queryset(self, request):
        return badges_with_holders()

    def save_model(self, request, obj, form, change):
        try:
            badge_save(badge=obj)
        except CampaignInvalid as error:  # the form validated already; a concurrent change of the code
            raise PermissionDenied(error.detail) from None

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and (obj.awards.exists() or obj.challenges.exists() or obj.rewards.exists()):
            return False  # held or used: deactivate it instead
        return super().has_delete_permission(request, obj)

    @admin.display(description=_("image"))
    def preview(self, badge: Badge) -> str:
        return _preview(badge.thumbnail or badge.image, 40)

    @admin.display(description=_("preview"))
    def image_preview(self, badge: Badge) -> str:
        return _preview(badge.thumbnail or badge.image, 200)

    @admin.display(description=_("holders"), ordering="holders")
    def holders_link(self, badge: Badge) -> str:
        url = reverse("admin:campaigns_badgeaward_changelist") + f"?badge__id__exact={badge.pk}"
        return format_html('<a href="{}">{}</a>', url, badge.holders)  # type: ignore[attr-defined]  # annotated


class BadgeGrantForm(forms.ModelForm):
    """A grant by hand: the badge, the member and a reason the member will read."""

    class Meta:
        model = BadgeAward
        fields = ["badge", "member", "reason"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["badge"].queryset = Badge.objects.filter(active=True)
        self.fields["reason"].required = True

    def clean(self):
        cleaned = super().clean()
        badge, member = cleaned.get("badge"), cleaned.get("member")
        if badge and member and BadgeAward.objects.filter(badge=badge, member=member).exists():
            raise forms.ValidationError(gettext("This member already holds this badge."))
        return cleaned

    def validate_unique(self):
        pass  # checked in clean(), with a readable message


@admin.register(BadgeAward)
class BadgeAwardAdmin(CsvExportMixin, admin.ModelAdmin):
    list_display = ["badge", "member", "source", "awarded_at", "challenge", "tier", "staff_user", "reason"]
    change_list_template = "admin/change_list_csv.html"
    csv_filename = "badge-awards"
    csv_header = ("id", "awarded_at", "loyalty_id", "badge", "source", "challenge", "tier", "reason")
    list_filter = ["source", "badge"]
    search_fields = ["=member__loyalty_id", "member__email", "badge__code", "badge__name"]
    list_select_related = ["badge", "member", "challenge", "tier", "staff_user"]
    autocomplete_fields = ["member"]
    ordering = ["-awarded_at", "-id"]

    def csv_rows(self, queryset):
        return queryset.values_list(
            "id", "awarded_at", "member__loyalty_id", "badge__code", "source", "challenge__code", "tier__code",
            "reason",
        ).iterator(chunk_size=self.csv_chunk_size)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = BadgeGrantForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["badge", "member", "reason"]
        return ["badge", "member", "source", "awarded_at", "challenge", "tier", "staff_user", "reason"]

    def save_model(self, request, obj, form, change):
        try:
            award, _created = member_badge_grant(
                badge=form.cleaned_data["badge"], member=form.cleaned_data["member"],
                reason=form.cleaned_data["reason"], staff_user=request.user,
            )
        except CampaignInvalid as error:
            raise PermissionDenied(error.detail) from None
        obj.pk = award.pk
        obj._state.adding = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a grant is given or taken back, never edited

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.source != BadgeSource.STAFF:
            return False  # earned from a challenge or a tier: part of the member's history
        return super().has_delete_permission(request, obj)


# -- "Grant a badge" on the members list ----------------------------------------------------------------
# The members admin's bulk-action pattern (members.admin, members.bulk): the selected members or every member
# matching the list's filter ("Select all"), a form, then one service call recorded in the audit log.


class BadgeGrantActionForm(forms.Form):
    badge = forms.ModelChoiceField(label=_("Badge"), queryset=Badge.objects.filter(active=True))
    reason = forms.CharField(label=_("Reason"), max_length=255, help_text=_("Shown to the members with the badge."))


def _has_grant_badge_permission(self, request) -> bool:
    """Bulk actions on members (view members and run bulk actions) and granting badges."""
    return self.has_bulk_permission(request) and request.user.has_perm("campaigns.add_badgeaward")


@admin.action(description=_("Grant a badge…"), permissions=["grant_badge"])
def grant_badge(modeladmin, request, queryset):
    form = BadgeGrantActionForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        try:
            result = members_badge_grant(
                members=queryset, badge=form.cleaned_data["badge"], reason=form.cleaned_data["reason"],
                staff_user=request.user, selection=action_selection(request),
            )
        except (BulkTooLarge, CampaignInvalid) as error:
            modeladmin.message_user(request, str(error), messages.ERROR)
            return None
        badge = form.cleaned_data["badge"]
        # _report fills in the count again: the badge's name is escaped for that.
        modeladmin._report(request, result, lambda count: ngettext(
            "%(badge)s granted to %(count)d member.", "%(badge)s granted to %(count)d members.", count,
        ) % {"badge": badge.name.replace("%", "%%"), "count": count})
        return None
    count = queryset.count()
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.model._meta,
        "title": gettext("Grant a badge"),
        "form": form,
        "count": count,
        "queryset": queryset[:20],
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "media": modeladmin.media + form.media,
    }
    return TemplateResponse(request, "admin/campaigns/grant_badge.html", context)


# The action lives with the badges; the members admin is members' own.
MemberAdmin.has_grant_badge_permission = _has_grant_badge_permission  # type: ignore[attr-defined]
MemberAdmin.actions = [*(MemberAdmin.actions or []), grant_badge]  # type: ignore[misc]
