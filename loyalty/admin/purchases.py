"""Admin for purchases and refunds (read-only lists; recording goes through the services) and earning rules."""

from decimal import Decimal
from typing import cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty.admin.display import member_cell
from loyalty.exports import CsvExportMixin
from loyalty.models import EarningRule, Purchase, Refund, Store
from loyalty.services.earning import EarningRuleInvalid, breakdown_localize, earning_rule_validate
from loyalty.services.ledger import LedgerError
from loyalty.services.program import program_get
from loyalty.services.purchases import purchase_record, purchase_status, refund_record
from members.models import Member

FORM_TEMPLATE = "admin/loyalty/purchase/form.html"


def _field_errors(form: forms.Form, error: LedgerError, default_field: str | None = None) -> None:
    """Show a service error on the form: on the fields it names, else at the top (or on default_field)."""
    fields = getattr(error, "fields", None) or {}
    placed = False
    for name, field_messages in fields.items():
        if name in form.fields:
            for message in field_messages:
                form.add_error(name, message)
            placed = True
    if not placed:
        form.add_error(default_field, error.detail or str(error))


# -- forms -----------------------------------------------------------------------------------------


class PurchaseRecordForm(forms.Form):
    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.objects.order_by("name"))
    member = forms.CharField(
        label=_("Member"), max_length=254, help_text=_("Loyalty ID (card number) or email address.")
    )
    order_id = forms.CharField(label=_("Order id"), max_length=100)
    total = forms.DecimalField(label=_("Total"), max_digits=12, decimal_places=2, min_value=Decimal("0"))
    currency = forms.CharField(label=_("Currency"), max_length=3, min_length=3)
    occurred_at = forms.SplitDateTimeField(
        label=_("Occurred at"),
        required=False,
        widget=AdminSplitDateTime,
        help_text=_("Empty: now."),
    )
    shipping = forms.DecimalField(
        label=_("Shipping"), max_digits=12, decimal_places=2, min_value=Decimal("0"), initial=Decimal("0")
    )
    tax = forms.DecimalField(
        label=_("Tax"), max_digits=12, decimal_places=2, min_value=Decimal("0"), initial=Decimal("0")
    )
    lines = forms.CharField(
        label=_("Lines"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "cols": 60}),
        help_text=_("Optional, one per row: SKU, quantity, line amount[, category]. Example: MUG, 2, 6.00, kitchen"),
    )

    def clean_member(self) -> Member:
        value = self.cleaned_data["member"].strip()
        member = Member.objects.filter(loyalty_id=value).first() if value.isdigit() else None
        member = member or Member.objects.filter(email__iexact=value).first()
        if member is None:
            raise forms.ValidationError(gettext("No member has this loyalty ID or email address."))
        return member

    def clean_lines(self) -> list[dict]:
        lines = []
        for number, row in enumerate(self.cleaned_data["lines"].splitlines(), start=1):
            if not row.strip():
                continue
            parts = [part.strip() for part in row.split(",")]
            if len(parts) not in (3, 4):
                raise forms.ValidationError(
                    gettext("Row %(n)s: write SKU, quantity, amount[, category].") % {"n": number}
                )
            line = {"sku": parts[0], "quantity": parts[1], "amount": parts[2]}
            if len(parts) == 4 and parts[3]:
                line["category"] = parts[3]
            lines.append(line)
        return lines


class RefundRecordForm(forms.Form):
    refund_id = forms.CharField(
        label=_("Refund id"),
        max_length=100,
        help_text=_("Unique per order; recording the same refund twice changes nothing."),
    )
    amount = forms.DecimalField(label=_("Amount"), max_digits=12, decimal_places=2, min_value=Decimal("0.01"))


# -- purchases -------------------------------------------------------------------------------------


class RefundInline(admin.TabularInline):
    model = Refund
    fields = ["refund_id", "amount", "points_reversed", "created_at"]
    readonly_fields = cast("list[str]", fields)
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Purchase)
class PurchaseAdmin(CsvExportMixin, admin.ModelAdmin):
    """Purchases are read-only here. "Add purchase" records one through the earning pipeline."""

    change_list_template = "admin/change_list_csv.html"
    csv_filename = "purchases"
    csv_header = ("order_id", "store", "loyalty_id", "occurred_at", "total", "currency", "shipping", "tax",
                  "eligible_amount", "points_base", "points_bonus", "refunded_total", "points_reversed")

    list_display = ["order_id", "occurred_at", "member_cell", "store", "total_cell", "points_cell", "refunded_cell"]
    list_filter = ["store", ("occurred_at", admin.DateFieldListFilter)]
    list_select_related = ["store", "member"]
    search_fields = ["=order_id", "=member__loyalty_id", "member__email"]
    search_help_text = _("Order id or loyalty ID (exact), or member email.")
    date_hierarchy = "occurred_at"
    ordering = ["-occurred_at", "-id"]
    show_full_result_count = False
    inlines = [RefundInline]
    fields = [
        "order_id",
        "store",
        "member",
        "total",
        "currency",
        "shipping",
        "tax",
        "lines",
        "occurred_at",
        "eligible_amount",
        "points_base",
        "points_bonus",
        "breakdown_text",
        "status",
        "available_at",
        "refunded_total",
        "points_reversed",
        "transaction",
        "record_refund",
    ]
    readonly_fields = cast("list[str]", fields)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def csv_rows(self, queryset):
        return queryset.values_list(
            "order_id", "store__slug", "member__loyalty_id", "occurred_at", "total", "currency", "shipping", "tax",
            "eligible_amount", "points_base", "points_bonus", "refunded_total", "points_reversed",
        ).iterator(chunk_size=self.csv_chunk_size)

    @admin.display(description=_("member"), ordering="member__last_name")
    def member_cell(self, obj: Purchase):
        return member_cell(obj.member)

    @admin.display(description=_("total"), ordering="total")
    def total_cell(self, obj: Purchase) -> str:
        return f"{formats.number_format(obj.total, 2, use_l10n=True)} {obj.currency}"

    @admin.display(description=_("points"))
    def points_cell(self, obj: Purchase):
        if obj.points_bonus:
            return format_html('{}<br><span class="quiet">{}</span>', obj.points_total,
                               gettext("incl. %(bonus)s bonus") % {"bonus": obj.points_bonus})
        return obj.points_total

    @admin.display(description=_("refunded"), ordering="refunded_total")
    def refunded_cell(self, obj: Purchase):
        if not obj.refunded_total:
            return "—"
        return format_html('{} {}<br><span class="quiet">{}</span>',
                           formats.number_format(obj.refunded_total, 2, use_l10n=True), obj.currency,
                           gettext("%(points)s points back") % {"points": obj.points_reversed})

    @admin.display(description=_("breakdown"))
    def breakdown_text(self, obj: Purchase) -> str:
        return "; ".join(f"{line['description']}: {line['points']}" for line in breakdown_localize(obj.breakdown))

    @admin.display(description=_("status"))
    def status(self, obj: Purchase) -> str:
        return gettext("pending") if purchase_status(obj) == "pending" else gettext("available")

    @admin.display(description=_("refund"))
    def record_refund(self, obj: Purchase) -> str:
        if obj.refunded_total >= obj.total:
            return gettext("Fully refunded.")
        url = reverse("admin:loyalty_purchase_refund", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, gettext("Record a refund"))

    def get_urls(self):
        return [
            path(
                "<path:object_id>/refund/", self.admin_site.admin_view(self.refund_view), name="loyalty_purchase_refund"
            ),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        """Record a purchase exactly as the API does: the earning pipeline, idempotent by (store, order id)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        program = program_get()
        initial = {"currency": program.currency}
        if (store := Store.objects.order_by("name").first()) is not None:
            initial["store"] = store
        form = PurchaseRecordForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                purchase, created = purchase_record(
                    store=data["store"],
                    member=data["member"],
                    order_id=data["order_id"],
                    total=data["total"],
                    currency=data["currency"],
                    occurred_at=data["occurred_at"],
                    shipping=data["shipping"],
                    tax=data["tax"],
                    lines=data["lines"],
                    staff_user=request.user,
                )
            except LedgerError as error:
                _field_errors(form, error)
            else:
                if created:
                    messages.success(
                        request,
                        gettext("Purchase %(order)s recorded: %(points)s points.")
                        % {"order": purchase.order_id, "points": purchase.points_total},
                    )
                else:
                    messages.info(
                        request,
                        gettext("Order %(order)s was already recorded; nothing changed.")
                        % {"order": purchase.order_id},
                    )
                return HttpResponseRedirect(reverse("admin:loyalty_purchase_change", args=[purchase.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Record a purchase"),
            "intro": gettext(
                "Points are calculated with the program's earn rate, rounding, earning rules, tier "
                "multiplier and live promotions, exactly as for the API."
            ),
            "submit_label": gettext("Record purchase"),
            "form": form,
            "original": None,
        }
        return TemplateResponse(request, FORM_TEMPLATE, context)

    def refund_view(self, request, object_id):
        if not self.has_view_permission(request) or not request.user.has_perm("loyalty.add_refund"):
            raise PermissionDenied
        purchase = self.get_object(request, unquote(object_id))
        if purchase is None:
            return self._get_obj_does_not_exist_redirect(request, self.model._meta, object_id)
        initial = {
            "refund_id": f"admin-{timezone.now():%Y%m%d%H%M%S}",
            "amount": purchase.total - purchase.refunded_total,
        }
        form = RefundRecordForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                refund, created = refund_record(
                    store=purchase.store,
                    purchase=purchase,
                    refund_id=form.cleaned_data["refund_id"],
                    amount=form.cleaned_data["amount"],
                    staff_user=request.user,
                )
            except LedgerError as error:
                _field_errors(form, error, "amount")
            else:
                if created:
                    messages.success(
                        request,
                        gettext("Refund recorded: %(points)s points reversed.") % {"points": refund.points_reversed},
                    )
                else:
                    messages.info(request, gettext("This refund was already recorded; nothing changed."))
                return HttpResponseRedirect(reverse("admin:loyalty_purchase_change", args=[purchase.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Record a refund for order %(order)s") % {"order": purchase.order_id},
            "intro": gettext(
                "Refunded so far: %(refunded)s of %(total)s %(currency)s. Points are taken back in "
                "proportion, from this purchase's points first."
            )
            % {"refunded": purchase.refunded_total, "total": purchase.total, "currency": purchase.currency},
            "submit_label": gettext("Record refund"),
            "form": form,
            "original": purchase,
        }
        return TemplateResponse(request, FORM_TEMPLATE, context)


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    list_display = ["refund_id", "purchase", "amount", "points_reversed", "created_at"]
    list_select_related = ["purchase__store"]
    search_fields = ["=refund_id", "=purchase__order_id"]
    ordering = ["-created_at", "-id"]
    show_full_result_count = False
    readonly_fields = ["purchase", "refund_id", "amount", "points_reversed", "transaction", "created_at"]
    fields = cast("list[str | list[str] | tuple[str, ...]]", readonly_fields)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# -- earning rules ---------------------------------------------------------------------------------


class EarningRuleForm(forms.ModelForm):
    class Meta:
        model = EarningRule
        fields = ["sku", "category", "points_per_unit", "multiplier", "excluded", "active"]
        help_texts = {
            "sku": _("A SKU rule wins over category rules."),
            "category": _("Among category rules an exclusion wins, otherwise the rule giving the most points."),
            "points_per_unit": _("Fixed points per unit, whatever the price."),
            "multiplier": _("Times the program's earn rate."),
        }

    def clean(self):
        cleaned = super().clean()
        try:
            earning_rule_validate(
                self.instance.__class__(**{k: cleaned.get(k) for k in self.Meta.fields if k in cleaned})
            )
        except EarningRuleInvalid as error:
            _field_errors(self, error)
        return cleaned


@admin.register(EarningRule)
class EarningRuleAdmin(admin.ModelAdmin):
    form = EarningRuleForm
    list_display = ["__str__", "sku", "category", "points_per_unit", "multiplier", "excluded", "active"]
    list_filter = ["active", "excluded"]
    search_fields = ["sku", "category"]
    ordering = ["sku", "category", "id"]
