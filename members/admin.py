"""Admin for logins (email-only users) and members: balances, history, manual adjustments, CSV import/export."""

import re

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources, widgets
from import_export.admin import ImportExportMixin

from loyalty.models import AccountKind, LedgerAccount, LedgerTransaction, PointLot
from loyalty.selectors import member_expiring_get, member_points_get
from loyalty.services.ledger import LedgerError, points_adjust
from members.forms import MemberAdminForm, PointsAdjustForm, UserAdminChangeForm, UserAdminCreationForm
from members.models import Member, User
from members.services import MemberExists, member_create

RECENT_HISTORY = 20
OPEN_LOTS = 50


def _with_points(queryset):
    """Annotate each member with the cached balances of their two accounts (one indexed row each)."""

    def balance(kind):
        return Subquery(LedgerAccount.objects.filter(member=OuterRef("pk"), kind=kind).values("balance")[:1])

    return queryset.annotate(
        available_points=balance(AccountKind.AVAILABLE), pending_points=balance(AccountKind.PENDING)
    )


# -- users -------------------------------------------------------------------------------------------


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Django's user admin without a username: people sign in with their email address."""

    form = UserAdminChangeForm
    add_form = UserAdminCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),
    )
    list_display = ("email", "first_name", "last_name", "is_staff", "is_active", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("email", "first_name", "last_name")
    ordering = ("email",)
    readonly_fields = ("last_login", "date_joined")


# -- CSV import/export -----------------------------------------------------------------------------

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PHONE_LIKE = re.compile(r"^\+[0-9 ()./-]+$")


class SafeTextWidget(widgets.CharWidget):
    """Text that a spreadsheet would run as a formula is exported with a leading apostrophe."""

    def render(self, value, obj=None, **kwargs):
        text = super().render(value, obj, **kwargs)
        if isinstance(text, str) and text.startswith(FORMULA_START) and not PHONE_LIKE.match(text):
            return "'" + text
        return text


class MemberResource(resources.ModelResource):
    """One row per member, matched on email (case-insensitive).

    New rows are enrolled through `member_create`, so they get a loyalty ID, a referral code and
    ledger accounts like any other member; existing rows only get their profile fields updated.
    Points columns are exported for reporting and ignored on import.
    """

    loyalty_id = fields.Field(attribute="loyalty_id", column_name="loyalty_id", readonly=True)
    email = fields.Field(attribute="email", column_name="email", widget=SafeTextWidget())
    first_name = fields.Field(attribute="first_name", column_name="first_name", widget=SafeTextWidget())
    last_name = fields.Field(attribute="last_name", column_name="last_name", widget=SafeTextWidget())
    phone = fields.Field(attribute="phone", column_name="phone", widget=SafeTextWidget())
    status = fields.Field(attribute="status", column_name="status", readonly=True)
    tier = fields.Field(attribute="tier__code", column_name="tier", readonly=True)
    joined_at = fields.Field(attribute="joined_at", column_name="joined_at", readonly=True,
                             widget=widgets.DateTimeWidget())
    available_points = fields.Field(column_name="available_points", readonly=True)
    pending_points = fields.Field(column_name="pending_points", readonly=True)
    lifetime_earned = fields.Field(attribute="lifetime_earned", column_name="lifetime_earned", readonly=True)
    referral_code = fields.Field(attribute="referral_code", column_name="referral_code", readonly=True)

    class Meta:
        model = Member
        import_id_fields = ["email"]
        fields = [
            "loyalty_id", "email", "first_name", "last_name", "birthday", "phone", "language", "marketing_consent",
            "status", "tier", "joined_at", "available_points", "pending_points", "lifetime_earned", "referral_code",
        ]
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def get_queryset(self):
        return _with_points(Member.objects.select_related("tier")).order_by("pk")

    def get_instance(self, instance_loader, row):
        email = (row.get("email") or "").strip()
        if not email:
            return None
        return Member.objects.filter(email__iexact=email).first()

    def dehydrate_available_points(self, member):
        value = getattr(member, "available_points", None)
        return value if value is not None else member_points_get(member=member)["available"]

    def dehydrate_pending_points(self, member):
        value = getattr(member, "pending_points", None)
        return value if value is not None else member_points_get(member=member)["pending"]

    def import_instance(self, instance, row, **kwargs):
        super().import_instance(instance, row, **kwargs)
        instance.email = (instance.email or "").strip()
        instance.language = instance.language or "en"
        instance.marketing_consent = bool(instance.marketing_consent)

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        # The loyalty ID and referral code are drawn by member_create; do not validate the empty ones.
        errors = dict(import_validation_errors or {})
        try:
            instance.full_clean(
                exclude=[*errors, "loyalty_id", "referral_code", "user", "referred_by", "tier", "tier_floor"],
                validate_unique=validate_unique,
            )
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def do_instance_save(self, instance, is_create):
        if not is_create:
            instance.save(update_fields=["first_name", "last_name", "birthday", "phone", "language",
                                         "marketing_consent"])
            return
        try:
            member = member_create(
                email=instance.email,
                first_name=instance.first_name,
                last_name=instance.last_name,
                birthday=instance.birthday,
                phone=instance.phone,
                marketing_consent=instance.marketing_consent,
                language=instance.language,
            )
        except MemberExists as exc:
            raise ValueError(gettext("A member with this email already exists: %s") % exc.member.loyalty_id)
        instance.pk = member.pk
        instance.loyalty_id = member.loyalty_id
        instance.referral_code = member.referral_code
        instance.joined_at = member.joined_at
        instance.marketing_consent_at = member.marketing_consent_at
        instance._state.adding = False


# -- members ---------------------------------------------------------------------------------------


@admin.register(Member)
class MemberAdmin(ImportExportMixin, admin.ModelAdmin):
    """Members are never deleted (loyalty IDs are never reused): close them instead."""

    resource_classes = [MemberResource]
    form = MemberAdminForm
    change_form_template = "admin/members/member/change_form.html"
    adjust_template = "admin/members/member/adjust_points.html"
    list_display = ["loyalty_id", "email", "first_name", "last_name", "status", "tier", "available_points",
                    "joined_at"]
    list_filter = [
        "status", "tier", "marketing_consent", "leaderboard_opt_in", ("joined_at", admin.DateFieldListFilter)
    ]
    list_select_related = ["tier"]
    search_fields = ["=loyalty_id", "email", "first_name", "last_name", "=referral_code"]
    search_help_text = _("Loyalty ID or referral code (exact), email or name.")
    ordering = ["-joined_at", "-id"]
    show_full_result_count = False
    raw_id_fields = ["user"]
    add_fields = ["email", "first_name", "last_name", "birthday", "phone", "language", "marketing_consent"]
    fieldsets = [
        (None, {"fields": ["loyalty_id", "status", "user"]}),
        (_("Profile"), {"fields": ["email", "first_name", "last_name", "birthday", "phone", "language", "nickname",
                                   "leaderboard_opt_in"]}),
        (_("Consent"), {"fields": ["marketing_consent", "marketing_consent_at"]}),
        (_("Tier"), {"fields": ["tier", "tier_since", "tier_floor", "tier_floor_reason"]}),
        (_("Referral"), {"fields": ["referral_code", "referred_by"]}),
        (_("Points"), {"fields": ["lifetime_earned", "joined_at"]}),
    ]
    # Tiers change through the tier services (with history); points only through the ledger.
    change_readonly_fields = ["loyalty_id", "marketing_consent_at", "tier", "tier_since", "tier_floor",
                              "tier_floor_reason", "referral_code", "referred_by", "lifetime_earned", "joined_at"]

    def get_queryset(self, request):
        return _with_points(super().get_queryset(request))

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "language":
            return forms.ChoiceField(label=db_field.verbose_name, choices=settings.LANGUAGES, initial="en")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description=_("available points"), ordering="available_points")
    def available_points(self, obj: Member) -> int:
        return obj.available_points  # type: ignore[attr-defined]  # annotated in get_queryset

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": self.add_fields})]
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.change_readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False

    def has_import_permission(self, request):
        return self.has_add_permission(request) and self.has_change_permission(request)

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def has_adjust_permission(self, request, obj=None) -> bool:
        return self.has_change_permission(request, obj) and request.user.has_perm("loyalty.add_ledgertransaction")

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        member = member_create(**{name: form.cleaned_data[name] for name in self.add_fields})
        obj.pk = member.pk
        obj.loyalty_id = member.loyalty_id
        obj.referral_code = member.referral_code
        obj.joined_at = member.joined_at
        obj._state.adding = False

    # -- member page: balances, open lots, recent history ----------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        member = self.get_object(request, unquote(object_id))
        if member is not None:
            extra_context = {**(extra_context or {}), **self._points_context(request, member)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _points_context(self, request, member: Member) -> dict:
        return {
            "points": member_points_get(member=member),
            "expiring": member_expiring_get(member=member),
            "open_lots": list(
                PointLot.objects.filter(member=member, remaining__gt=0).order_by("expires_at", "earned_at", "id")[
                    :OPEN_LOTS
                ]
            ),
            "history": list(
                LedgerTransaction.objects.filter(member=member)
                .select_related("store", "staff_user")
                .order_by("-occurred_at", "-id")[:RECENT_HISTORY]
            ),
            "history_url": reverse("admin:loyalty_ledgertransaction_changelist") + f"?q={member.loyalty_id}",
            "can_adjust": self.has_adjust_permission(request, member),
        }

    # -- adjust points ---------------------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "<path:object_id>/adjust-points/",
                self.admin_site.admin_view(self.adjust_points_view),
                name=f"{self.opts.app_label}_{self.opts.model_name}_adjust_points",
            ),
            *super().get_urls(),
        ]

    def adjust_points_view(self, request, object_id):
        member = self.get_object(request, unquote(object_id))
        if member is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_adjust_permission(request, member):
            raise PermissionDenied
        if request.method == "POST":
            form = PointsAdjustForm(request.POST)
            if form.is_valid():
                key = form.idempotency_key
                replay = LedgerTransaction.objects.filter(idempotency_key=key).exists()
                try:
                    txn = points_adjust(
                        member=member,
                        points=form.cleaned_data["points"],
                        reason=form.cleaned_data["reason"],
                        staff_user=request.user,
                        idempotency_key=key,
                    )
                except LedgerError as exc:
                    form.add_error("points" if exc.code == "insufficient_points" else None, exc.detail)
                else:
                    if replay:
                        self.message_user(request, gettext("This adjustment was already recorded."), messages.WARNING)
                    else:
                        self.log_change(request, member, gettext("Adjusted points by %(points)+d: %(reason)s") % {
                            "points": txn.points, "reason": txn.reason,
                        })
                        self.message_user(
                            request,
                            gettext("Adjusted %(member)s by %(points)+d points. New total: %(balance)d.") % {
                                "member": member, "points": txn.points, "balance": txn.balance_after,
                            },
                            messages.SUCCESS,
                        )
                    return HttpResponseRedirect(reverse("admin:members_member_change", args=[member.pk]))
        else:
            form = PointsAdjustForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": member,
            "form": form,
            "points": member_points_get(member=member),
            "title": gettext("Adjust points"),
            "subtitle": str(member),
            "media": self.media + form.media,
        }
        return TemplateResponse(request, self.adjust_template, context)
