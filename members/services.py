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

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from loyalty.models import ApiKey, IdempotencyRecord, LedgerTransaction, StaffActionKind, TransactionKind
from loyalty.reasons import Reason
from loyalty.services.audit import staff_action_record
from loyalty.services.ledger import Audit, LedgerError, member_accounts_create, points_credit, points_forfeit
from loyalty.services.program import program_get
from loyalty.services.tiers import member_entry_tier_record, tier_entry_get
from members.loyalty_ids import generate_loyalty_id, is_valid_loyalty_id
from members.models import Member, MemberStatus, User
from members.signals import (
    member_closed,
    member_confirmed,
    member_enrolled,
    member_referred,
    member_status_changed,
)

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
    terms_accepted_at: datetime | None = None,
    store=None,
    confirmed: bool = True,
    referral_channel: str = "api",
    ip_address: str | None = None,
    loyalty_id: str | None = None,
) -> Member:
    """Enrol a member (with or without a login), open their ledger accounts, place them in the entry tier (the
    tier a metric of 0 reaches, read from the tier cache) at once, and pay the sign-up bonus.

    `confirmed=False` (a portal sign-up whose email is not confirmed yet): nothing is paid until
    member_confirm. `referral_channel` and `ip_address` describe where a referred member came from (the
    referral's fraud checks).
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
    entry_tier = tier_entry_get()
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
            terms_accepted_at=terms_accepted_at,
            tier=entry_tier,
            tier_since=joined_at if entry_tier is not None else None,
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
    if entry_tier is not None:
        member_entry_tier_record(member=member, tier=entry_tier)
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
    *, user: User, confirmed: bool = True, referred_by: Member | None = None, ip_address: str | None = None,
    language: str | None = None,
) -> Member | None:
    """Link a login to the member with the same (verified) email, creating the member if there is none.

    A new member is a portal sign-up: `confirmed` False while its email is not confirmed, `referred_by` the
    referrer whose code it signed up with, `language` the sign-up page's. Linking an existing (till) member
    pays nothing: it joined before; it keeps its language. What the person chose on the sign-up form (kept
    on the login: names, terms, marketing consent) goes to the member.
    """
    if hasattr(user, "member"):
        return user.member
    member = Member.objects.select_for_update().filter(email__iexact=user.email).first()
    if member is None:
        return member_create(
            email=user.email, first_name=user.first_name, last_name=user.last_name, user=user, confirmed=confirmed,
            referred_by=referred_by, referral_channel="portal", ip_address=ip_address,
            marketing_consent=user.signup_marketing_consent, terms_accepted_at=user.terms_accepted_at,
            language=language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE,
        )
    if member.user_id is not None or member.status == MemberStatus.CLOSED:
        return None
    member.user = user
    update_fields = ["user"]
    for name in ("first_name", "last_name"):
        if not getattr(member, name) and getattr(user, name):
            setattr(member, name, getattr(user, name))
            update_fields.append(name)
    if user.terms_accepted_at is not None:
        member.terms_accepted_at = user.terms_accepted_at
        update_fields.append("terms_accepted_at")
    if user.signup_marketing_consent and not member.marketing_consent:
        member.marketing_consent, member.marketing_consent_at = True, timezone.now()
        update_fields += ["marketing_consent", "marketing_consent_at"]
    member.save(update_fields=update_fields)
    return member


PROFILE_FIELDS = (
    "first_name", "last_name", "nickname", "birthday", "phone", "language", "marketing_consent", "leaderboard_opt_in",
    "email_tier_upgrade", "email_reward_redeemed", "email_expiry_reminder",
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


def member_status_set(*, member: Member, status: str, staff_user: User | None = None,
                      api_key: ApiKey | None = None) -> Member:
    """Suspend, reactivate or close a membership (staff: the admin's member page, the REST API). A suspended
    or closed member earns nothing from purchases, actions or referrals.

    Closing goes through member_close, as when the member closes it in the portal (points forfeited, data
    anonymised, login removed), recorded in the audit log with `staff_user` or `api_key`. Closing is final:
    any other status for a closed member raises MemberInvalid (`status`); closing it again changes nothing.
    """
    if status not in MemberStatus.values:
        raise MemberInvalid({"status": [_("Choose one of: %(values)s.") % {"values": ", ".join(MemberStatus.values)}]})
    if status == MemberStatus.CLOSED:
        if Member.objects.filter(pk=member.pk, closed_at__isnull=False).exists():
            member.status = status
            return member
        try:
            closed = member_close(member=member, staff_user=staff_user, api_key=api_key)
        except MemberCloseRefused as error:
            if Member.objects.filter(pk=member.pk, closed_at__isnull=False).exists():
                member.status = status  # closed meanwhile: what was asked for is done
                return member
            raise MemberInvalid({"status": [error.detail]}) from None
        for field in Member._meta.concrete_fields:  # the caller's instance shows what closing left
            setattr(member, field.attname, getattr(closed, field.attname))
        return member
    with transaction.atomic():
        current = Member.objects.select_for_update(no_key=True).values_list("status", flat=True).get(pk=member.pk)
        if current == MemberStatus.CLOSED:
            raise MemberInvalid({"status": [_("A closed membership is final: it cannot be reopened.")]})
        if current != status:
            Member.objects.filter(pk=member.pk).update(status=status)
            member_id = member.pk
            transaction.on_commit(
                lambda: member_status_changed.send(sender=Member, member_id=member_id, status=status)
            )
    member.status = status
    return member


@transaction.atomic
def member_update(*, member: Member, status: str | None = None, staff_user: User | None = None,
                  api_key: ApiKey | None = None, **profile) -> Member:
    """A staff or API change of a member: profile fields (member_profile_update) and the status
    (member_status_set), all or nothing. Raises MemberInvalid.

    A closed member's profile stays as closing left it (anonymised): changing it is refused. Closing with
    profile changes applies them first, so closing erases them too."""
    if profile and Member.objects.filter(pk=member.pk, status=MemberStatus.CLOSED).exists():
        message = _("This membership is closed: its profile cannot change.")
        raise MemberInvalid({name: [message] for name in profile} | (
            {"status": [_("A closed membership is final: it cannot be reopened.")]}
            if status not in (None, MemberStatus.CLOSED) else {}
        ))
    if status is not None and status != MemberStatus.CLOSED:
        member_status_set(member=member, status=status)
    if profile:
        member_profile_update(member=member, **profile)
    if status == MemberStatus.CLOSED:
        member_status_set(member=member, status=status, staff_user=staff_user, api_key=api_key)
    return member


def member_language_set(*, member: Member, language: str) -> Member:
    """The member's saved language (emails go out in it); the language switcher and the profile both set it."""
    if language not in dict(settings.LANGUAGES):
        raise ValueError(f"not a language of this site: {language!r}")
    return member_profile_update(member=member, language=language)


# -- closing a membership -----------------------------------------------------------------------------


class MemberCloseRefused(LedgerError):
    code = "member_inactive"
    status_code = 409


CLOSED_EMAIL_DOMAIN = "closed.invalid"  # RFC 2606: can never receive mail
ADJUSTMENT_REASON = Reason(gettext_noop("Adjusted by customer service"))


def closed_email(member: Member) -> str:
    return f"closed-{member.loyalty_id}@{CLOSED_EMAIL_DOMAIN}"


@transaction.atomic
def member_close(*, member: Member, now: datetime | None = None, staff_user: User | None = None,
                 api_key: ApiKey | None = None) -> Member:
    """Close a membership; final. Every way of closing comes here: the member in the portal, staff in the
    admin or through the REST API (member_status_set, with `staff_user` or `api_key`: recorded in the audit
    log, by loyalty ID only).

    - What the member still holds is forfeited (one ledger posting to `expired`); the ledger itself is
      kept, with reasons typed by staff replaced by a neutral one, so no reason names anyone.
    - Personal data is anonymised: email, names, birthday, phone, nickname, consents; the loyalty ID and
      the referral code stay (they identify no one and are never reused).
    - The login is removed (with its email addresses; any session of it is signed out), as are the
      member's stored API replies (idempotency records of their session).
    - Status `closed`: purchases, redemptions, events, adjustments and coupons are refused from now on.
    `member_closed` is sent after the commit, for other apps to drop what they keep about the member.

    Closed means `closed_at` is set: a member whose status staff set to closed before every closing came here
    (status closed, no `closed_at`, nothing anonymised) is closed now (see members_closings_finish).
    """
    now = now or timezone.now()
    if Member.objects.filter(pk=member.pk, closed_at__isnull=False).exists():
        raise MemberCloseRefused(_("This membership is already closed."))
    forfeited = points_forfeit(
        member=member,
        audit=Audit(reason=Reason(gettext_noop("Points forfeited: membership closed")),
                    idempotency_key=f"close:{member.pk}", occurred_at=now),
    )
    locked = Member.objects.select_for_update(of=("self",)).select_related("user").get(pk=member.pk)
    if locked.closed_at is not None:  # closed meanwhile: this transaction rolls back
        raise MemberCloseRefused(_("This membership is already closed."))
    user = locked.user
    if user is not None and (user.is_staff or user.is_superuser):
        if staff_user is None and api_key is None:
            raise MemberCloseRefused(_("A staff login's membership is closed by an administrator."))
        raise MemberCloseRefused(_("This member's login is a staff account: take away its staff status first "
                                   "(Users), then close the membership."))
    LedgerTransaction.objects.filter(member=locked, reason_msgid="").update(
        reason=ADJUSTMENT_REASON.english(), reason_msgid=ADJUSTMENT_REASON.msgid, reason_params={}
    )
    for name in ("first_name", "last_name", "phone", "nickname"):
        setattr(locked, name, "")
    locked.email = closed_email(locked)
    locked.birthday = None
    locked.marketing_consent, locked.marketing_consent_at = False, None
    locked.leaderboard_opt_in = False
    locked.email_tier_upgrade = locked.email_reward_redeemed = locked.email_expiry_reminder = False
    locked.status, locked.closed_at = MemberStatus.CLOSED, now
    locked.user = None
    locked.save()
    if user is not None:
        IdempotencyRecord.objects.filter(scope=IdempotencyRecord.scope_for(f"user:{user.pk}")).delete()
        user.delete()  # its email addresses and confirmations go with it
    # The admin's history of changes to this member named them ("Ana Kok (…)"): it names the loyalty ID now.
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Member), object_id=str(locked.pk)
    ).update(object_repr=str(locked)[:200])
    if staff_user is not None or api_key is not None:
        staff_action_record(
            kind=StaffActionKind.MEMBER_CLOSED, staff_user=staff_user, api_key=api_key, count=1,
            details={"selection": {"member": locked.loyalty_id}, "done": 1,
                     "points_forfeited": -forfeited.points if forfeited is not None else 0},
        )
    transaction.on_commit(lambda: member_closed.send(sender=Member, member=locked))
    return locked


def members_closings_finish(*, dry_run: bool = False) -> dict[str, list[str]]:
    """Close, as the portal does, the members whose status staff set to closed before every closing went
    through member_close (status closed, no `closed_at`: still named, their login and points kept). One
    audit log entry from the command line lists them. Returns the loyalty IDs closed and those refused
    (a staff login), each with why; `dry_run` only lists them."""
    pending = Member.objects.filter(status=MemberStatus.CLOSED, closed_at__isnull=True).order_by("pk")
    done: list[str] = []
    refused: list[str] = []
    for member in pending.iterator(chunk_size=200):
        if dry_run:
            done.append(member.loyalty_id)
            continue
        try:
            member_close(member=member)
        except MemberCloseRefused as error:
            refused.append(f"{member.loyalty_id}: {error.detail}")
        else:
            done.append(member.loyalty_id)
    if not dry_run and (done or refused):
        staff_action_record(kind=StaffActionKind.MEMBER_CLOSED, count=len(done),
                            details={"members": done[:1000], "refused": len(refused), "refused_members": refused[:200],
                                     "done": len(done)})
    return {"closed": done, "refused": refused}
