"""Admin: the reward catalogue (with image previews), voucher pools (CSV import), redemptions (read-only,
with a cancel action) and the charity donation totals. Every change goes through rewards.services."""

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty.admin.display import action_selection, member_cell
from loyalty.exports import CsvExportMixin
from loyalty.services.ledger import LedgerError
from rewards.models import Redemption, RedemptionStatus, Reward, RewardKind, VoucherCode
from rewards.selectors import charity_donation_totals
from rewards.services import redemptions_cancel_bulk, voucher_codes_from_csv, voucher_codes_import

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

MAX_VOUCHER_FILE_BYTES = 10 * 1024 * 1024


def _preview(image, size: int) -> str:
    if not image:
        return "—"
    # A class, not a style attribute (a Content-Security-Policy forbids inline styles): rewards-admin.css.
    return format_html('<img src="{}" alt="" class="reward-preview-{}">', image.url, size)


@admin.register(Reward)
class RewardAdmin(admin.ModelAdmin):
    class Media:
        css = {"all": ["rewards/rewards-admin.css"]}

    list_display = ("preview", "code", "name", "kind", "cost_points", "value", "stock", "per_member_limit",
                    "min_tier", "active", "free_vouchers")
    list_display_links = ("code", "name")
    list_filter = ("active", "kind", "min_tier", "required_badge")
    search_fields = ("code", "name", "partner_name", "charity_name")
    prepopulated_fields = {"code": ("name",)}
    readonly_fields = ("image_preview", "unlocked_by", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("code", "name", "description", "how_to_use", "kind", "active")}),
        (gettext_lazy("Price and value"), {
            "fields": ("cost_points", "value"),
            "description": gettext_lazy(
                "Value is the currency value: the discount, the donation, or the cashback credit (cashback is "
                "worth less than the same points used as a discount). For a percentage discount: the percentage."
            ),
        }),
        (gettext_lazy("Availability"), {
            "fields": ("stock", "per_member_limit", "min_tier", "required_badge", "unlocked_by",
                       "available_from", "available_until"),
        }),
        (gettext_lazy("Kind details"), {"fields": ("partner_name", "charity_name", "sku")}),
        (gettext_lazy("Image"), {"fields": ("image", "image_preview")}),
        (gettext_lazy("History"), {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("min_tier", "required_badge").annotate(
            _free_vouchers=Count("voucher_codes", filter=Q(voucher_codes__redemption__isnull=True))
        )

    @admin.display(description=gettext_lazy("image"))
    def preview(self, reward: Reward) -> str:
        return _preview(reward.thumbnail or reward.image, 48)

    @admin.display(description=gettext_lazy("preview"))
    def image_preview(self, reward: Reward) -> str:
        return _preview(reward.thumbnail or reward.image, 400)

    @admin.display(description=gettext_lazy("unlocked by challenges"))
    def unlocked_by(self, reward: Reward) -> str:
        """A reward that is a challenge's prize is only for the members who completed that challenge."""
        if reward.pk is None:
            return "—"
        names = [challenge.name for challenge in reward.unlocking_challenges.all()]  # type: ignore[attr-defined]
        return ", ".join(names) or _("None: every member may redeem it (set it as a challenge's prize to lock it).")

    @admin.display(description=gettext_lazy("voucher codes left"))
    def free_vouchers(self, reward: Reward):
        return reward._free_vouchers if reward.kind == RewardKind.PARTNER_VOUCHER else "—"  # type: ignore[attr-defined]  # annotated in get_queryset


class VoucherImportForm(forms.Form):
    reward = forms.ModelChoiceField(
        label=gettext_lazy("Reward"), queryset=Reward.objects.filter(kind=RewardKind.PARTNER_VOUCHER),
        help_text=gettext_lazy("A partner voucher reward."),
    )
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy("One code per row in the first column; a header row `code` is skipped."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_VOUCHER_FILE_BYTES:
            raise forms.ValidationError(_("The file is larger than 10 MB."))
        return upload


class AssignedFilter(admin.SimpleListFilter):
    title = gettext_lazy("assigned")
    parameter_name = "assigned"

    def lookups(self, request, model_admin):
        return [("yes", _("Assigned")), ("no", _("In the pool"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(redemption__isnull=False)
        if self.value() == "no":
            return queryset.filter(redemption__isnull=True)
        return queryset


@admin.register(VoucherCode)
class VoucherCodeAdmin(admin.ModelAdmin):
    list_display = ("code", "reward", "redemption", "imported_at", "assigned_at")
    list_filter = (AssignedFilter, "reward")
    search_fields = ("code", "reward__code", "redemption__code")
    list_select_related = ("reward", "redemption")
    fields = ("reward", "code", "redemption", "imported_at", "assigned_at")
    readonly_fields = ("redemption", "imported_at", "assigned_at")
    change_list_template = "rewards/admin/vouchercode_change_list.html"

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # codes are imported or added, never edited

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.redemption_id is not None:
            return False  # a handed-out code is part of a redemption's history
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request, queryset):
        queryset.filter(redemption__isnull=True).delete()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "reward":
            kwargs["queryset"] = Reward.objects.filter(kind=RewardKind.PARTNER_VOUCHER)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="rewards_vouchercode_import"),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = VoucherImportForm(request.POST or None, request.FILES or None,
                                 initial={"reward": request.GET.get("reward")})
        if request.method == "POST" and form.is_valid():
            reward = form.cleaned_data["reward"]
            try:
                codes = voucher_codes_from_csv(data=form.cleaned_data["file"].read())
                result = voucher_codes_import(reward=reward, codes=codes)
            except LedgerError as error:
                form.add_error("file", error.detail)
            else:
                messages.success(request, _(
                    "%(created)s codes added to %(reward)s; %(duplicates)s duplicates and %(invalid)s invalid "
                    "rows skipped."
                ) % {"created": result.created, "reward": reward, "duplicates": result.duplicates,
                     "invalid": result.invalid})
                url = reverse("admin:rewards_vouchercode_changelist")
                return HttpResponseRedirect(f"{url}?reward__id__exact={reward.pk}")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Import voucher codes"),
            "form": form,
        }
        return TemplateResponse(request, "rewards/admin/voucher_import.html", context)


@admin.register(Redemption)
class RedemptionAdmin(CsvExportMixin, admin.ModelAdmin):
    list_display = ("code", "member_cell", "what", "points", "value_cell", "shown_status", "issued_at", "expires_at")
    list_filter = ("status", "kind", "reward", "store")
    search_fields = ("code", "member__loyalty_id", "member__email", "order_id", "used_order_id")
    list_select_related = ("member", "reward", "store")
    date_hierarchy = "issued_at"
    actions = ["cancel_redemptions"]
    change_list_template = "rewards/admin/redemption_change_list.html"
    csv_filename = "redemptions"
    # No coupon codes: a code is worth money at the till, and a spreadsheet travels further than the admin.
    csv_header = ("id", "issued_at", "loyalty_id", "kind", "reward", "points", "value", "currency", "status",
                  "expires_at", "used_at", "used_order_id", "cancelled_at", "order_id", "store", "charity")

    def csv_rows(self, queryset):
        return queryset.values_list(
            "id", "issued_at", "member__loyalty_id", "kind", "reward__code", "points", "value", "currency", "status",
            "expires_at", "used_at", "used_order_id", "cancelled_at", "order_id", "store__slug", "charity_name",
        ).iterator(chunk_size=self.csv_chunk_size)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("rewards.change_redemption")

    @admin.display(description=gettext_lazy("member"), ordering="member__last_name")
    def member_cell(self, redemption: Redemption):
        return member_cell(redemption.member)

    @admin.display(description=gettext_lazy("reward"), ordering="reward__name")
    def what(self, redemption: Redemption) -> str:
        return str(redemption.reward or redemption.get_kind_display())

    @admin.display(description=gettext_lazy("value"), ordering="value")
    def value_cell(self, redemption: Redemption) -> str:
        if redemption.kind == RewardKind.PERCENTAGE_DISCOUNT:
            return f"{redemption.value:g} %"
        return f"{formats.number_format(redemption.value, 2, use_l10n=True)} {redemption.currency}"

    @admin.display(description=gettext_lazy("status"), ordering="status")
    def shown_status(self, redemption: Redemption) -> "str | StrPromise":
        return RedemptionStatus(redemption.status_at()).label

    @admin.action(description=gettext_lazy("Cancel the selected redemptions (points back)"), permissions=["cancel"])
    def cancel_redemptions(self, request, queryset):
        result = redemptions_cancel_bulk(redemptions=queryset.order_by("pk"), staff_user=request.user,
                                         selection=action_selection(request))
        if result.cancelled:
            messages.success(request, _("%(count)s redemptions cancelled; their points were given back.")
                             % {"count": len(result.cancelled)})
        for redemption, why in result.refused:
            messages.warning(request, f"{redemption.code}: {why}")

    def get_urls(self):
        return [
            path("charity-totals/", self.admin_site.admin_view(self.charity_totals_view),
                 name="rewards_redemption_charity_totals"),
            *super().get_urls(),
        ]

    def charity_totals_view(self, request: HttpRequest):
        if not self.has_view_permission(request):
            raise PermissionDenied
        years = [
            day.year for day in Redemption.objects.filter(kind=RewardKind.CHARITY_DONATION).dates(
                "issued_at", "year", order="DESC"
            )
        ]
        year: Any = request.GET.get("year", "")  # a str, then an int or None
        since = until = None
        if year.isdigit() and 1900 <= int(year) <= 9998:
            year = int(year)
            since = timezone.make_aware(datetime(year, 1, 1))
            until = timezone.make_aware(datetime(year + 1, 1, 1))
        else:
            year = None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Charity donations"),
            "totals": charity_donation_totals(since=since, until=until),
            "years": years,
            "year": year,
        }
        return TemplateResponse(request, "rewards/admin/charity_totals.html", context)
