"""Member import: moving members over from another programme (`import_members`, the admin's member import).

A row enrols a new member through the enrolment service (`member_create`: a loyalty ID, a referral code,
ledger accounts, and whatever enrolment does besides), with
- `joined_at`: the original join date;
- `available_points`: an opening balance, posted as a ledger credit ("Opening balance from the previous
  programme") whose idempotency key is derived from the member, so it is posted once whatever happens;
- `tier`: a tier floor (code or name), set by the tier service, which lifts the member at once;
- `loyalty_id`: the card number the member carries, kept if it is a valid 16-digit card number (else the
  column is left empty and one is drawn; the preview says "new", never a number it would not keep).

A row for a member who is already enrolled (same email) updates the profile cells that are filled in and
differ. The migration columns apply to new members only: for an enrolled member they must agree with what
the member has (so the same file, or our own export, imports again without changes), otherwise the row
is refused with the way to correct it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.conf import settings
from django.core.validators import validate_email
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from import_export.results import RowResult

from loyalty.imports import (
    RowInvalid,
    RowOutcome,
    ServiceImportResource,
    _staff,
    parse_bool,
    parse_day,
    parse_int,
    parse_moment,
)
from loyalty.models import AccountKind, LedgerAccount, LedgerTransaction, StaffActionKind, Tier, TransactionKind
from loyalty.reasons import Reason
from loyalty.services.ledger import Audit, points_credit
from loyalty.services.tiers import member_tier_floor_set
from members.loyalty_ids import is_valid_loyalty_id
from members.models import Member
from members.services import LoyaltyIdTaken, MemberExists, member_create, member_profile_update

OPENING_BALANCE_REASON = Reason(gettext_noop("Opening balance from the previous programme"))
TIER_FLOOR_REASON = gettext_noop("Tier from the previous programme")
PROFILE_COLUMNS = ("first_name", "last_name", "birthday", "phone", "language", "marketing_consent")


def opening_balance_key(member: Member) -> str:
    return f"opening-balance:{member.pk}"


def _tier_find(value: str) -> Tier | None:
    return Tier.objects.filter(Q(code__iexact=value) | Q(name__iexact=value)).order_by("rank").first()


class MemberImportResource(ServiceImportResource):
    columns = ("loyalty_id", "email", "first_name", "last_name", "birthday", "phone", "language",
               "marketing_consent", "joined_at", "available_points", "tier")
    # Written by the member export for reporting; an export imports back without changes.
    ignored_columns = ("status", "pending_points", "lifetime_earned", "referral_code")
    preview_headers = (_("Line"), _("Loyalty ID"), _("Email"), _("Name"), _("Opening balance"), _("Tier floor"),
                       _("Joined"), _("Changes"))
    action_kind = StaffActionKind.MEMBERS_IMPORTED

    def required_columns(self, headers):
        return [["email"]]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lines: dict[str, int] = {}

    def import_data(self, dataset, *args, **kwargs):
        self.lines = {}
        return super().import_data(dataset, *args, **kwargs)

    def _seen(self, key: str, number: int) -> int | None:
        earlier = self.lines.get(key)
        self.lines.setdefault(key, number)
        return earlier

    def row_import(self, *, values, number, user, dry_run) -> RowOutcome:
        errors: dict[str, str] = {}
        data = self._parse(values, number, errors)
        if errors:
            raise RowInvalid(errors)
        member = Member.objects.filter(email__iexact=data["email"]).first()
        if member is None and data["loyalty_id"]:
            member = Member.objects.filter(loyalty_id=data["loyalty_id"]).first()
            if member is not None:
                raise RowInvalid({"loyalty_id": gettext("This loyalty ID belongs to %(email)s.")
                                  % {"email": member.email}})
        if member is None:
            return self._create(data, number, user, dry_run)
        return self._update(member, data, number)

    def _parse(self, values: dict[str, str], number: int, errors: dict) -> dict[str, Any]:
        data: dict[str, Any] = {"email": values.get("email", "")}
        if not data["email"]:
            errors["email"] = gettext("An email address is required.")
        else:
            try:
                validate_email(data["email"])
            except Exception:
                errors["email"] = gettext("Enter a valid email address.")
            if (line := self._seen(f"email:{data['email'].lower()}", number)) is not None:
                errors["email"] = gettext("This email is also on line %(line)d.") % {"line": line}
        data["loyalty_id"] = values.get("loyalty_id", "").replace(" ", "")
        if data["loyalty_id"]:
            if not is_valid_loyalty_id(data["loyalty_id"]):
                errors["loyalty_id"] = gettext(
                    "Not a valid loyalty ID (16 digits with a check digit): leave it empty to draw a new one."
                )
            elif (line := self._seen(f"id:{data['loyalty_id']}", number)) is not None:
                errors["loyalty_id"] = gettext("This loyalty ID is also on line %(line)d.") % {"line": line}
        for name in ("first_name", "last_name", "phone"):
            data[name] = values.get(name, "")
            limit = 30 if name == "phone" else 100
            if len(data[name]) > limit:
                errors[name] = gettext("At most %(max)d characters.") % {"max": limit}
        data["birthday"] = parse_day(values["birthday"], errors, "birthday") if values.get("birthday") else None
        data["language"] = values.get("language", "").lower()
        if data["language"] and data["language"] not in dict(settings.LANGUAGES):
            errors["language"] = gettext("Use one of: %(codes)s.") % {"codes": ", ".join(dict(settings.LANGUAGES))}
        data["marketing_consent"] = (
            parse_bool(values["marketing_consent"], errors, "marketing_consent")
            if values.get("marketing_consent") else None
        )
        data["joined_at"] = None
        if values.get("joined_at"):
            data["joined_at"] = parse_moment(values["joined_at"], errors, "joined_at")
            if data["joined_at"] is not None and data["joined_at"] > timezone.now():
                errors["joined_at"] = gettext("The join date must not lie in the future.")
        data["available_points"] = (
            parse_int(values["available_points"], errors, "available_points", minimum=0)
            if values.get("available_points") else None
        )
        data["tier"] = None
        if values.get("tier"):
            data["tier"] = _tier_find(values["tier"])
            if data["tier"] is None:
                errors["tier"] = gettext("No tier has this code or name: %(tiers)s.") % {
                    "tiers": ", ".join(Tier.objects.order_by("rank").values_list("code", flat=True)) or "-"
                }
        return data

    def _create(self, data: dict[str, Any], number: int, user, dry_run: bool) -> RowOutcome:
        staff = _staff(user)
        try:
            member = member_create(
                email=data["email"], first_name=data["first_name"], last_name=data["last_name"],
                birthday=data["birthday"], phone=data["phone"], language=data["language"] or "en",
                marketing_consent=bool(data["marketing_consent"]), joined_at=data["joined_at"],
                loyalty_id=data["loyalty_id"] or None,
            )
        except LoyaltyIdTaken as error:
            raise RowInvalid({"loyalty_id": gettext("This loyalty ID belongs to %(email)s.")
                              % {"email": error.member.email}}) from None
        except MemberExists:  # enrolled meanwhile by someone else
            raise RowInvalid({"email": gettext("A member with this email already exists.")}) from None
        counts = Counter({"opening_points": data["available_points"] or 0})
        if data["available_points"]:
            points_credit(
                member=member, points=data["available_points"], kind=TransactionKind.ADJUST,
                source=AccountKind.ADJUSTMENTS,
                audit=Audit(reason=OPENING_BALANCE_REASON, idempotency_key=opening_balance_key(member),
                            staff_user=staff, job="" if staff else "import_members"),
            )
        if data["tier"] is not None:
            member_tier_floor_set(member=member, tier=data["tier"], reason=gettext(TIER_FLOOR_REASON),
                                  staff_user=staff)
        loyalty_id = member.loyalty_id if data["loyalty_id"] else gettext("new")
        return RowOutcome(RowResult.IMPORT_TYPE_NEW, self._preview(number, loyalty_id, member, data, ""), counts)

    def _update(self, member: Member, data: dict[str, Any], number: int) -> RowOutcome:
        errors: dict[str, str] = {}
        if data["loyalty_id"] and data["loyalty_id"] != member.loyalty_id:
            errors["loyalty_id"] = gettext("%(email)s is already a member, with loyalty ID %(id)s.") % {
                "email": member.email, "id": member.loyalty_id}
        if data["available_points"] is not None:
            opening = LedgerTransaction.objects.filter(idempotency_key=opening_balance_key(member)).first()
            have = opening.points if opening is not None else LedgerAccount.objects.get(
                member=member, kind=AccountKind.AVAILABLE).balance
            if data["available_points"] != have:
                errors["available_points"] = gettext(
                    "%(email)s is already a member with %(points)d points: opening balances are imported for new "
                    "members only. Correct a balance with a points import."
                ) % {"email": member.email, "points": have}
        if data["tier"] is not None and data["tier"].pk not in (member.tier_id, member.tier_floor_id):
            errors["tier"] = gettext(
                "%(email)s is already a member: a tier floor is imported for new members only. Use \"Set tier "
                "floor\" on the member's page."
            ) % {"email": member.email}
        if data["joined_at"] is not None and timezone.localdate(data["joined_at"]) != timezone.localdate(
            member.joined_at
        ):
            errors["joined_at"] = gettext("%(email)s is already a member, since %(date)s.") % {
                "email": member.email, "date": timezone.localdate(member.joined_at).isoformat()}
        if errors:
            raise RowInvalid(errors)
        changes = {}
        for name in PROFILE_COLUMNS:
            value = data[name]
            if value in ("", None):
                continue  # an empty cell keeps what the member has
            if getattr(member, name) != value:
                changes[name] = value
        if changes:
            member_profile_update(member=member, **changes)
        import_type = RowResult.IMPORT_TYPE_UPDATE if changes else RowResult.IMPORT_TYPE_SKIP
        preview = self._preview(number, member.loyalty_id, member, data, ", ".join(changes))
        return RowOutcome(import_type, preview)

    @staticmethod
    def _preview(number: int, loyalty_id: str, member: Member, data: dict[str, Any], changes: str) -> list[Any]:
        joined = timezone.localdate(member.joined_at).isoformat()
        name = f"{member.first_name} {member.last_name}".strip()
        tier = data["tier"].name if data["tier"] is not None else ""
        return [number, loyalty_id, member.email, name, data["available_points"] or "", tier, joined, changes]

