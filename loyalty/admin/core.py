"""Admin for the program settings, the ledger (read-only), stores and API keys."""

from typing import cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from loyalty.admin.display import date_cell, member_cell, text_cell
from loyalty.admin.imports import ServiceImportAdminMixin
from loyalty.exports import CsvExportMixin
from loyalty.imports import PointsImportResource
from loyalty.models import (
    ApiKey,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    LotAllocation,
    PointLot,
    Program,
    StaffAction,
    StaffActionSource,
    Store,
)
from loyalty.reasons import reason_render
from loyalty.services.api_keys import api_key_create, api_key_revoke
from loyalty.services.program import program_get


class ReadOnlyAdminMixin:
    """The ledger is append-only and written by loyalty.services.ledger alone: the admin only looks."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# -- program settings ------------------------------------------------------------------------------


class ProgramAdminForm(forms.ModelForm):
    """The settings page says what each setting does (help texts that are not on the model fields)."""

    class Meta:
        model = Program
        exclude: list[str] = []  # every setting; the fieldsets below order them
        help_texts = {
            "name": _("Shown to members in the portal and in emails."),
            "rounding": _("Points of an order are added up and rounded once: half up (the default), down or up."),
            "include_tax": _("Off: tax is taken out of the amount that earns points."),
            "point_value": _("What one point is worth when spent; also the liability of each outstanding point."),
            "min_redeem_points": _("Fewer available points than this cannot be spent at checkout."),
            "max_discount_percent": _("The largest share of an order that points may pay for."),
            "coupon_valid_days": _("How long a coupon from a redemption can be used."),
            "pending_days": _("Points wait this many days before they can be spent (time for returns). 0: at once."),
            "expiry_extends_to": _("Push each expiry date to the end of its month or year, so points expire "
                                   "together."),
            "expiry_warning_days": _("Members get an email this many days before points expire. 0: no email."),
            "tier_metric": _("What qualifies a member for a tier: points earned, or money spent."),
            "tier_window": _("Over which period the tier metric counts."),
            "tier_hold_months": _("A member keeps a tier at least this long before a downgrade."),
            "signup_bonus": _("Points for a new member, once, when they enrol (portal, till, API or import). "
                              "0: none."),
            "birthday_bonus": _("Points on the member's birthday, once a year, for active members. 0: none."),
            "referral_referrer_bonus": _("Points for the member who referred someone, once the newcomer's first "
                                         "purchase with points is released. 0: none."),
            "referral_referee_bonus": _("Points for the newcomer who joins with a referral link. 0: none."),
        }


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    """The one settings row: no list, no add once it exists, never deleted."""

    form = ProgramAdminForm

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name in ("brand_colour", "accent_colour"):
            kwargs["widget"] = forms.TextInput(attrs={"type": "color"})  # the browser's colour picker
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    fieldsets = [
        (None, {"fields": ["name", "currency", "terms"]}),
        (_("Branding"), {
            "fields": ["logo", "brand_colour", "accent_colour"],
            "description": _("The programme's look in the member portal, its emails and this admin's header."),
        }),
        (_("Earning"), {
            "fields": ["earn_rate", "rounding", "include_tax", "pending_days"],
            "description": _("How purchases turn into points. Earning rules (per SKU or category), tier "
                             "multipliers and promotions change this per line or per member."),
        }),
        (_("Redemption"), {
            "fields": ["point_value", "min_redeem_points", "max_discount_percent", "coupon_valid_days"],
            "description": _("How points are spent: at checkout as a discount, or on rewards from the catalogue."),
        }),
        (_("Expiry"), {
            "fields": ["points_valid_days", "expiry_extends_to", "expiry_warning_days"],
            "description": _("Each batch of points expires on its own date, counted from the purchase."),
        }),
        (_("Tiers"), {
            "fields": ["tier_metric", "tier_window", "tier_window_months", "tier_hold_months"],
            "description": _("Members move up as soon as they qualify; they move down only in the nightly "
                             "recalculation, after the hold period."),
        }),
        (_("Bonuses and referrals"), {
            "fields": ["signup_bonus", "birthday_bonus", "referral_referrer_bonus", "referral_referee_bonus",
                       "referral_cap"],
            "description": _("Points given for something other than a purchase, each paid once: the sign-up bonus "
                             "when a member joins, the birthday bonus once a year, the referral bonuses to both "
                             "sides of a referral (the referrer's up to the cap)."),
        }),
        (_("Emails to members"), {
            "fields": ["welcome_email", "tier_upgrade_email", "reward_redeemed_email", "expiry_reminder_email"],
            "description": _("Which emails the programme sends; members can switch each off in their profile."),
        }),
    ]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not Program.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        program = program_get()
        return HttpResponseRedirect(reverse("admin:loyalty_program_change", args=[program.pk]))


# -- ledger (read-only) ----------------------------------------------------------------------------


class LedgerEntryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = LedgerEntry
    fields = ["account", "points"]
    readonly_fields = cast("list[str]", fields)
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account", "account__member")


class LotAllocationInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = LotAllocation
    fields = ["lot", "points"]
    readonly_fields = cast("list[str]", fields)
    extra = 0
    can_delete = False
    verbose_name = _("points taken from a lot")
    verbose_name_plural = _("points taken from lots (negative: given back)")


class PointLotCreatedInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PointLot
    fields = ["points", "remaining", "expired", "earned_at", "available_at", "released_at", "expires_at"]
    readonly_fields = cast("list[str]", fields)
    extra = 0
    can_delete = False
    verbose_name = _("lot created")
    verbose_name_plural = _("lots created")


class PostedByFilter(admin.SimpleListFilter):
    """Fixed choices: listing the distinct job names would scan the whole ledger on every page."""

    title = _("posted by")
    parameter_name = "posted_by"

    def lookups(self, request, model_admin):
        return [("staff", _("Staff")), ("job", _("Scheduled job")), ("store", _("Store or API key"))]

    def queryset(self, request, queryset):
        if self.value() == "staff":
            return queryset.filter(staff_user__isnull=False)
        if self.value() == "job":
            return queryset.exclude(job="")
        if self.value() == "store":
            return queryset.filter(store__isnull=False)
        return queryset


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(CsvExportMixin, ServiceImportAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    resource_classes = [PointsImportResource]
    import_help = _(
        "Grant or correct points: one row per member with loyalty_id or email, points (positive adds, negative "
        "removes), reason (shown to the member) and optionally expires_at (YYYY-MM-DD, for points added) and "
        "reference (a row with a reference already imported for that member is skipped)."
    )
    change_list_template = "admin/change_list_csv.html"
    csv_filename = "transactions"
    csv_header = ("id", "occurred_at", "loyalty_id", "kind", "points", "balance_after", "reason", "reference",
                  "store", "staff_user", "job", "idempotency_key")
    list_display = ["occurred_at", "member_cell", "kind", "points", "balance_after", "reason_cell", "posted_by"]
    list_filter = ["kind", PostedByFilter, "store", ("occurred_at", admin.DateFieldListFilter)]
    list_select_related = ["member", "store", "staff_user"]
    search_fields = ["=member__loyalty_id", "=idempotency_key", "=reference"]
    search_help_text = _("Exact loyalty ID, idempotency key or reference.")
    ordering = ["-occurred_at", "-id"]
    show_full_result_count = False
    fields = ["kind", "member", "points", "balance_after", "reason", "reference", "occurred_at", "created_at", "store",
              "staff_user", "job", "idempotency_key", "metadata"]
    readonly_fields = cast("list[str]", fields)
    inlines = [LedgerEntryInline, LotAllocationInline, PointLotCreatedInline]

    @admin.display(description=_("member"), ordering="member__last_name")
    def member_cell(self, obj: LedgerTransaction):
        return member_cell(obj.member)

    @admin.display(description=_("reason"))
    def reason_cell(self, obj: LedgerTransaction) -> str:
        return text_cell(obj.reason_text)

    @admin.display(description=_("posted by"))
    def posted_by(self, obj: LedgerTransaction) -> str:
        return str(obj.staff_user or obj.store or obj.job or "—")

    def csv_rows(self, queryset):
        rows = queryset.values_list(
            "id", "occurred_at", "member__loyalty_id", "kind", "points", "balance_after", "reason_msgid",
            "reason_params", "reason", "reference", "store__slug", "staff_user__email", "job", "idempotency_key",
        ).iterator(chunk_size=self.csv_chunk_size)
        for row in rows:
            yield (*row[:6], reason_render(row[6], row[7], row[8]), *row[9:])


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "member", "kind", "balance"]
    list_filter = ["kind", ("member", admin.EmptyFieldListFilter)]
    list_select_related = ["member"]
    search_fields = ["=member__loyalty_id"]
    search_help_text = _("Exact loyalty ID.")
    show_full_result_count = False


class LotStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("pending", _("Pending")),
            ("open", _("Available, with points left")),
            ("used", _("Used up or expired")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(released_at__isnull=True, remaining__gt=0)
        if self.value() == "open":
            return queryset.filter(released_at__isnull=False, remaining__gt=0)
        if self.value() == "used":
            return queryset.filter(remaining=0)
        return queryset


@admin.register(PointLot)
class PointLotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "member_cell", "points", "remaining", "expired", "earned_at", "state", "expires_at"]
    list_filter = [LotStateFilter, ("expires_at", admin.DateFieldListFilter), ("earned_at", admin.DateFieldListFilter)]
    list_select_related = ["member"]
    search_fields = ["=member__loyalty_id", "=transaction__idempotency_key"]
    search_help_text = _("Exact loyalty ID or idempotency key of the crediting transaction.")
    ordering = ["-earned_at", "-id"]
    show_full_result_count = False
    fields = ["member", "transaction", "points", "remaining", "expired", "earned_at", "available_at", "released_at",
              "expires_at"]
    readonly_fields = cast("list[str]", fields)

    @admin.display(description=_("member"), ordering="member__last_name")
    def member_cell(self, obj: PointLot):
        return member_cell(obj.member)

    @admin.display(description=_("state"))
    def state(self, obj: PointLot) -> str:
        if obj.released_at is None:
            return gettext("Pending until %(date)s") % {"date": date_cell(obj.available_at)}
        return gettext("Available") if obj.remaining else gettext("Used up or expired")


# -- stores and API keys ---------------------------------------------------------------------------


class StoreAdminForm(forms.ModelForm):
    """The WooCommerce secret is write-only: never shown again; left empty it stays as it was."""

    woocommerce_secret = forms.CharField(
        label=_("WooCommerce webhook secret"),
        required=False,
        max_length=255,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Write-only. Leave empty to keep the current secret."),
    )
    clear_woocommerce_secret = forms.BooleanField(label=_("Remove the webhook secret"), required=False)

    class Meta:
        model = Store
        fields = ["name", "slug", "auto_enroll", "woocommerce_secret"]

    def clean(self):
        cleaned = super().clean()
        secret = cleaned.get("woocommerce_secret")
        if cleaned.get("clear_woocommerce_secret"):
            if secret:
                self.add_error("woocommerce_secret", _("Either enter a new secret or remove it, not both."))
            cleaned["woocommerce_secret"] = ""
        elif not secret:
            cleaned["woocommerce_secret"] = self.instance.woocommerce_secret if self.instance.pk else ""
        return cleaned


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fields = ["prefix", "name", "scope", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = cast("list[str]", fields)
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    form = StoreAdminForm
    list_display = ["name", "slug", "auto_enroll", "has_webhook_secret", "created_at"]
    list_filter = ["auto_enroll"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    fields = ["name", "slug", "auto_enroll", "woocommerce_secret", "clear_woocommerce_secret"]
    inlines = [ApiKeyInline]

    @admin.display(boolean=True, description=_("webhook secret set"))
    def has_webhook_secret(self, obj: Store) -> bool:
        return bool(obj.woocommerce_secret)

    def has_delete_permission(self, request, obj=None):
        # Purchases, keys and ledger rows point at stores; stores stay for the audit trail.
        return False


class ApiKeyStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", _("Live")), ("revoked", _("Revoked"))]

    def queryset(self, request, queryset):
        if self.value() == "live":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are generated by api_key_create; the raw key is shown once, on the page after saving."""

    list_display = ["prefix", "name", "scope", "store", "created_at", "last_used_at", "revoked_at"]
    list_filter = [ApiKeyStateFilter, "scope", "store"]
    list_select_related = ["store"]
    search_fields = ["=prefix", "name", "store__name", "store__slug"]
    actions = ["revoke"]
    created_template = "admin/loyalty/apikey/created.html"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["store", "scope", "name"]
        return ["prefix", "store", "scope", "name", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # Store and scope are fixed for a key's life: issue a new key instead of widening an old one.
        return ["prefix", "store", "scope", "created_at", "last_used_at", "revoked_at"]

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row stays for the audit trail

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        api_key, raw = api_key_create(store=obj.store, scope=obj.scope, name=obj.name)
        obj.pk = api_key.pk
        obj.prefix = api_key.prefix
        obj.hashed_key = api_key.hashed_key
        obj.created_at = api_key.created_at
        obj._state.adding = False
        request._api_key_raw = raw  # rendered by response_add, never stored

    def response_add(self, request, obj, post_url_continue=None):
        raw = getattr(request, "_api_key_raw", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "api_key": obj,
            "raw_key": raw,
            "title": _("API key created"),
        }
        response = TemplateResponse(request, self.created_template, context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Revoke the selected API keys"), permissions=["change"])
    def revoke(self, request, queryset):
        count = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key)
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d API key revoked.", "%(count)d API keys revoked.", count) % {"count": count},
            messages.SUCCESS,
        )


# -- audit log of staff actions (read-only) ---------------------------------------------------------


@admin.register(StaffAction)
class StaffActionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Bulk actions and imports, written by the services that did them. Never changed or deleted."""

    list_display = ["performed_at", "who", "kind", "count", "summary"]
    list_filter = ["kind", "source", ("performed_at", admin.DateFieldListFilter)]
    list_select_related = ["staff_user"]
    search_fields = ["staff_user__email"]
    search_help_text = _("Staff email.")
    date_hierarchy = "performed_at"
    show_full_result_count = False
    fields = ["performed_at", "who", "kind", "count", "summary", "details_list"]
    readonly_fields = cast("list[str]", fields)

    @admin.display(description=_("who"), ordering="staff_user__email")
    def who(self, obj: StaffAction) -> str:
        if obj.staff_user_id:
            return str(obj.staff_user)
        if obj.source == StaffActionSource.API:
            return gettext("API key %(key)s") % {"key": (obj.details or {}).get("api_key", "")}
        return str(StaffActionSource.COMMAND.label)

    @admin.display(description=_("summary"))
    def summary(self, obj: StaffAction) -> str:
        details = obj.details or {}
        parts = []
        if "points" in details:
            parts.append(f"{details['points']:+d}")
        if details.get("action"):
            parts.append(details["action"])
        if details.get("reason"):
            parts.append(f"“{details['reason']}”")
        if details.get("file"):
            parts.append(details["file"])
        selection = details.get("selection") or {}
        if "filter" in selection:
            parts.append(gettext("all matching %(filter)s") % {"filter": selection["filter"]})
        elif "selected" in selection:
            parts.append(ngettext("%(count)d selected", "%(count)d selected", selection["selected"])
                         % {"count": selection["selected"]})
        elif "member" in selection:
            parts.append(selection["member"])
        if details.get("refused"):
            parts.append(gettext("%(count)d left out") % {"count": details["refused"]})
        return " · ".join(str(part) for part in parts)

    @admin.display(description=_("details"))
    def details_list(self, obj: StaffAction) -> str:
        rows = format_html_join(
            "", "<dt>{}</dt><dd>{}</dd>",
            ((key.replace("_", " "), ", ".join(map(str, value)) if isinstance(value, list) else value)
             for key, value in sorted((obj.details or {}).items())),
        )
        return format_html('<dl class="staff-action-details">{}</dl>', rows)
