"""Forms of the member portal and the members admin. They validate input; services do the work."""

import re
import uuid
from datetime import date
from typing import Any, ClassVar

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member, User
from members.services import PROFILE_FIELDS

MAX_ADJUSTMENT = 10_000_000
PHONE_RE = re.compile(r"^\+?[0-9 ()./-]{6,30}$")


class UserAdminCreationForm(AdminUserCreationForm):
    """Django's admin user creation form for the email-only user."""

    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email",)
        field_classes: ClassVar[dict[str, Any]] = {}


class UserAdminChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"
        field_classes: ClassVar[dict[str, Any]] = {}


class PointsAdjustForm(forms.Form):
    """A manual correction by staff: a credit (positive) or a debit (negative) with a reason."""

    points = forms.IntegerField(
        label=_("Points"),
        min_value=-MAX_ADJUSTMENT,
        max_value=MAX_ADJUSTMENT,
        help_text=_("Positive to add points, negative to take them away."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        help_text=_("Shown to the member in their history."),
    )
    # Makes a double submission of the same form post once (the ledger's idempotency key).
    token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("token", uuid.uuid4())
        super().__init__(*args, **kwargs)

    def clean_points(self) -> int:
        points = self.cleaned_data["points"]
        if points == 0:
            raise forms.ValidationError(_("Enter a number of points other than zero."))
        return points

    @property
    def idempotency_key(self) -> str:
        return f"admin-adjust:{self.cleaned_data['token']}"


class BulkPointsAdjustForm(PointsAdjustForm):
    """Points for many members at once (the member list's bulk action)."""

    points = forms.IntegerField(
        label=_("Points per member"),
        min_value=-MAX_ADJUSTMENT,
        max_value=MAX_ADJUSTMENT,
        help_text=_("Positive to add points, negative to take them away. A member with fewer available points "
                    "than you take away is left out and listed."),
    )


class ProfileForm(forms.ModelForm):
    """What a member may change about themselves in the portal."""

    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)

    class Meta:
        model = Member
        fields = list(PROFILE_FIELDS)
        widgets = {"birthday": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}
        help_texts = {
            "birthday": _("For your birthday bonus. Once set, only customer service can change it."),
            "nickname": _("Shown instead of your name on the leaderboard."),
            "marketing_consent": _("Send me offers and news by email."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A birthday earns a yearly bonus, so members set it once; staff correct it in the admin.
        if self.instance.birthday is not None:
            self.fields["birthday"].disabled = True

    def clean_birthday(self) -> date | None:
        birthday = self.cleaned_data.get("birthday")
        if birthday is None:
            return None
        today = timezone.localdate()
        if birthday > today:
            raise forms.ValidationError(_("Your birthday cannot be in the future."))
        if birthday.year < today.year - 120:
            raise forms.ValidationError(_("Enter your real date of birth."))
        return birthday

    def clean_phone(self) -> str:
        phone = self.cleaned_data.get("phone", "").strip()
        if phone and not PHONE_RE.match(phone):
            raise forms.ValidationError(_("Enter a phone number using digits, spaces and an optional leading +."))
        return phone

    def clean_nickname(self) -> str:
        return self.cleaned_data.get("nickname", "").strip()

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("leaderboard_opt_in") and not cleaned.get("nickname"):
            self.add_error("nickname", _("Choose a nickname to appear on the leaderboard."))
        return cleaned

    def changes(self) -> dict:
        return {name: self.cleaned_data[name] for name in PROFILE_FIELDS if name in self.cleaned_data}
