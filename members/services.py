import secrets
from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.services.ledger import member_accounts_create
from members.loyalty_ids import generate_loyalty_id, is_valid_loyalty_id
from members.models import Member, User
from members.signals import member_enrolled

REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


class LoyaltyIdTaken(Exception):
    code = "loyalty_id_taken"

    def __init__(self, member: Member) -> None:
        super().__init__(_("Another member already has this loyalty ID."))
        self.member = member


class MemberExists(Exception):
    code = "member_exists"

    def __init__(self, member: Member) -> None:
        super().__init__(_("A member with this email already exists."))
        self.member = member


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
    loyalty_id: str | None = None,
) -> Member:
    """Enrol a member (with or without a login) and open their ledger accounts.

    `loyalty_id`: keep a card number the member already carries (a migration from another programme; it must
    be a valid 16-digit card number); by default one is drawn at random.
    Raises MemberExists when the email is taken (case-insensitive), LoyaltyIdTaken when the given loyalty ID is.
    """
    email = email.strip()
    if (existing := member_get_by_email(email=email)) is not None:
        raise MemberExists(existing)
    if loyalty_id is not None:
        if not is_valid_loyalty_id(loyalty_id):
            raise ValueError(f"not a valid loyalty ID: {loyalty_id!r}")
        if (holder := Member.objects.filter(loyalty_id=loyalty_id).first()) is not None:
            raise LoyaltyIdTaken(holder)
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
            loyalty_id=loyalty_id or generate_loyalty_id(),
            referral_code=_referral_code(),
        )
        try:
            with transaction.atomic():
                member.save()
            break
        except IntegrityError:
            if (existing := member_get_by_email(email=email)) is not None:
                raise MemberExists(existing) from None
            if loyalty_id and (holder := Member.objects.filter(loyalty_id=loyalty_id).first()) is not None:
                raise LoyaltyIdTaken(holder) from None
            continue  # a loyalty ID or referral code collided: draw again
    else:
        raise RuntimeError("could not draw a free loyalty ID")
    member_accounts_create(member=member)
    transaction.on_commit(lambda: member_enrolled.send(sender=Member, member=member, store=store))
    return member


@transaction.atomic
def member_claim(*, user: User) -> Member | None:
    """Link a login to the member with the same (verified) email, creating the member if there is none."""
    if hasattr(user, "member"):
        return user.member
    member = Member.objects.select_for_update().filter(email__iexact=user.email).first()
    if member is None:
        return member_create(email=user.email, first_name=user.first_name, last_name=user.last_name, user=user)
    if member.user_id is not None:
        return None
    member.user = user
    member.save(update_fields=["user"])
    return member


PROFILE_FIELDS = (
    "first_name", "last_name", "nickname", "birthday", "phone", "language", "marketing_consent", "leaderboard_opt_in",
)


@transaction.atomic
def member_profile_update(*, member: Member, **changes) -> Member:
    """Change a member's own profile fields; records when marketing consent was given (cleared when withdrawn)."""
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")
    update_fields = []
    for name, value in changes.items():
        if getattr(member, name) != value:
            setattr(member, name, value)
            update_fields.append(name)
    if "marketing_consent" in update_fields:
        member.marketing_consent_at = timezone.now() if member.marketing_consent else None
        update_fields.append("marketing_consent_at")
    if update_fields:
        member.save(update_fields=update_fields)
    return member
