"""Admin for promotions: time-limited multipliers and bonuses added by the earning pipeline."""

from django import forms
from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaigns.models import Promotion
from campaigns.services.promotions import PROMOTION_FIELDS, PromotionInvalid, promotion_validate
from loyalty.models import Tier


def _split(value: str) -> list[str]:
    return list(dict.fromkeys(part.strip() for part in (value or "").replace("\n", ",").split(",") if part.strip()))


class PromotionForm(forms.ModelForm):
    """SKUs and categories as comma-separated text; tiers as checkboxes (stored as tier codes)."""

    skus = forms.CharField(
        label=_("SKUs"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=_("Comma-separated. Only lines with these SKUs count (a multiplier multiplies only them)."),
    )
    categories = forms.CharField(
        label=_("categories"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=_("Comma-separated. Only lines in these categories count."),
    )
    tiers = forms.MultipleChoiceField(
        label=_("tiers"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Only members in these tiers. None ticked: everyone."),
    )

    class Meta:
        model = Promotion
        fields = list(PROMOTION_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tiers"].choices = list(Tier.objects.order_by("rank").values_list("code", "name"))
        if self.instance.pk:
            self.initial["skus"] = ", ".join(self.instance.skus)
            self.initial["categories"] = ", ".join(self.instance.categories)

    def clean_skus(self) -> list[str]:
        return _split(self.cleaned_data["skus"])

    def clean_categories(self) -> list[str]:
        return _split(self.cleaned_data["categories"])

    def clean(self):
        cleaned = super().clean()
        candidate = Promotion(**{name: cleaned.get(name) for name in self.Meta.fields if name in cleaned})
        try:
            promotion_validate(candidate)
        except PromotionInvalid as error:
            for name, messages in error.fields.items():
                for message in messages:
                    self.add_error(name if name in self.fields else None, message)
        return cleaned


class LiveFilter(admin.SimpleListFilter):
    title = _("running now")
    parameter_name = "live"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        from campaigns.services.promotions import promotions_live

        live = promotions_live(at=timezone.now()).values("pk")
        if self.value() == "yes":
            return queryset.filter(pk__in=live)
        if self.value() == "no":
            return queryset.exclude(pk__in=live)
        return queryset


@admin.register(Promotion)
class PromotionAdmin(admin.ModelAdmin):
    form = PromotionForm
    list_display = ["name", "kind", "bonus", "starts_at", "ends_at", "exclusive", "active"]
    list_filter = [LiveFilter, "kind", "active", "exclusive"]
    search_fields = ["name"]
    ordering = ["-id"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "active"]}),
        (
            _("Bonus"),
            {
                "fields": ["multiplier", "points", "min_total"],
                "description": _(
                    "Multiplier: bonus = base points x (multiplier - 1). Flat: points. "
                    "Threshold: points and/or a multiplier for orders of at least the minimum "
                    "total. First purchase: points and/or a multiplier."
                ),
            },
        ),
        (_("Who and what"), {"fields": ["skus", "categories", "tiers"]}),
        (
            _("When"),
            {
                "fields": ["starts_at", "ends_at", "exclusive"],
                "description": _(
                    "Purchases made in [start, end) qualify. When an exclusive promotion "
                    "applies, only the largest exclusive one counts and other promotions are "
                    "dropped for that purchase."
                ),
            },
        ),
    ]

    @admin.display(description=_("bonus"))
    def bonus(self, obj: Promotion) -> str:
        parts = []
        if obj.multiplier is not None:
            parts.append(f"x{obj.multiplier.normalize():f}")
        if obj.points:
            parts.append(gettext("+%(points)s points") % {"points": obj.points})
        if obj.min_total is not None:
            parts.append(gettext("from %(total)s") % {"total": obj.min_total})
        return ", ".join(parts)
