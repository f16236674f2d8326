"""Redemption: pay with points, the reward catalogue, coupons, cancellations and voucher pools.

Points move only through the ledger writer (loyalty.services.ledger): a redemption is a `points_debit`
(kind redeem), a cancellation a `points_return` of that debit (the points go back to the lots they came
from).

Lock order, the same on every path so that PostgreSQL never deadlocks between them:
reward row -> the member's ledger accounts (taken by the ledger writer) -> redemption row.
A full refund already holds the ledger accounts when it cancels a pay-with-points redemption, which has no
reward row, so it follows the same order.
"""

from __future__ import annotations

import base64
import csv
import io
import math
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any, cast

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from loyalty.emails import send_after_commit
from loyalty.models import Program, StaffActionKind, Store
from loyalty.reasons import Reason, reason_text
from loyalty.selectors import member_points_get
from loyalty.services.audit import staff_action_record
from loyalty.services.ledger import Audit, LedgerError, points_debit, points_return
from loyalty.services.program import program_get
from loyalty.services.purchases import CurrencyMismatch, MemberInactive
from members.models import Member, MemberStatus
from rewards.models import (
    PAY_WITH_POINTS,
    Redemption,
    RedemptionStatus,
    Reward,
    RewardKind,
    VoucherCode,
)

CENT = Decimal("0.01")

# -- errors: LedgerError subclasses, so the API's one exception handler maps them by code and status.
# member_inactive and currency_mismatch are the purchase service's (CurrencyMismatch, MemberInactive).


class RedemptionError(LedgerError):
    code = "invalid"
    status_code = 422


class BelowMinimum(RedemptionError):
    code = "below_minimum"


class RewardUnavailable(RedemptionError):
    code = "reward_unavailable"


class TierRequired(RedemptionError):
    code = "tier_required"
    status_code = 403


class BadgeRequired(RedemptionError):
    code = "badge_required"
    status_code = 403


class ChallengeRequired(RedemptionError):
    code = "challenge_required"
    status_code = 403


class OutOfStock(RedemptionError):
    code = "out_of_stock"
    status_code = 409


class LimitReached(RedemptionError):
    code = "limit_reached"
    status_code = 409


class AlreadyCancelled(RedemptionError):
    code = "already_cancelled"
    status_code = 409


class CouponUsed(RedemptionError):
    code = "coupon_used"
    status_code = 409


class CouponExpired(RedemptionError):
    code = "coupon_expired"
    status_code = 409


class CouponNotFound(RedemptionError):
    code = "not_found"
    status_code = 404


# -- coupon codes ------------------------------------------------------------------------------------

COUPON_RANDOM_BYTES = 10  # 80 bits
_COUPON_PATTERN = re.compile(r"[A-Z2-7]{16}")
# People read codes aloud and type them back: base32 has no 0, 1 or 8, so those can only mean O, I, B.
_LOOKALIKES = str.maketrans("018", "OIB")


def coupon_code_generate() -> str:
    """16 base32 characters (80 random bits) in groups of four: `K7QM-3XZA-P2LD-W9...`."""
    raw = base64.b32encode(secrets.token_bytes(COUPON_RANDOM_BYTES)).decode("ascii")
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def coupon_code_normalize(code: str) -> str:
    """The stored form of a code as typed (any case, spaces or dashes), or "" if it cannot be one."""
    compact = re.sub(r"[\s-]", "", code or "").upper().translate(_LOOKALIKES)
    if not _COUPON_PATTERN.fullmatch(compact):
        return ""
    return "-".join(compact[i : i + 4] for i in range(0, 16, 4))


# -- pay with points: the arithmetic -----------------------------------------------------------------


def points_for_amount(amount: Decimal, point_value: Decimal) -> int:
    """Points needed for a currency amount: ceil(amount / point value)."""
    if amount <= 0:
        return 0
    return math.ceil(amount / point_value)


def points_value(points: int, point_value: Decimal) -> Decimal:
    """Currency value of points, to the cent."""
    return (points * point_value).quantize(CENT, rounding=ROUND_HALF_UP)


def discount_cap(program: Program, subtotal: Decimal) -> Decimal:
    """The largest discount on a cart: the program's max % of the subtotal (rounded down), never above it."""
    cap = (subtotal * program.max_discount_percent / 100).quantize(CENT, rounding=ROUND_DOWN)
    return max(min(cap, subtotal), Decimal("0.00"))


def _money(amount: Any, field: str) -> Decimal:
    try:
        value = Decimal(str(amount))
    except (ArithmeticError, ValueError, TypeError):
        message = _("%(field)s must be an amount of money.") % {"field": field}
        raise RedemptionError(message, {field: [message]}) from None
    if not value.is_finite() or value < 0:
        message = _("%(field)s must be zero or more.") % {"field": field}
        raise RedemptionError(message, {field: [message]})
    return value


def _require_active(member: Member) -> Member:
    status = Member.objects.filter(pk=member.pk).values_list("status", flat=True).first()
    if status != MemberStatus.ACTIVE:
        raise MemberInactive(_("This member is suspended or closed and cannot redeem points."))
    return member


def _check_currency(program: Program, currency: str | None) -> None:
    if currency is not None and currency.upper() != program.currency:
        raise CurrencyMismatch(
            _("The program's currency is %(currency)s.") % {"currency": program.currency}
        )


def redemption_quote(*, member: Member, subtotal: Decimal, currency: str) -> dict:
    """The most points usable on a cart and what they are worth.

    max_points = min(available points, ceil(cap / point value)) where cap = min(subtotal, max % of subtotal);
    0 when that is below the program's minimum. max_discount = min(max_points x point value, cap).
    """
    program = program_get()
    _check_currency(program, currency)
    subtotal = _money(subtotal, "subtotal")
    _require_active(member)
    available = max(member_points_get(member=member)["available"], 0)
    cap = discount_cap(program, subtotal)
    max_points = min(available, points_for_amount(cap, program.point_value))
    if max_points < max(program.min_redeem_points, 1):
        max_points = 0
    return {
        "available_points": available,
        "max_points": max_points,
        "max_discount": min(points_value(max_points, program.point_value), cap),
        "point_value": program.point_value,
        "min_points": program.min_redeem_points,
    }


# -- issuing -----------------------------------------------------------------------------------------


def _redemption_create(**fields) -> Redemption:
    """Insert a redemption with a fresh coupon code (drawn again on the astronomically rare collision)."""
    for _attempt in range(5):
        code = coupon_code_generate()
        try:
            with transaction.atomic():
                return Redemption.objects.create(code=code, **fields)
        except IntegrityError:
            if not Redemption.objects.filter(code=code).exists():
                raise  # another constraint: a bug, not bad luck
    raise RuntimeError("could not draw a free coupon code")


@transaction.atomic
def points_redeem_for_discount(
    *,
    member: Member,
    points: int,
    order_id: str | None = None,
    subtotal: Decimal | None = None,
    store: Store | None = None,
    now: datetime | None = None,
) -> Redemption:
    """Pay with points: spend `points` for a discount worth points x point value, as a one-time coupon.

    With a subtotal the points may not exceed what the cart allows (see redemption_quote) and the value is
    capped at the cart's maximum discount.
    """
    now = now or timezone.now()
    program = program_get()
    _require_active(member)
    if not isinstance(points, int) or isinstance(points, bool) or points < 1:
        message = _("Points must be a whole number of at least 1.")
        raise RedemptionError(message, {"points": [message]})
    if points < program.min_redeem_points:
        raise BelowMinimum(
            _("At least %(minimum)s points must be redeemed at once.") % {"minimum": program.min_redeem_points}
        )
    value = points_value(points, program.point_value)
    if subtotal is not None:
        subtotal = _money(subtotal, "subtotal")
        cap = discount_cap(program, subtotal)
        allowed = points_for_amount(cap, program.point_value)
        if points > allowed:
            message = _("At most %(points)s points can be used on this order.") % {"points": allowed}
            raise RedemptionError(message, {"points": [message]})
        value = min(value, cap)
    order_id = (order_id or "").strip()
    debit = points_debit(
        member=member,
        points=points,
        audit=Audit(
            reason=Reason(
                gettext_noop("Points used for a discount of %(value)s %(currency)s"),
                {"value": value, "currency": program.currency},
            ),
            reference=order_id,
            store=store,
            occurred_at=now,
            metadata={"order_id": order_id} if order_id else {},
        ),
    )
    return _redemption_create(
        member=member,
        reward=None,
        kind=PAY_WITH_POINTS,
        points=points,
        value=value,
        currency=program.currency,
        issued_at=now,
        expires_at=now + timedelta(days=program.coupon_valid_days),
        order_id=order_id,
        subtotal=subtotal,
        store=store,
        transaction=debit,
    )


def _requirements_check(member: Member, reward: Reward) -> None:
    """A reward may require a badge, or be the prize of challenges: then only members who hold the badge,
    or who completed one of those challenges, may redeem it (campaigns' rows, read through the relations)."""
    if reward.required_badge_id is not None and not member.badge_awards.filter(  # type: ignore[attr-defined]
        badge_id=reward.required_badge_id
    ).exists():
        raise BadgeRequired(
            _("This reward is for members who hold the %(badge)s badge.") % {"badge": reward.required_badge}
        )
    unlocking = list(reward.unlocking_challenges.order_by("pk"))  # type: ignore[attr-defined]
    if unlocking and not member.challenge_progress.filter(  # type: ignore[attr-defined]
        challenge__in=unlocking, completed_at__isnull=False
    ).exists():
        raise ChallengeRequired(
            _("Complete the challenge %(challenge)s to unlock this reward.") % {"challenge": unlocking[0].name}
        )


def reward_redeem(
    *, member: Member, reward: Reward, store: Store | None = None, now: datetime | None = None
) -> Redemption:
    """Buy a catalogue reward with points.

    Stock and the per-member limit are checked and taken under the reward row's lock, so parallel redemptions
    can never oversell: with stock 5, exactly 5 of any number of attempts succeed. A reward with neither is not
    locked, so redemptions of a popular unlimited reward do not wait for each other (bench_load); a voucher
    code is taken with SKIP LOCKED either way.
    """
    now = now or timezone.now()
    with transaction.atomic():
        rewards = Reward.objects.filter(pk=reward.pk)
        if reward.stock is not None or reward.per_member_limit is not None:
            rewards = rewards.select_for_update(of=("self",))
        locked = rewards.first()
        if locked is None:
            raise RewardUnavailable(_("This reward does not exist any more."))
        reward = locked
        _require_active(member)
        if not reward.is_available(now):
            raise RewardUnavailable(_("This reward is not available now."))
        if reward.min_tier_id is not None:
            min_rank = reward.min_tier.rank  # type: ignore[union-attr]  # min_tier_id is set
            member_rank = Member.objects.filter(pk=member.pk).values_list("tier__rank", flat=True).first()
            if member_rank is None or member_rank < min_rank:
                raise TierRequired(
                    _("This reward is for %(tier)s members and above.") % {"tier": reward.min_tier.name}  # type: ignore[union-attr]
                )
        _requirements_check(member, reward)
        if reward.per_member_limit is not None:
            taken = (
                Redemption.objects.filter(reward=reward, member=member)
                .exclude(status=RedemptionStatus.CANCELLED)
                .count()
            )
            if taken >= reward.per_member_limit:
                raise LimitReached(
                    _("You can redeem this reward at most %(limit)s times.") % {"limit": reward.per_member_limit}
                )
        if reward.stock is not None and reward.stock < 1:
            raise OutOfStock(_("This reward is out of stock."))
        voucher = None
        if reward.kind == RewardKind.PARTNER_VOUCHER:
            voucher = (
                VoucherCode.objects.select_for_update(skip_locked=True)
                .filter(reward=reward, redemption__isnull=True)
                .order_by("id")
                .first()
            )
            if voucher is None:
                raise OutOfStock(_("No voucher codes are left for this reward."))
        program = program_get()
        debit = points_debit(
            member=member,
            points=reward.cost_points,
            audit=Audit(
                reason=Reason(gettext_noop("Reward redeemed: %(name)s"), {"name": reward.name}),
                reference=reward.code,
                store=store,
                occurred_at=now,
                metadata={"reward": reward.code},
            ),
        )
        if reward.stock is not None:
            Reward.objects.filter(pk=reward.pk).update(stock=F("stock") - 1)
        redemption = _redemption_create(
            member=member,
            reward=reward,
            kind=reward.kind,
            points=reward.cost_points,
            value=reward.value,
            currency=program.currency,
            issued_at=now,
            expires_at=now + timedelta(days=program.coupon_valid_days),
            store=store,
            charity_name=reward.charity_name if reward.kind == RewardKind.CHARITY_DONATION else "",
            transaction=debit,
        )
        if voucher is not None:
            VoucherCode.objects.filter(pk=voucher.pk).update(redemption=redemption, assigned_at=now)
    if program_get().reward_redeemed_email and member.email_reward_redeemed:
        from rewards.tasks import send_reward_redeemed_email

        send_after_commit(send_reward_redeemed_email, redemption_id=redemption.pk)
    return redemption


# -- cancelling and using ----------------------------------------------------------------------------


def _refuse(redemption: Redemption, *, allow_used: bool) -> None:
    if redemption.status == RedemptionStatus.CANCELLED:
        raise AlreadyCancelled(_("This redemption was already cancelled."))
    if redemption.status == RedemptionStatus.USED and not allow_used:
        raise CouponUsed(_("This coupon has been used; it cannot be cancelled."))


def redemption_cancel(
    *,
    redemption: Redemption,
    reason: str | Reason = "",
    staff_user=None,
    store: Store | None = None,
    allow_used: bool = False,
    now: datetime | None = None,
) -> Redemption:
    """Cancel an unused (issued or expired) redemption: its points go back to the lots they came from and
    a reward's stock goes up by one. A partner voucher code stays with the cancelled redemption: it has
    been shown, so it is never handed out again.

    `allow_used` is for a full refund of the order, which cancels a pay-with-points coupon whatever happened.
    """
    now = now or timezone.now()
    redemption = Redemption.objects.get(pk=redemption.pk)
    _refuse(redemption, allow_used=allow_used)  # fail fast without taking any lock
    reason = reason or Reason(gettext_noop("Redemption %(code)s cancelled"), {"code": redemption.code})
    with transaction.atomic():
        if redemption.reward_id is not None:
            list(Reward.objects.select_for_update(of=("self",)).filter(pk=redemption.reward_id))
        returned = points_return(
            original=redemption.transaction,
            audit=Audit(reason=reason, reference=redemption.code, store=store, staff_user=staff_user, occurred_at=now),
        )
        locked = Redemption.objects.select_for_update(of=("self",)).get(pk=redemption.pk)
        _refuse(locked, allow_used=allow_used)  # rolls the returned points back with it
        if locked.reward_id is not None:
            Reward.objects.filter(pk=locked.reward_id, stock__isnull=False).update(stock=F("stock") + 1)
        locked.status = RedemptionStatus.CANCELLED
        locked.cancelled_at = now
        locked.cancel_reason = reason_text(reason)[0][:255]
        locked.cancel_transaction = returned
        locked.save(update_fields=["status", "cancelled_at", "cancel_reason", "cancel_transaction"])
    return locked


STAFF_CANCEL_REASON = Reason(gettext_noop("Cancelled by staff"))


@dataclass
class RedemptionsCancelled:
    cancelled: list[Redemption]
    refused: list[tuple[Redemption, str]]  # and why


def redemptions_cancel_bulk(*, redemptions: Iterable[Redemption], staff_user, selection: dict) -> RedemptionsCancelled:
    """Cancel many redemptions (the admin's bulk action): each one as redemption_cancel does, so a used or
    already cancelled one is refused and listed; recorded in the audit log with how many."""
    result = RedemptionsCancelled(cancelled=[], refused=[])
    for redemption in redemptions:
        try:
            result.cancelled.append(
                redemption_cancel(redemption=redemption, staff_user=staff_user, reason=STAFF_CANCEL_REASON)
            )
        except LedgerError as error:
            result.refused.append((redemption, error.detail))
    staff_action_record(
        kind=StaffActionKind.REDEMPTIONS_CANCELLED, staff_user=staff_user, count=len(result.cancelled),
        details={
            "selection": selection,
            "points_returned": sum(redemption.points for redemption in result.cancelled),
            "redemptions": [redemption.pk for redemption in result.cancelled[:1000]],
            "refused": len(result.refused),
            "refused_redemptions": [f"#{redemption.pk}: {why}" for redemption, why in result.refused[:200]],
        },
    )
    return result


def redemption_cancel_by_member(*, member: Member, redemption: Redemption, now: datetime | None = None) -> Redemption:
    """A member cancels their own unused catalogue coupon from the portal: the points go back. Refused for
    someone else's coupon, a used, expired or cancelled one, a partner voucher (its code was shown) and a
    pay-with-points discount (it belongs to an order)."""
    now = now or timezone.now()
    if redemption.member_id != member.pk:
        raise CouponNotFound(_("No coupon has this code."))
    _refuse(redemption, allow_used=False)
    if redemption.status_at(now) == RedemptionStatus.EXPIRED:
        raise CouponExpired(_("This coupon has expired; it can no longer be cancelled."))
    if not redemption.member_may_cancel(now):
        raise RedemptionError(_("This coupon cannot be cancelled: ask us if something is wrong with it."))
    return redemption_cancel(redemption=redemption, now=now)


def coupon_use(*, code: str, order_id: str, store: Store | None = None, now: datetime | None = None) -> Redemption:
    """Mark a coupon used on an order. Once only; not after its expiry or a cancellation."""
    now = now or timezone.now()
    normalized = coupon_code_normalize(code)
    order_id = (order_id or "").strip()
    if not order_id:
        message = _("An order id is required.")
        raise RedemptionError(message, {"order_id": [message]})
    if not normalized:
        raise CouponNotFound(_("No coupon has this code."))
    with transaction.atomic():
        redemption = Redemption.objects.select_for_update(of=("self",)).filter(code=normalized).first()
        if redemption is None:
            raise CouponNotFound(_("No coupon has this code."))
        if redemption.status == RedemptionStatus.CANCELLED:
            raise AlreadyCancelled(_("This coupon was cancelled."))
        if redemption.status == RedemptionStatus.USED:
            raise CouponUsed(_("This coupon has already been used."))
        if Member.objects.filter(pk=redemption.member_id, status=MemberStatus.CLOSED).exists():
            raise MemberInactive(_("This coupon's member closed their membership: it can no longer be used."))
        expired = redemption.status == RedemptionStatus.EXPIRED or redemption.expires_at <= now
        if expired:
            if redemption.status == RedemptionStatus.ISSUED:
                redemption.status = RedemptionStatus.EXPIRED
                redemption.save(update_fields=["status"])
        else:
            redemption.status = RedemptionStatus.USED
            redemption.used_at = now
            redemption.used_order_id = order_id[:100]
            redemption.used_store = store
            redemption.save(update_fields=["status", "used_at", "used_order_id", "used_store"])
    if expired:
        expired_on = timezone.localtime(redemption.expires_at).date()
        raise CouponExpired(_("This coupon expired on %(date)s.") % {"date": expired_on})
    return redemption


def redemptions_expire(*, as_of: datetime, dry_run: bool = False) -> int:
    """Mark issued coupons past their expiry as expired (one set-based UPDATE). Returns how many."""
    due = Redemption.objects.filter(status=RedemptionStatus.ISSUED, expires_at__lte=as_of)
    if dry_run:
        return due.count()
    return due.update(status=RedemptionStatus.EXPIRED)


def redemptions_cancel_for_order(*, member: Member, order_id: str, store: Store | None) -> list[Redemption]:
    """A full refund: cancel the member's pay-with-points redemptions for that order, used or not.

    "For that order": issued for it (`order_id`, through that store or with no store), or its coupon was
    used on it at that store.
    """
    if not order_id:
        return []
    due = (
        Redemption.objects.filter(member=member, kind=PAY_WITH_POINTS)
        .filter(
            (Q(order_id=order_id) & (Q(store=store) | Q(store__isnull=True)))
            | Q(used_order_id=order_id, used_store=store)
        )
        .exclude(status=RedemptionStatus.CANCELLED)
        .order_by("pk")
    )
    reason = Reason(gettext_noop("Order %(order)s fully refunded"), {"order": order_id})
    return [
        redemption_cancel(redemption=redemption, reason=reason, store=store, allow_used=True) for redemption in due
    ]


def on_purchase_refunded(sender, *, purchase, refund=None, full: bool = False, **kwargs) -> None:
    """Receiver of loyalty.signals.purchase_refunded (connected in RewardsConfig.ready)."""
    if full:
        redemptions_cancel_for_order(member=purchase.member, order_id=purchase.order_id, store=purchase.store)


# -- catalogue configuration -------------------------------------------------------------------------

REWARD_EDITABLE_FIELDS = (
    "code", "name", "description", "kind", "cost_points", "value", "stock", "per_member_limit", "min_tier",
    "required_badge", "available_from", "available_until", "image", "active", "charity_name", "partner_name", "sku",
    "how_to_use",
)


def _reward_save(reward: Reward) -> Reward:
    reward.full_clean()
    reward.save()
    return reward


@transaction.atomic
def reward_create(**fields) -> Reward:
    """Add a reward to the catalogue. Raises django ValidationError (by field) on bad values."""
    unknown = set(fields) - set(REWARD_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not reward fields: {sorted(unknown)}")
    return _reward_save(Reward(**fields))


@transaction.atomic
def reward_update(*, reward: Reward, **fields) -> Reward:
    unknown = set(fields) - set(REWARD_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not reward fields: {sorted(unknown)}")
    reward = Reward.objects.select_for_update(of=("self",)).get(pk=reward.pk)
    for name, value in fields.items():
        setattr(reward, name, value)
    return _reward_save(reward)


@transaction.atomic
def reward_delete(*, reward: Reward) -> bool:
    """Delete a reward nobody redeemed (with its voucher pool); one with redemptions is deactivated
    instead, so its history stays. Returns True when it was deleted."""
    reward = Reward.objects.select_for_update(of=("self",)).get(pk=reward.pk)
    if reward.redemptions.exists():
        if reward.active:
            reward.active = False
            reward.save(update_fields=["active", "updated_at"])
        return False
    reward.delete()
    return True


# -- partner voucher pools ---------------------------------------------------------------------------

VOUCHER_HEADERS = {"code", "codes", "voucher", "voucher_code", "vouchercode"}
VOUCHER_CODE_MAX_LENGTH = cast(int, VoucherCode._meta.get_field("code").max_length)  # a CharField: always set


@dataclass
class VoucherImportResult:
    created: int = 0
    duplicates: int = 0
    invalid: int = 0


def voucher_codes_from_csv(*, data: bytes | str) -> list[str]:
    """The codes in a CSV file: the first column of each row; a header row `code` and blank rows skipped."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise RedemptionError(_("The file is not UTF-8 text.")) from None
    try:
        rows = list(csv.reader(io.StringIO(data)))
    except csv.Error as error:
        raise RedemptionError(_("The file is not valid CSV: %(error)s") % {"error": error}) from None
    codes = [row[0].strip() for row in rows if row and row[0].strip()]
    if codes and codes[0].lower().replace(" ", "_") in VOUCHER_HEADERS:
        codes = codes[1:]
    return codes


def voucher_codes_import(*, reward: Reward, codes: Iterable[str], now: datetime | None = None) -> VoucherImportResult:
    """Add codes to a partner voucher reward's pool. Codes already in the pool (or twice in the input) are
    counted as duplicates; empty, over-long or control-character codes as invalid."""
    if reward.kind != RewardKind.PARTNER_VOUCHER:
        raise RedemptionError(_("Voucher codes can only be imported for a partner voucher reward."))
    now = now or timezone.now()
    result = VoucherImportResult()
    seen: set[str] = set()
    fresh: list[str] = []
    for raw in codes:
        code = (raw or "").strip()
        if not code or len(code) > VOUCHER_CODE_MAX_LENGTH or any(ord(c) < 32 for c in code):
            result.invalid += 1
            continue
        if code in seen:
            result.duplicates += 1
            continue
        seen.add(code)
        fresh.append(code)
    batch_size = 1000
    with transaction.atomic():
        for start in range(0, len(fresh), batch_size):
            batch = fresh[start : start + batch_size]
            existing = set(VoucherCode.objects.filter(reward=reward, code__in=batch).values_list("code", flat=True))
            new = [VoucherCode(reward=reward, code=code, imported_at=now) for code in batch if code not in existing]
            VoucherCode.objects.bulk_create(new, ignore_conflicts=True)
            result.duplicates += len(existing)
            result.created += len(new)
    return result
