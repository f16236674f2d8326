"""Admin for tiers, the tier history (read-only), paid memberships, and the staff tier floor.

Tiers change only through loyalty.services.tiers: the "Set tier floor" page and the "Record paid
membership" page (the TierMembership add form) call its services, so the admin, the API and the jobs
behave the same and every change lands in the tier history.
"""

from typing import cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminSplitDateTime, AutocompleteSelect
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.template import engines
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty.models import Store, Tier, TierHistory, TierMembership
from loyalty.services.program import program_get
from loyalty.services.tiers import (
    TierError,
    member_tier_floor_set,
    tier_delete,
    tier_in_use,
    tier_membership_record,
    tier_save,
)
from members.models import Member

# One small page for both forms; kept here so the area's admin lives in one module.
_FORM_PAGE = engines["django"].from_string("""{% extends "admin/base_site.html" %}{% load i18n %}
{% block extrahead %}{{ block.super }}<script src="{% url 'admin:jsi18n' %}"></script>{{ media }}{% endblock %}
{% block breadcrumbs %}<div class="breadcrumbs"><a href="{% url 'admin:index' %}">{% translate 'Home' %}</a>
&rsaquo; <a href="{% url 'admin:app_list' app_label='loyalty' %}">{{ app_label_name }}</a>
&rsaquo; <a href="{{ back_url }}">{{ back_name }}</a> &rsaquo; {{ title }}</div>{% endblock %}
{% block content %}<div id="content-main">
{% if intro %}<p>{{ intro }}</p>{% endif %}
<form method="post" novalidate>{% csrf_token %}
{% if form.non_field_errors %}<p class="errornote">{{ form.non_field_errors|join:" " }}</p>{% endif %}
<fieldset class="module aligned">{% for field in form %}<div class="form-row{% if field.errors %} errors{% endif %}">
{{ field.errors }}<div class="flex-container">{{ field.label_tag }} {{ field }}</div>
{% if field.help_text %}<div class="help">{{ field.help_text }}</div>{% endif %}</div>{% endfor %}</fieldset>
<div class="submit-row"><input type="submit" class="default" value="{{ submit_label }}"></div>
</form></div>{% endblock %}
""")


def _member_field(label, help_text) -> forms.Field:
    """A member search: the members admin's autocomplete when it is registered, else loyalty ID or email."""
    if admin.site.is_registered(Member):
        return forms.ModelChoiceField(
            queryset=Member.objects.all(), label=label, help_text=help_text,
            widget=AutocompleteSelect(TierMembership._meta.get_field("member"), admin.site),
        )
    return MemberLookupField(label=label, help_text=help_text)


class MemberLookupField(forms.CharField):
    def clean(self, value):
        value = super().clean(value).strip()
        member = Member.objects.filter(Q(loyalty_id=value) | Q(email__iexact=value)).first()
        if member is None:
            raise ValidationError(gettext("No member has this loyalty ID or email."))
        return member


class TierFloorForm(forms.Form):
    tier = forms.ModelChoiceField(
        queryset=Tier.objects.order_by("rank"), required=False, label=_("Tier floor"),
        empty_label=_("No floor (remove it)"),
        help_text=_("The member stays at least at this tier, whatever their activity. A higher floor applies at "
                    "once; removing or lowering it lets the recalculation move them down after the hold period."),
    )
    reason = forms.CharField(max_length=255, label=_("Reason"), help_text=_("Required; kept with the floor."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields = {"member": _member_field(_("Member"), _("Search by loyalty ID, email or name.")),
                       **self.fields}


class TierMembershipRecordForm(forms.Form):
    tier = forms.ModelChoiceField(queryset=Tier.objects.filter(price__isnull=False).order_by("rank"),
                                  label=_("Paid tier"))
    order_id = forms.CharField(max_length=100, label=_("Order id"),
                               help_text=_("Recorded once per store and order id."))
    price = forms.DecimalField(max_digits=10, decimal_places=2, min_value=0, label=_("Price paid"))
    currency = forms.CharField(min_length=3, max_length=3, label=_("Currency"))
    starts_at = forms.SplitDateTimeField(
        required=False, widget=AdminSplitDateTime, label=_("Starts at"), help_text=_("Empty: now.")
    )
    store = forms.ModelChoiceField(queryset=Store.objects.all(), required=False, label=_("Store"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields = {"member": _member_field(_("Member"), _("Search by loyalty ID, email or name.")),
                       **self.fields}


def _form_page(model_admin, request, *, form, title, intro, submit_label, back_url, back_name):
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "app_label_name": model_admin.opts.app_config.verbose_name,
        "form": form,
        "media": model_admin.media + form.media,
        "title": title,
        "intro": intro,
        "submit_label": submit_label,
        "back_url": back_url,
        "back_name": back_name,
    }
    return TemplateResponse(request, _FORM_PAGE, context)


def _apply_tier_error(form: forms.Form, error: TierError) -> None:
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.detail)


# -- tiers -----------------------------------------------------------------------------------------


class TierAdminForm(forms.ModelForm):
    class Meta:
        model = Tier
        fields = ["code", "name", "rank", "threshold", "multiplier", "benefits", "colour", "icon", "price",
                  "period_months"]
        widgets = {"colour": forms.TextInput(attrs={"type": "color"})}

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("price") is not None and not cleaned.get("period_months"):
            self.add_error("period_months", gettext("A paid tier needs a period in months."))
        return cleaned


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    form = TierAdminForm
    list_display = ["name", "code", "rank", "threshold", "multiplier", "swatch", "icon_preview", "price",
                    "period_months", "member_count", "tools"]
    list_display_links = ["name", "code"]
    ordering = ["rank"]
    search_fields = ["code", "name"]
    fieldsets = [
        (None, {"fields": ["code", "name", "rank", "threshold", "multiplier", "benefits"]}),
        (_("Look"), {"fields": ["colour", "icon"]}),
        (_("Paid tier"), {"fields": ["price", "period_months"],
                          "description": _("Set a price and a period to sell the tier. A paid tier with threshold "
                                           "0 can only be bought.")}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_total=Count("members", distinct=True))

    @admin.display(description=_("members"), ordering="member_total")
    def member_count(self, tier: Tier) -> int:
        return tier.member_total  # type: ignore[attr-defined]  # annotated in get_queryset

    @admin.display(description=_("colour"))
    def swatch(self, tier: Tier):
        return format_html(
            '<span style="display:inline-block;width:1.2em;height:1.2em;border-radius:50%;'
            'background:{};vertical-align:middle" title="{}"></span>', tier.colour, tier.colour,
        )

    @admin.display(description=_("icon"))
    def icon_preview(self, tier: Tier):
        if not tier.icon:
            return "-"
        return format_html('<img src="{}" alt="" style="height:1.5em">', tier.icon.url)

    @admin.display(description=_("tools"))
    def tools(self, tier: Tier):
        floor = reverse("admin:loyalty_tier_set_floor") + f"?tier={tier.pk}"
        links = format_html('<a href="{}">{}</a>', floor, gettext("Set as a member's floor"))
        if tier.is_paid:
            record = reverse("admin:loyalty_tiermembership_add") + f"?tier={tier.pk}"
            links += format_html(' | <a href="{}">{}</a>', record, gettext("Record a paid membership"))
        return links

    def save_model(self, request, obj, form, change):
        tier_save(tier=obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and tier_in_use(tier=obj):
            return False  # members, history, memberships, rewards or promotions point at it
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        tier_delete(tier=obj)

    def delete_queryset(self, request, queryset):
        for tier in queryset:
            try:
                tier_delete(tier=tier)
            except TierError as error:
                self.message_user(request, error.detail, messages.ERROR)

    def get_urls(self):
        urls = [
            path("set-floor/", self.admin_site.admin_view(self.set_floor_view), name="loyalty_tier_set_floor"),
        ]
        return urls + super().get_urls()

    def set_floor_view(self, request):
        if not request.user.has_perm("members.change_member"):
            raise PermissionDenied
        initial = {key: request.GET[key] for key in ("tier", "member") if request.GET.get(key)}
        form = TierFloorForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            member, tier = form.cleaned_data["member"], form.cleaned_data["tier"]
            try:
                member_tier_floor_set(
                    member=member, tier=tier, reason=form.cleaned_data["reason"], staff_user=request.user
                )
            except TierError as error:
                _apply_tier_error(form, error)
            else:
                message = (
                    gettext("Tier floor of %(member)s set to %(tier)s.") % {"member": member, "tier": tier}
                    if tier else gettext("Tier floor of %(member)s removed.") % {"member": member}
                )
                self.message_user(request, message, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:members_member_change", args=[member.pk])
                                            if admin.site.is_registered(Member)
                                            else reverse("admin:loyalty_tier_changelist"))
        return _form_page(
            self, request, form=form, title=gettext("Set a member's tier floor"),
            intro=gettext("Staff may keep a member at least at a tier, with a reason. The change is kept in the "
                          "member's tier history."),
            submit_label=gettext("Set tier floor"),
            back_url=reverse("admin:loyalty_tier_changelist"), back_name=gettext("Tiers"),
        )


# -- history (read-only) ---------------------------------------------------------------------------


@admin.register(TierHistory)
class TierHistoryAdmin(admin.ModelAdmin):
    list_display = ["changed_at", "member", "kind", "from_tier", "to_tier", "reason", "staff_user"]
    list_filter = ["kind", "to_tier", ("changed_at", admin.DateFieldListFilter)]
    list_select_related = ["member", "from_tier", "to_tier", "staff_user"]
    search_fields = ["=member__loyalty_id", "member__email"]
    search_help_text = _("Exact loyalty ID, or email.")
    date_hierarchy = "changed_at"
    show_full_result_count = False
    fields = ["member", "kind", "from_tier", "to_tier", "reason", "changed_at", "staff_user"]
    readonly_fields = cast("list[str]", fields)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# -- paid memberships ------------------------------------------------------------------------------


class MembershipStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("running", _("Running")), ("ended", _("Ended")), ("upcoming", _("Not started"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "running":
            return queryset.filter(starts_at__lte=now, ends_at__gt=now)
        if self.value() == "ended":
            return queryset.filter(ends_at__lte=now)
        if self.value() == "upcoming":
            return queryset.filter(starts_at__gt=now)
        return queryset


@admin.register(TierMembership)
class TierMembershipAdmin(admin.ModelAdmin):
    """Records of bought paid tiers. "Add" opens the record form, which calls tier_membership_record."""

    list_display = ["member", "tier", "order_id", "price", "currency", "starts_at", "ends_at", "store", "staff_user"]
    list_filter = [MembershipStateFilter, "tier", "store"]
    list_select_related = ["member", "tier", "store", "staff_user"]
    search_fields = ["=member__loyalty_id", "member__email", "=order_id"]
    search_help_text = _("Exact loyalty ID or order id, or email.")
    fields = ["member", "tier", "order_id", "price", "currency", "starts_at", "ends_at", "store", "staff_user",
              "created_at"]
    readonly_fields = cast("list[str]", fields)

    def has_change_permission(self, request, obj=None):
        return False  # a record of a sale: view only

    def has_delete_permission(self, request, obj=None):
        return False

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        initial = {"currency": program_get().currency}
        if request.GET.get("member"):
            initial["member"] = request.GET["member"]
        tier = Tier.objects.filter(pk=request.GET.get("tier") or None, price__isnull=False).first()
        if tier is not None:
            initial.update(tier=tier.pk, price=tier.price)
        form = TierMembershipRecordForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                membership, created = tier_membership_record(
                    member=data["member"], tier=data["tier"], order_id=data["order_id"], price=data["price"],
                    currency=data["currency"], starts_at=data["starts_at"], store=data["store"],
                    staff_user=request.user,
                )
            except TierError as error:
                _apply_tier_error(form, error)
            else:
                message = (
                    gettext("Paid membership recorded: %(member)s is %(tier)s until %(date)s.")
                    if created else gettext("This order was already recorded.")
                ) % {"member": membership.member, "tier": membership.tier,
                     "date": formats.date_format(timezone.localtime(membership.ends_at))}
                self.message_user(request, message, messages.SUCCESS if created else messages.WARNING)
                return HttpResponseRedirect(reverse("admin:loyalty_tiermembership_change", args=[membership.pk]))
        return _form_page(
            self, request, form=form, title=gettext("Record a paid membership"),
            intro=gettext("The member is lifted to the paid tier at once and kept at least there until the "
                          "membership ends; the next recalculation after that moves them to the tier they "
                          "qualify for."),
            submit_label=gettext("Record membership"),
            back_url=reverse("admin:loyalty_tiermembership_changelist"), back_name=gettext("Paid tier memberships"),
        )
