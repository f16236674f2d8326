"""Admin for action rules (what a review, share, survey or custom action earns) and recorded actions, with a
"Record an action" form that posts through the same service as `POST /api/v1/events/`."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaigns.models import ActionEvent, ActionRule
from campaigns.services.actions import (
    ACTION_RULE_FIELDS,
    ActionInvalid,
    action_event_record,
    action_rule_create,
    action_rule_update,
    action_rule_validate,
)
from loyalty.admin.purchases import FORM_TEMPLATE, PurchaseRecordForm, _field_errors
from loyalty.exports import CsvExportMixin
from loyalty.services.ledger import LedgerError


class ActionRuleForm(forms.ModelForm):
    class Meta:
        model = ActionRule
        fields = list(ACTION_RULE_FIELDS)

    def clean(self):
        cleaned = super().clean()
        candidate = ActionRule(pk=self.instance.pk, **{name: cleaned.get(name) for name in ACTION_RULE_FIELDS
                                                       if name in cleaned})
        if self.instance.pk:
            candidate.type = self.instance.type
        try:
            action_rule_validate(candidate)
        except ActionInvalid as error:
            for name, field_messages in error.fields.items():
                for message in field_messages:
                    self.add_error(name if name in self.fields else None, message)
        return cleaned


@admin.register(ActionRule)
class ActionRuleAdmin(admin.ModelAdmin):
    form = ActionRuleForm
    list_display = ["type", "name", "points", "active", "once_per_reference", "per_day", "per_week", "per_month",
                    "lifetime"]
    list_filter = ["active", "once_per_reference"]

    search_fields = ["type", "name"]
    fieldsets = [
        (None, {"fields": ["type", "name", "points", "active", "once_per_reference"]}),
        (_("Caps"), {
            "fields": ["per_day", "per_week", "per_month", "lifetime"],
            "description": _("Counted per member by when the action happened, in the site's time zone: calendar "
                             "day, ISO week (from Monday), calendar month, and ever. Actions over a cap are recorded "
                             "as capped and earn nothing."),
        }),
    ]

    def get_readonly_fields(self, request, obj=None):
        return ["type"] if obj is not None else []  # events and caps count by the type

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in ACTION_RULE_FIELDS if name in form.cleaned_data}
        if change:
            values.pop("type", None)
            saved = action_rule_update(rule=ActionRule.objects.get(pk=obj.pk), **values)
        else:
            saved = action_rule_create(**values)
        obj.pk = saved.pk
        obj._state.adding = False


class ActionRecordForm(forms.Form):
    member = forms.CharField(label=_("Member"), max_length=254,
                             help_text=_("Loyalty ID (card number) or email address."))
    type = forms.ModelChoiceField(label=_("Action"), queryset=ActionRule.objects.filter(active=True).order_by("name"),
                                  to_field_name="type")
    reference = forms.CharField(label=_("Reference"), max_length=255, required=False,
                                help_text=_("What it was about, e.g. the product SKU of a review."))
    occurred_at = forms.SplitDateTimeField(label=_("Occurred at"), required=False, widget=AdminSplitDateTime,
                                           help_text=_("Empty: now."))

    clean_member = PurchaseRecordForm.clean_member  # a loyalty ID or an email, as when recording a purchase


@admin.register(ActionEvent)
class ActionEventAdmin(CsvExportMixin, admin.ModelAdmin):
    """Recorded actions are never changed or deleted (their points are in the ledger)."""

    change_list_template = "admin/campaigns/actionevent/change_list.html"
    csv_filename = "actions"
    csv_header = ("id", "occurred_at", "loyalty_id", "type", "reference", "points", "capped", "cap", "store")
    list_display = ["occurred_at", "member", "type", "reference", "points", "capped", "cap"]
    list_filter = ["type", "capped", ("occurred_at", admin.DateFieldListFilter)]
    list_select_related = ["member"]
    search_fields = ["=member__loyalty_id", "member__email", "reference", "=type"]
    ordering = ["-occurred_at", "-id"]
    show_full_result_count = False
    readonly_fields = ["member", "type", "rule", "reference", "occurred_at", "points", "capped", "cap",
                       "transaction", "store", "staff_user", "created_at"]
    fields = tuple(readonly_fields)

    def csv_rows(self, queryset):
        return queryset.values_list(
            "id", "occurred_at", "member__loyalty_id", "type", "reference", "points", "capped", "cap", "store__slug",
        ).iterator(chunk_size=self.csv_chunk_size)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def add_view(self, request, form_url="", extra_context=None):
        """Record an action exactly as the API does: the rule's points within its caps, once per reference."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ActionRecordForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                result = action_event_record(member=data["member"], type=data["type"].type,
                                             reference=data["reference"], occurred_at=data["occurred_at"],
                                             staff_user=request.user)
            except LedgerError as error:
                _field_errors(form, error)
            else:
                event = result.event
                if result.replayed:
                    messages.info(request, gettext("This action was already recorded; nothing changed."))
                elif event.capped:
                    messages.warning(request, gettext("Recorded, but the cap per %(period)s is reached: no points.")
                                     % {"period": event.get_cap_display()})
                else:
                    messages.success(request, gettext("Recorded: %(points)s points for %(member)s.")
                                     % {"points": event.points, "member": data["member"]})
                return HttpResponseRedirect(reverse("admin:campaigns_actionevent_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Record an action"),
            "intro": gettext("The action rule's points are credited within its caps, once per reference, exactly "
                             "as for the API."),
            "submit_label": gettext("Record action"),
            "form": form,
            "original": None,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, FORM_TEMPLATE, context)
