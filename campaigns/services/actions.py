"""Actions: points for what members do besides buying (a review, a share, a survey, a custom slug).

`action_event_record` is the one writer of ActionEvent rows and the only way an action earns points:
1. a repeat of `(member, type, reference)` under a once-per-reference rule returns the first event
   (`replayed`), changing nothing; the unique constraint `action_event_once_per_reference` backs this up;
2. an unknown or inactive type is refused (ActionInvalid), as is a suspended or closed member (MemberInactive);
3. under the member's row lock (so two events racing for the last place under a cap count one after the
   other), each cap of the rule is checked: per calendar day, ISO week (from Monday) and calendar month of
   `occurred_at` in the site's time zone, and lifetime; capped events are recorded with `capped` and no points;
4. otherwise the rule's points are credited through the ledger (kind `bonus`, available at once, idempotency
   key `action:<event id>`) with a reason the member reads in their language ("Review of KOF-1KG");
5. an event recorded by staff (the admin's "Record an action", `staff_user`) is written to the audit log
   (loyalty.services.audit) in the same transaction: who, the member's loyalty ID, the action and its points.

For other modules: events of a member and type between two times are counted from the index
`action_event_member_type_time` (`ActionEvent.objects.filter(member=..., type=..., occurred_at__gte=...,
occurred_at__lt=...)`; add `capped=False` to count only those that earned points), and
`campaigns.signals.action_recorded` (kwarg `event`) is sent after the commit of every newly recorded event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from campaigns.models import ActionEvent, ActionRule, BuiltInAction, CapPeriod
from campaigns.models.actions import ACTION_TYPE_PATTERN
from campaigns.signals import action_recorded
from loyalty.models import StaffActionKind, TransactionKind
from loyalty.reasons import Reason
from loyalty.services.audit import staff_action_record
from loyalty.services.ledger import Audit, LedgerError, points_credit_in_transaction
from loyalty.services.purchases import MemberInactive
from members.models import Member, MemberStatus

MAX_REFERENCE = 255


class ActionInvalid(LedgerError):
    code = "invalid"
    status_code = 422

    def __init__(self, fields: dict[str, list[str]], detail: str = "") -> None:
        super().__init__(detail or _("The action is not valid."))
        self.fields = fields


@dataclass
class ActionResult:
    event: ActionEvent
    replayed: bool


# -- periods -----------------------------------------------------------------------------------------


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def cap_period_bounds(*, period: str, at: datetime) -> tuple[datetime, datetime] | None:
    """[start, end) of the calendar day, ISO week (Monday) or month holding `at` in the site's time zone;
    None for lifetime."""
    day = timezone.localtime(at).date()
    if period == CapPeriod.DAY:
        start, end = day, day + timedelta(days=1)
    elif period == CapPeriod.WEEK:
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    elif period == CapPeriod.MONTH:
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        return None
    return _local_midnight(start), _local_midnight(end)


def action_events_count(*, member: Member, type: str, start: datetime | None = None, end: datetime | None = None,
                        include_capped: bool = False) -> int:
    """How many events of `type` the member had in [start, end) (either end open)."""
    events = ActionEvent.objects.filter(member=member, type=type)
    if start is not None:
        events = events.filter(occurred_at__gte=start)
    if end is not None:
        events = events.filter(occurred_at__lt=end)
    if not include_capped:
        events = events.filter(capped=False)
    return events.count()


def _cap_reached(rule: ActionRule, member: Member, occurred_at: datetime) -> str:
    """The first cap (shortest period first) that `occurred_at` would exceed, or ""."""
    for period, limit in rule.caps():
        bounds = cap_period_bounds(period=period, at=occurred_at)
        start, end = bounds if bounds is not None else (None, None)
        if action_events_count(member=member, type=rule.type, start=start, end=end) >= limit:
            return period
    return ""


# -- reasons -----------------------------------------------------------------------------------------

_REASONS: dict[str, tuple[str, str]] = {
    BuiltInAction.REVIEW: (gettext_noop("Review of %(reference)s"), gettext_noop("Product review")),
    BuiltInAction.SOCIAL_SHARE: (gettext_noop("Shared on social media: %(reference)s"),
                                 gettext_noop("Shared on social media")),
    BuiltInAction.SURVEY: (gettext_noop("Survey answered: %(reference)s"), gettext_noop("Survey answered")),
}


def action_reason(*, rule: ActionRule, reference: str) -> Reason:
    """What the member's history says: built-in types in the member's language, custom ones by the rule's name."""
    with_reference, without = _REASONS.get(rule.type, ("%(name)s: %(reference)s", "%(name)s"))
    if rule.type not in _REASONS:
        params = {"name": rule.name, "reference": reference} if reference else {"name": rule.name}
        return Reason(with_reference if reference else without, params)
    return Reason(with_reference, {"reference": reference}) if reference else Reason(without)


# -- recording ---------------------------------------------------------------------------------------


def _existing(member: Member, type: str, reference: str) -> ActionEvent | None:
    return ActionEvent.objects.filter(member=member, type=type, reference=reference, once_per_reference=True).first()


def action_event_record(
    *,
    member: Member,
    type: str,
    reference: str = "",
    occurred_at: datetime | None = None,
    store: Any = None,
    staff_user: Any = None,
) -> ActionResult:
    """Record one action of a member and credit its points (see the module docstring)."""
    type = (type or "").strip().lower()
    reference = (reference or "").strip()[:MAX_REFERENCE]
    now = timezone.now()
    occurred_at = occurred_at or now
    rule = ActionRule.objects.filter(type=type).first() if re.fullmatch(ACTION_TYPE_PATTERN, type) else None
    # A repeat answers with the first result, also once the rule was switched off.
    if (rule is None or rule.once_per_reference) and (existing := _existing(member, type, reference)) is not None:
        return ActionResult(existing, replayed=True)
    if occurred_at > now:
        raise ActionInvalid({"occurred_at": [_("The action cannot be in the future.")]})
    if rule is None:
        raise ActionInvalid({"type": [_("Unknown action type. Configure an action rule for it first.")]})
    if not rule.active:
        raise ActionInvalid({"type": [_("This action type is not active.")]})
    try:
        return _record(rule, member, reference, occurred_at, store, staff_user)
    except IntegrityError as error:  # the same event recorded by a concurrent request: answer with its result
        if "action_event_once_per_reference" not in str(error) and "unique" not in str(error).lower():
            raise
        if (existing := _existing(member, type, reference)) is None:
            raise
        return ActionResult(existing, replayed=True)


@transaction.atomic
def _record(rule: ActionRule, member: Member, reference: str, occurred_at: datetime, store: Any,
            staff_user: Any) -> ActionResult:
    # The member's row lock serialises this member's events: the repeat check and the cap counts below see
    # every event committed before, so a cap is never exceeded and a repeat is never counted twice.
    member = Member.objects.select_for_update(no_key=True).get(pk=member.pk)
    if rule.once_per_reference and (existing := _existing(member, rule.type, reference)) is not None:
        return ActionResult(existing, replayed=True)
    if member.status != MemberStatus.ACTIVE:
        raise MemberInactive(_("This member is not active."))
    cap = _cap_reached(rule, member, occurred_at)
    event = ActionEvent(
        member=member, type=rule.type, rule=rule, reference=reference, once_per_reference=rule.once_per_reference,
        occurred_at=occurred_at, points=0 if cap else rule.points, capped=bool(cap), cap=cap, store=store,
        staff_user=staff_user,
    )
    event.save(force_insert=True)
    if not cap:
        event.transaction = points_credit_in_transaction(
            member=member,
            points=rule.points,
            kind=TransactionKind.BONUS,
            audit=Audit(reason=action_reason(rule=rule, reference=reference), idempotency_key=f"action:{event.pk}",
                        reference=reference, store=store, staff_user=staff_user, occurred_at=occurred_at,
                        metadata={"action": rule.type}),
        )
        ActionEvent.objects.filter(pk=event.pk).update(transaction=event.transaction)
    if staff_user is not None:
        staff_action_record(
            kind=StaffActionKind.ACTION_RECORDED, staff_user=staff_user, count=1,
            details={"selection": {"member": member.loyalty_id}, "action": rule.type, "reference": reference,
                     "occurred_at": occurred_at.isoformat(), "points": event.points, "capped": cap or None,
                     "event": event.pk, "done": 1},
        )
    transaction.on_commit(lambda: action_recorded.send(sender=ActionEvent, event=event))
    return ActionResult(event, replayed=False)


# -- managing action rules ---------------------------------------------------------------------------

ACTION_RULE_FIELDS = ("type", "name", "points", "active", "once_per_reference", "per_day", "per_week", "per_month",
                      "lifetime")
CAP_FIELDS = ("per_day", "per_week", "per_month", "lifetime")


def action_rule_validate(rule: ActionRule) -> None:
    errors: dict[str, list[str]] = {}
    if not re.fullmatch(ACTION_TYPE_PATTERN, rule.type or ""):
        errors["type"] = [_("Use 1 to 40 lower-case letters, digits, - and _, starting with a letter or digit.")]
    elif ActionRule.objects.filter(type=rule.type).exclude(pk=rule.pk).exists():
        errors["type"] = [_("There is already a rule for this type.")]
    if not (rule.name or "").strip():
        errors["name"] = [_("A name is required.")]
    if rule.points is None or rule.points < 1:
        errors["points"] = [_("An action earns at least 1 point.")]
    for name in CAP_FIELDS:
        value = getattr(rule, name)
        if value is not None and value < 1:
            errors[name] = [_("A cap is at least 1; leave it empty for no cap.")]
    if errors:
        raise ActionInvalid(errors, _("The action rule is not valid."))


def action_rule_create(**values: Any) -> ActionRule:
    unknown = set(values) - set(ACTION_RULE_FIELDS)
    if unknown:
        raise TypeError(f"unknown action rule fields: {sorted(unknown)}")
    rule = ActionRule(**values)
    action_rule_validate(rule)
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError:  # the same type created concurrently
        raise ActionInvalid({"type": [_("There is already a rule for this type.")]}) from None
    return rule


def action_rule_update(*, rule: ActionRule, **changes: Any) -> ActionRule:
    unknown = set(changes) - set(ACTION_RULE_FIELDS)
    if unknown:
        raise TypeError(f"unknown action rule fields: {sorted(unknown)}")
    if "type" in changes and changes["type"] != rule.type:
        raise ActionInvalid({"type": [_("The type of a rule cannot change: its events and caps count by it.")]})
    for name, value in changes.items():
        setattr(rule, name, value)
    action_rule_validate(rule)
    rule.save()
    return rule


def action_rule_delete(*, rule: ActionRule) -> None:
    """Events recorded under the rule keep their type and points; new ones of this type are refused."""
    rule.delete()
