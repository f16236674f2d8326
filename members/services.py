"""Enrolment and the member's own data: the one place members are made (API, portal, admin, CSV import,
WooCommerce auto-enrolment, the demo), so the sign-up bonus is paid here, exactly once per member.

- `member_create` pays the program's `signup_bonus` at once (idempotency key `signup:<member id>`), except for
  a portal sign-up (`confirmed=False`): that member is paid by `member_confirm` when the email address is
  confirmed. A till member who later claims the account online is linked by `member_claim`, which pays
  nothing: the key makes a second payment impossible anyway.
- A new member with a referrer sends `members.signals.member_referred` inside the enrolment's transaction;
  campaigns records the referral (and pays the new member's referral bonus) there.
"""

import secrets
from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from loyalty.models import LedgerTransaction, TransactionKind
from loyalty.reasons import Reason
from loyalty.services.ledger import Audit, LedgerError, member_accounts_create, points_credit
from loyalty.services.program import program_get
from members.loyalty_ids import generate_loyalty_id
from members.models import Member, MemberStatus, User
from members.signals import member_confirmed, member_enrolled, member_referred, member_status_changed

REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


class MemberExists(Exception):
    code = "member_exists"

    def __init__(self, member: Member) -> None:
        super().__init__(_("A member with this email already exists."))
        self.member = member


class MemberInvalid(LedgerError):
    """A profile or status change that breaks a rule; `fields` says which field and why."""

    code = "invalid"
    status_code = 422

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__(_("The member could not be changed."))
        self.fields = fields


SIGNUP_BONUS_REASON = Reason(gettext_noop("Sign-up bonus"))


def signup_bonus_key(*, member_id: int) -> str:
    return f"signup:{member_id}"


def member_signup_bonus_award(*, member: Member, at: datetime | None = None) -> LedgerTransaction | None:
    """Credit the program's sign-up bonus, once per member whenever it is called (the idempotency key);
    nothing when the bonus is 0 or the member is not active."""
    points = program_get().signup_bonus
    if points <= 0 or member.status != MemberStatus.ACTIVE:
        return None
    return points_credit(
        member=member,
        points=points,
        kind=TransactionKind.BONUS,
        audit=Audit(reason=SIGNUP_BONUS_REASON, idempotency_key=signup_bonus_key(member_id=member.pk),
                    occurred_at=at or timezone.now()),
    )


def _referral_code() -> str:
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(8))


def member_get_by_email(*, email: str) -> Member | None:
    return Member.objects.filter(email__iexact=email.strip()).first()


@transaction.atomic
def member_create(
    *,
    email: str,
    first_name: str = "",
    last_name: str = "",
    birthday: date | None = None,
    phone: str = "",
    marketing_consent: bool = False,
    referred_by: Member | None = None,
    user: User | None = None,
    language: str = "en",
    joined_at: datetime | None = None,
    store=None,
    confirmed: bool = True,
    referral_channel: str = "api",
    ip_address: str | None = None,
) -> Member:
    """Enrol a member (with or without a login), open their ledger accounts and pay the sign-up bonus.

    `confirmed=False` (a portal sign-up whose email is not confirmed yet): nothing is paid until
    member_confirm. `referral_channel` and `ip_address` describe where a referred member came from (the
    referral's fraud checks). Raises MemberExists when the email is taken (case-insensitive).
    """
    email = email.strip()
    if (existing := member_get_by_email(email=email)) is not None:
        raise MemberExists(existing)
    joined_at = joined_at or timezone.now()
    for _attempt in range(10):
        member = Member(
            email=email,
            first_name=first_name,
            last_name=last_name,
            birthday=birthday,
            phone=phone,
            marketing_consent=marketing_consent,
            marketing_consent_at=joined_at if marketing_consent else None,
            referred_by=referred_by,
            user=user,
            language=language,
            joined_at=joined_at,
            loyalty_id=generate_loyalty_id(),
            referral_code=_referral_code(),
        )
        try:
            with transaction.atomic():
                member.save()
            break
        except IntegrityError:
            if (existing := member_get_by_email(email=email)) is not None:
                raise MemberExists(existing) from None
            continue  # a loyalty ID or referral code collided: draw again
    else:
        raise RuntimeError("could not draw a free loyalty ID")
    member_accounts_create(member=member)
    if confirmed:
        member_signup_bonus_award(member=member, at=joined_at)
    if referred_by is not None:
        member_referred.send(sender=Member, member=member, referrer=referred_by, channel=referral_channel,
                             ip_address=ip_address, confirmed=confirmed)
    transaction.on_commit(lambda: member_enrolled.send(sender=Member, member=member, store=store))
    return member


@transaction.atomic
def member_confirm(*, member: Member) -> None:
    """A portal sign-up confirmed its email address: pay what it joined for (sign-up bonus, referral bonus).
    Safe to call again: every payment has its own idempotency key."""
    member_signup_bonus_award(member=member)
    member_confirmed.send(sender=Member, member=member)


@transaction.atomic
def member_claim(
    *, user: User, confirmed: bool = True, referred_by: Member | None = None, ip_address: str | None = None
) -> Member | None:
    """Link a login to the member with the same (verified) email, creating the member if there is none.

    A new member is a portal sign-up: `confirmed` False while its email is not confirmed, `referred_by` the
    referrer whose code it signed up with. Linking an existing (till) member pays nothing: it joined before.
    """
    if hasattr(user, "member"):
        return user.member
    member = Member.objects.select_for_update().filter(email__iexact=user.email).first()
    if member is None:
        return member_create(
            email=user.email, first_name=user.first_name, last_name=user.last_name, user=user, confirmed=confirmed,
            referred_by=referred_by, referral_channel="portal", ip_address=ip_address,
        )
    if member.user_id is not None:
        return None
    member.user = user
    member.save(update_fields=["user"])
    return member


PROFILE_FIELDS = (
    "first_name", "last_name", "nickname", "birthday", "phone", "language", "marketing_consent", "leaderboard_opt_in",
)


NICKNAME_MIN, NICKNAME_MAX = 3, 30


def member_profile_validate(member: Member, changes: dict) -> None:
    """Raise MemberInvalid when `changes` break the profile rules (see member_profile_update)."""
    errors: dict[str, list[str]] = {}
    nickname = changes.get("nickname", member.nickname)
    if "nickname" in changes and nickname:
        if not NICKNAME_MIN <= len(nickname) <= NICKNAME_MAX:
            errors["nickname"] = [_("A nickname is %(min)s to %(max)s characters long.")
                                  % {"min": NICKNAME_MIN, "max": NICKNAME_MAX}]
        elif (
            Member.objects.alias(nickname_lower=Lower("nickname"))
            .filter(nickname_lower=nickname.lower()).exclude(pk=member.pk).exists()
        ):
            errors["nickname"] = [_("This nickname is taken. Please choose another.")]
    if changes.get("leaderboard_opt_in", member.leaderboard_opt_in) and not nickname:
        errors.setdefault("nickname", [_("Choose a nickname to appear on the leaderboard.")])
    if errors:
        raise MemberInvalid(errors)


@transaction.atomic
def member_profile_update(*, member: Member, **changes) -> Member:
    """Change a member's profile fields; records when marketing consent was given (cleared when withdrawn).

    A nickname is 3-30 characters and unique whatever its case; the leaderboard needs one. Raises MemberInvalid.
    """
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")
    if isinstance(changes.get("nickname"), str):
        changes["nickname"] = changes["nickname"].strip()
    member_profile_validate(member, changes)
    update_fields = []
    for name, value in changes.items():
        if getattr(member, name) != value:
            setattr(member, name, value)
            update_fields.append(name)
    if "marketing_consent" in update_fields:
        member.marketing_consent_at = timezone.now() if member.marketing_consent else None
        update_fields.append("marketing_consent_at")
    if update_fields:
        try:
            with transaction.atomic():
                member.save(update_fields=update_fields)
        except IntegrityError as error:  # the same nickname taken by a concurrent change
            if "nickname" not in str(error):
                raise
            raise MemberInvalid({"nickname": [_("This nickname is taken. Please choose another.")]}) from None
    return member


@transaction.atomic
def member_status_set(*, member: Member, status: str) -> Member:
    """Suspend, reactivate or close a membership. Closing is final. A suspended or closed member earns
    nothing from purchases, actions or referrals."""
    if status not in MemberStatus.values:
        raise MemberInvalid({"status": [_("Choose one of: %(values)s.") % {"values": ", ".join(MemberStatus.values)}]})
    current = Member.objects.select_for_update(no_key=True).values_list("status", flat=True).get(pk=member.pk)
    if current == MemberStatus.CLOSED and status != MemberStatus.CLOSED:
        raise MemberInvalid({"status": [_("A closed membership is final: it cannot be reopened.")]})
    if current != status:
        Member.objects.filter(pk=member.pk).update(status=status)
        member_id = member.pk
        transaction.on_commit(lambda: member_status_changed.send(sender=Member, member_id=member_id, status=status))
    member.status = status
    return member


@transaction.atomic
def member_update(*, member: Member, status: str | None = None, **profile) -> Member:
    """A staff or API change of a member: profile fields (member_profile_update) and the status
    (member_status_set), all or nothing. Raises MemberInvalid."""
    if status is not None:
        member_status_set(member=member, status=status)
    if profile:
        member_profile_update(member=member, **profile)
    return member
