"""Admin for challenges and milestones: configuration with started / completed counts and completion rate,
and each member's progress (read-only)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import F, FloatField, QuerySet
from django.db.models.functions import Cast, NullIf
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaigns.admin.common import ReadOnlyAdmin
from campaigns.models import Challenge, ChallengeProgress, ProgressStatus
from campaigns.services.challenges import challenge_saved, challenge_validate, challenges_with_counts
from campaigns.services.common import CampaignInvalid


class ChallengeForm(forms.ModelForm):
    class Meta:
        model = Challenge
        fields = [
            "code", "name", "description", "goal", "action_type", "target", "starts_at", "ends_at", "tiers",
            "prize_points", "prize_badge", "prize_reward", "active",
        ]
        widgets = {"tiers": forms.CheckboxSelectMultiple}

    def clean(self):
        cleaned = super().clean()
        candidate = self.instance
        for name in self.Meta.fields:
            if name != "tiers" and name in cleaned:
                setattr(candidate, name, cleaned[name])
        try:
            challenge_validate(candidate)
        except CampaignInvalid as error:
            for name, messages in error.fields.items():
                for message in messages:
                    self.add_error(name if name in self.fields else None, message)
        return cleaned


class CompletionFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", _("Open or upcoming")), ("closed", _("Closed"))]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(closed_at__isnull=True)
        if self.value() == "closed":
            return queryset.filter(closed_at__isnull=False)
        return queryset


@admin.register(Challenge)
class ChallengeAdmin(admin.ModelAdmin):
    form = ChallengeForm
    list_display = ["name", "code", "goal", "target", "starts_at", "ends_at", "prize", "active", "started_count",
                    "completed_count", "completion_rate", "closed_at"]
    list_filter = [CompletionFilter, "goal", "active"]
    search_fields = ["code", "name"]
    prepopulated_fields = {"code": ("name",)}
    readonly_fields = ["closed_at", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["code", "name", "description", "active"]}),
        (_("Goal"), {
            "fields": ["goal", "action_type", "target"],
            "description": _(
                "Points earned (earn and bonus points less refunds, prizes left out), purchases (not fully "
                "refunded), amount spent (whole currency units, less refunds), different categories bought, "
                "actions of one type, or weeks in a row with a purchase (ISO weeks)."
            ),
        }),
        (_("Who and when"), {
            "fields": ["starts_at", "ends_at", "tiers"],
            "description": _(
                "What members do from the start counts, also when the challenge is created later. Without an "
                "end it is a milestone. Changing the target, window or tiers recounts unfinished progress."
            ),
        }),
        (_("Prize"), {
            "fields": ["prize_points", "prize_badge", "prize_reward"],
            "description": _(
                "Paid once per member on completion. A reward set here can only be redeemed by members who "
                "completed the challenge."
            ),
        }),
        (_("History"), {"fields": ["closed_at", "created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request) -> QuerySet[Challenge]:
        rate = Cast(F("completed"), FloatField()) / NullIf(Cast(F("started"), FloatField()), 0.0)
        return challenges_with_counts().select_related("prize_badge", "prize_reward").annotate(rate=rate)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        recount = not change or bool({"goal", "action_type", "target", "starts_at", "ends_at", "tiers",
                                      "active"} & set(form.changed_data))
        challenge_saved(challenge=form.instance, recount=recount)

    def delete_model(self, request, obj):
        from campaigns.services.challenges import challenge_delete

        challenge_delete(challenge=obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.progress.exists():
            return False  # members progressed: deactivate it instead, its history stays
        return super().has_delete_permission(request, obj)

    @admin.display(description=_("prize"))
    def prize(self, obj: Challenge) -> str:
        parts = []
        if obj.prize_points:
            parts.append(gettext("%(points)s points") % {"points": obj.prize_points})
        if obj.prize_badge:
            parts.append(gettext("badge %(badge)s") % {"badge": obj.prize_badge.name})
        if obj.prize_reward:
            parts.append(gettext("unlocks %(reward)s") % {"reward": obj.prize_reward.name})
        return ", ".join(parts)

    def _progress_link(self, obj: Challenge, count: int, status: str = "") -> str:
        url = reverse("admin:campaigns_challengeprogress_changelist") + f"?challenge__id__exact={obj.pk}"
        if status:
            url += f"&status__exact={status}"
        return format_html('<a href="{}">{}</a>', url, count)

    @admin.display(description=_("started"), ordering="started")
    def started_count(self, obj: Challenge) -> str:
        return self._progress_link(obj, obj.started)  # type: ignore[attr-defined]  # annotated

    @admin.display(description=_("completed"), ordering="completed")
    def completed_count(self, obj: Challenge) -> str:
        return self._progress_link(obj, obj.completed, ProgressStatus.COMPLETED)  # type: ignore[attr-defined]

    @admin.display(description=_("completion rate"), ordering="rate")
    def completion_rate(self, obj: Challenge) -> str:
        rate = obj.rate  # type: ignore[attr-defined]  # annotated
        return "—" if rate is None else f"{rate * 100:.0f} %"


@admin.register(ChallengeProgress)
class ChallengeProgressAdmin(ReadOnlyAdmin):
    """Progress is counted from the members' history, never typed in."""

    list_display = ["challenge", "member", "value", "status", "completed_at", "prize_transaction", "updated_at"]
    list_filter = ["status", "challenge"]
    search_fields = ["=member__loyalty_id", "member__email", "challenge__code", "challenge__name"]
    list_select_related = ["challenge", "member", "prize_transaction"]
    ordering = ["-updated_at", "-id"]
