"""Forms of the member portal and the members admin. They validate input; services do the work."""

import re
import uuid
from datetime import date
from typing import Any, ClassVar

from allauth.core import context
from django import forms
from django.conf import settings
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from loyalty.models import TransactionKind
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


def _terms_label() -> str:
    return format_html(
        '{} <a href="{}">{}</a>', _("I accept the"), reverse_lazy("terms"), _("programme terms")
    )


class SignupForm(forms.Form):
    """The portal's sign-up fields besides email and password (allauth's ACCOUNT_SIGNUP_FORM_CLASS).

    What is chosen here is kept on the login and given to the member when the login is linked to one
    (members.services.member_claim): at once for a new member, after email verification for a member
    enrolled at a till. A friend's referral code is filled in from the /r/<code> link that brought the
    visitor here; the referral is recorded when the member is made (members.adapter, members.signals).
    """

    first_name = forms.CharField(label=_("First name"), max_length=100, widget=forms.TextInput(
        attrs={"autocomplete": "given-name"}))
    last_name = forms.CharField(label=_("Last name"), max_length=100, widget=forms.TextInput(
        attrs={"autocomplete": "family-name"}))
    accept_terms = forms.BooleanField(
        label=lazy(_terms_label, SafeString)(), required=True,
        error_messages={"required": _("Accept the programme terms to join.")},
    )
    marketing_consent = forms.BooleanField(
        label=_("Send me offers and news by email"), required=False,
        help_text=_("You can change this at any time in your profile."),
    )

    referral_code = forms.CharField(
        label=_("Referral code"), max_length=32, required=False,
        help_text=_("From a friend's invitation link, if you have one."),
    )

    field_order = ["first_name", "last_name", "email", "password1", "password2", "referral_code", "accept_terms",
                   "marketing_consent"]

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

    def clean_first_name(self) -> str:
        return self.cleaned_data["first_name"].strip()

    def clean_last_name(self) -> str:
        return self.cleaned_data["last_name"].strip()

    def signup(self, request, user: User) -> None:
        """Called by allauth once the login is saved (its names are set by allauth); the member is made on
        user_signed_up (members.signals)."""
        request.session.pop(REFERRAL_SESSION_KEY, None)
        user.terms_accepted_at = timezone.now()
        user.signup_marketing_consent = self.cleaned_data.get("marketing_consent", False)
        user.save(update_fields=["terms_accepted_at", "signup_marketing_consent"])


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

    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES,
                                 help_text=_("Pages and emails in this language."))

    class Meta:
        model = Member
        fields = list(PROFILE_FIELDS)
        widgets = {
            "birthday": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "first_name": forms.TextInput(attrs={"autocomplete": "given-name"}),
            "last_name": forms.TextInput(attrs={"autocomplete": "family-name"}),
            "phone": forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
        }
        labels = {"marketing_consent": _("Send me offers and news by email")}
        help_texts = {
            "birthday": _("For your birthday bonus. Once set, only customer service can change it."),
            "nickname": _("Shown instead of your name on the leaderboard."),
            "marketing_consent": "",
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
    """The admin's member change form: closing a membership is final (MemberAdmin.save_model closes through
    members.services.member_status_set, as the portal and the API do), and the profile follows the service's
    rules (nickname length and uniqueness)."""

    class Meta:
        model = Member
        fields = ["status", "nickname", "leaderboard_opt_in"]  # the admin passes its own field list
        help_texts = {"status": _("Closing is final: the points still held are forfeited, the personal data is "
                                  "erased and the login removed, as when the member closes it in the portal.")}

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk:
            was = (Member.objects.filter(pk=self.instance.pk).values("status", "user__is_staff", "user__is_superuser")
                   .first() or {})
            status = cleaned.get("status")
            if was.get("status") == MemberStatus.CLOSED and status not in (None, MemberStatus.CLOSED):
                self.add_error("status", _("A closed membership is final: it cannot be reopened."))
            elif (status == MemberStatus.CLOSED and was.get("status") != MemberStatus.CLOSED
                  and (was.get("user__is_staff") or was.get("user__is_superuser"))):
                self.add_error("status", _("This member's login is a staff account: take away its staff status "
                                           "first (Users), then close the membership."))
            changes = {name: cleaned[name] for name in ("nickname", "leaderboard_opt_in") if name in cleaned}
            try:
                member_profile_validate(Member.objects.get(pk=self.instance.pk), changes)
            except MemberInvalid as error:
                for name, messages in error.fields.items():
                    for message in messages:
                        self.add_error(name if name in self.fields else None, message)
        return cleaned


# Which kinds of points change a member can filter the history by, in the portal's words.
HISTORY_KIND_CHOICES = [("", _("All activity")), *TransactionKind.choices]


class HistoryFilterForm(forms.Form):
    """The history's filters (GET): a kind of change and a date range, both ends included."""

    kind = forms.ChoiceField(label=_("Show"), choices=HISTORY_KIND_CHOICES, required=False)
    date_from = forms.DateField(label=_("From"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    date_to = forms.DateField(label=_("To"), required=False,
                              widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date must not be before the start date."))
        for name in ("date_from", "date_to"):
            day = cleaned.get(name)
            if day is not None and not date(1900, 1, 1) <= day <= date(9998, 12, 31):
                self.add_error(name, _("Enter a date between 1900 and 9998."))
        return cleaned

    def filters(self) -> dict:
        """The valid filters (none when the form has errors)."""
        if not self.is_valid():
            return {}
        return {
            "kind": self.cleaned_data.get("kind") or "",
            "date_from": self.cleaned_data.get("date_from"),
            "date_to": self.cleaned_data.get("date_to"),
        }


class CloseAccountForm(forms.Form):
    """Closing a membership: the member confirms with their password and ticks that they understand."""

    password = forms.CharField(
        label=_("Your password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    understood = forms.BooleanField(
        label=_("I understand that my points are forfeited and that this cannot be undone."), required=True,
        error_messages={"required": _("Tick this box to confirm.")},
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("This is not your password."))
        return password
