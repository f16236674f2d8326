"""Forms of the member portal and the members admin. They validate input; services do the work."""

import re
import uuid
from datetime import date
from typing import Any, ClassVar

from allauth.core import context
from django import forms
from django.conf import settings
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member, MemberStatus, User
from members.services import PROFILE_FIELDS, MemberInvalid, member_profile_validate

MAX_ADJUSTMENT = 10_000_000
# Where /r/<code> keeps a friend's referral code until the sign-up form is sent.
REFERRAL_SESSION_KEY = "referral_code"
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


class SignupForm(forms.Form):
    """What the portal's sign-up form adds to allauth's (ACCOUNT_SIGNUP_FORM_CLASS): a friend's referral code,
    filled in from the /r/<code> link that brought the visitor here."""

    referral_code = forms.CharField(
        label=_("Referral code"), max_length=32, required=False,
        help_text=_("From a friend's invitation link, if you have one."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = context.request
        code = request.session.get(REFERRAL_SESSION_KEY) if request is not None else None
        if code:
            self.fields["referral_code"].initial = code

    def clean_referral_code(self) -> Member | None:
        code = self.cleaned_data.get("referral_code", "").strip().upper()
        if not code:
            return None
        referrer = Member.objects.filter(referral_code=code).first()
        if referrer is None:
            raise forms.ValidationError(_("No member has this referral code. Check it, or leave it empty."))
        return referrer

    def signup(self, request, user) -> None:
        """allauth calls this once the login is saved; the member is made on user_signed_up (members.signals)."""
        request.session.pop(REFERRAL_SESSION_KEY, None)


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
        changes = {name: cleaned[name] for name in ("nickname", "leaderboard_opt_in") if name in cleaned}
        try:  # the service's rules (nickname length and uniqueness, a nickname for the leaderboard)
            member_profile_validate(self.instance, changes)
        except MemberInvalid as error:
            for name, messages in error.fields.items():
                for message in messages:
                    self.add_error(name if name in self.fields else None, message)
        return cleaned

    def changes(self) -> dict:
        return {name: self.cleaned_data[name] for name in PROFILE_FIELDS if name in self.cleaned_data}


class MemberAdminForm(forms.ModelForm):
    """The admin's member change form: closing a membership is final, and the profile follows the service's
    rules (nickname length and uniqueness)."""

    class Meta:
        model = Member
        fields = ["status", "nickname", "leaderboard_opt_in"]  # the admin passes its own field list

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk:
            was = Member.objects.filter(pk=self.instance.pk).values_list("status", flat=True).first()
            if was == MemberStatus.CLOSED and cleaned.get("status") not in (None, MemberStatus.CLOSED):
                self.add_error("status", _("A closed membership is final: it cannot be reopened."))
            changes = {name: cleaned[name] for name in ("nickname", "leaderboard_opt_in") if name in cleaned}
            try:
                member_profile_validate(Member.objects.get(pk=self.instance.pk), changes)
            except MemberInvalid as error:
                for name, messages in error.fields.items():
                    for message in messages:
                        self.add_error(name if name in self.fields else None, message)
        return cleaned
