"""Challenges and milestones: configuration, progress, completion (the prize paid once) and close-out.

Progress is never counted up event by event: it is recomputed from the member's history in the challenge's
window with one aggregate query per challenge (`goal_values`), after each purchase, refund or action has
committed (campaigns.receivers queues it; never inside the purchase's own transaction). The same query
over every member at once fills in a challenge created or changed later ("set-based"), so what happened
since its `starts_at` counts, and it makes the final count when `close_challenges` closes the window.

- A refund lowers progress (a fully refunded purchase no longer counts; points taken back by refunds of
  purchases made in the window are subtracted) until the challenge is completed; completed stays completed.
- Completion is the move of the member's progress row from in_progress to completed: one UPDATE ... WHERE
  status = 'in_progress', which exactly one transaction wins, in the same transaction as the prize (bonus
  points through the ledger with the idempotency key `challenge:<id>:<member>`, and the badge).
- Closing a membership cancels the member's unfinished progress (`member_challenges_cancel`, from
  campaigns.services.member_data on members.signals.member_closed; `challenges_close` catches up any missed):
  status `cancelled`, its value kept, never counted again.
"""

from __future__ import annotations

import logging
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, DecimalField, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from campaigns.models import (
    ActionEvent,
    ActionRule,
    Badge,
    BadgeSource,
    Challenge,
    ChallengeGoal,
    ChallengeProgress,
    ProgressStatus,
)
from campaigns.services.badges import badge_award
from campaigns.services.common import CHALLENGE_PRIZE_JOB, PRIZE_JOBS, CampaignInvalid
from loyalty.models import LedgerTransaction, Purchase, TransactionKind
from loyalty.reasons import Reason
from loyalty.services.jobs import Progress
from loyalty.services.ledger import Audit, points_credit
from loyalty.services.program import _cached, cached_forget, config_models_register
from members.models import Member, MemberStatus

logger = logging.getLogger(__name__)

ZERO = Decimal("0")
CENT = Decimal("0.01")
HALF_CENT = Decimal("0.005")
_BATCH = 1000

# What each kind of activity can move: purchases and refunds move every goal but actions; a bonus posting
# outside a purchase (a birthday, an action's points) moves points earned; a recorded action moves actions.
PURCHASE_GOALS = (
    ChallengeGoal.POINTS_EARNED, ChallengeGoal.PURCHASES, ChallengeGoal.AMOUNT_SPENT,
    ChallengeGoal.DISTINCT_CATEGORIES, ChallengeGoal.WEEKLY_STREAK,
)
POSTING_GOALS = (ChallengeGoal.POINTS_EARNED,)
ACTION_GOALS = (ChallengeGoal.ACTIONS,)


def challenge_prize_key(*, challenge_id: int, member_id: int) -> str:
    return f"challenge:{challenge_id}:{member_id}"


# -- the open challenges, cached ---------------------------------------------------------------------


@dataclass(frozen=True)
class LiveChallenge:
    """What the receivers need to know on every purchase, without a query: cached like the promotions."""

    pk: int
    goal: str
    action_type: str
    starts_at: datetime
    ends_at: datetime | None
    tier_ids: frozenset[int]

    def open_at(self, moment: datetime) -> bool:
        return self.starts_at <= moment and (self.ends_at is None or moment < self.ends_at)

    def takes(self, tier_id: int | None) -> bool:
        return not self.tier_ids or tier_id in self.tier_ids


_COLUMNS = zlib.crc32(",".join(f.attname for f in Challenge._meta.concrete_fields).encode())
CHALLENGES_KEY = f"campaigns:challenges_live:v1:{_COLUMNS:x}"


# Cached under the configuration version: campaigns_challenge and its tiers table raise it (their
# ConfigVersionTrigger, migration 0007), so every process sees a change on its next request.
config_models_register(Challenge)


def _live_load() -> list[LiveChallenge]:
    challenges = Challenge.objects.filter(active=True, closed_at__isnull=True).prefetch_related("tiers")
    return [
        LiveChallenge(c.pk, c.goal, c.action_type, c.starts_at, c.ends_at, frozenset(t.pk for t in c.tiers.all()))
        for c in challenges.order_by("pk")
    ]


def challenges_live_cached() -> list[LiveChallenge]:
    """Active challenges not closed yet (also those starting later), from the cache."""
    return _cached(CHALLENGES_KEY, _live_load)


def challenges_cache_clear(**kwargs) -> None:
    cached_forget(CHALLENGES_KEY)


def challenges_open_for(*, tier_id: int | None, at: datetime, goals: Iterable[str] | None = None) -> list[int]:
    """Ids of the challenges a member in this tier takes part in at `at` (cached: no query)."""
    wanted = set(goals) if goals is not None else None
    return [
        live.pk for live in challenges_live_cached()
        if live.open_at(at) and live.takes(tier_id) and (wanted is None or live.goal in wanted)
    ]


# -- configuration -----------------------------------------------------------------------------------

CHALLENGE_FIELDS = (
    "code", "name", "description", "goal", "action_type", "target", "starts_at", "ends_at", "tiers", "prize_points",
    "prize_badge", "prize_reward", "active",
)
# Changing these recounts everyone's progress (completed progress stays as it is).
_RECOUNT_FIELDS = {"goal", "action_type", "target", "starts_at", "ends_at", "tiers", "active"}


def challenge_validate(challenge: Challenge) -> None:
    """Model validation plus the rules across fields; CampaignInvalid with messages per field."""
    errors: dict[str, list[str]] = {}
    try:
        challenge.full_clean(exclude=["tiers"])
    except ValidationError as error:
        errors = {name: list(messages) for name, messages in error.message_dict.items()}
    if challenge.goal == ChallengeGoal.ACTIONS and not challenge.action_type:
        errors.setdefault("action_type", []).append(_("The actions goal needs the action type that counts."))
    if (challenge.goal == ChallengeGoal.ACTIONS and challenge.action_type
            and not ActionRule.objects.filter(type=challenge.action_type).exists()):
        errors.setdefault("action_type", []).append(_("No action rule has this type: add the action rule first."))
    if challenge.goal != ChallengeGoal.ACTIONS and challenge.action_type:
        errors.setdefault("action_type", []).append(_("Only the actions goal has an action type."))
    if challenge.starts_at and challenge.ends_at and challenge.ends_at <= challenge.starts_at:
        errors.setdefault("ends_at", []).append(_("The end must be after the start."))
    if not challenge.prize_points and challenge.prize_badge_id is None and challenge.prize_reward_id is None:
        errors.setdefault("prize_points", []).append(_("Give a prize: bonus points, a badge and/or a reward."))
    if challenge.pk is not None:
        before = Challenge.objects.filter(pk=challenge.pk).values(
            "goal", "action_type", "target", "starts_at", "ends_at", "closed_at").first()
        if before is not None:
            if (before["goal"], before["action_type"]) != (challenge.goal, challenge.action_type) and \
                    challenge.progress.exists():
                errors.setdefault("goal", []).append(
                    _("Members have progress on this challenge: its goal cannot change. Create a new challenge.")
                )
            moved = [name for name in ("target", "starts_at", "ends_at") if before[name] != getattr(challenge, name)]
            if before["closed_at"] is not None and moved:
                for name in moved:
                    errors.setdefault(name, []).append(
                        _("This challenge is closed: its window and target stay as they were. Create a new one.")
                    )
    if errors:
        raise CampaignInvalid(_("The challenge is not valid."), errors)


def _challenge_save(challenge: Challenge, *, tiers: list | None, recount: bool) -> Challenge:
    challenge_validate(challenge)
    try:
        with transaction.atomic():
            challenge.save()
    except IntegrityError:
        raise CampaignInvalid(_("The challenge is not valid."), {"code": [_("Another challenge has this code.")]})
    if tiers is not None:
        challenge.tiers.set(tiers)
    challenge_saved(challenge=challenge, recount=recount)
    return challenge


def challenge_saved(*, challenge: Challenge, recount: bool = True) -> None:
    """After a challenge was saved (by the services or the admin form): the cached list is dropped and,
    when what counts changed, everyone's progress is recounted once the change commits (a task)."""
    challenges_cache_clear()
    if recount and challenge.active and challenge.closed_at is None:
        from campaigns.tasks import challenge_progress_backfill, enqueue

        challenge_id = challenge.pk
        transaction.on_commit(lambda: enqueue(challenge_progress_backfill, challenge_id=challenge_id))


@transaction.atomic
def challenge_create(**fields: Any) -> Challenge:
    """A new challenge; once committed, everyone's progress since its start is counted (a task)."""
    unknown = set(fields) - set(CHALLENGE_FIELDS)
    if unknown:
        raise TypeError(f"not challenge fields: {sorted(unknown)}")
    tiers = fields.pop("tiers", None)
    if fields.get("starts_at") is None:
        fields.pop("starts_at", None)  # default: now
    return _challenge_save(Challenge(**fields), tiers=tiers, recount=True)


@transaction.atomic
def challenge_update(*, challenge: Challenge, **fields: Any) -> Challenge:
    """Change a challenge. The goal cannot change once members have progress (create a new challenge);
    a new target, window or tiers recounts the progress not completed yet."""
    unknown = set(fields) - set(CHALLENGE_FIELDS)
    if unknown:
        raise TypeError(f"not challenge fields: {sorted(unknown)}")
    challenge = Challenge.objects.select_for_update().get(pk=challenge.pk)
    tiers = fields.pop("tiers", None)
    if "starts_at" in fields and fields["starts_at"] is None:
        fields["starts_at"] = challenge.starts_at
    for name, value in fields.items():
        setattr(challenge, name, value)
    recount = bool(_RECOUNT_FIELDS & (set(fields) | ({"tiers"} if tiers is not None else set())))
    return _challenge_save(challenge, tiers=tiers, recount=recount)


@transaction.atomic
def challenge_delete(*, challenge: Challenge) -> bool:
    """Delete a challenge nobody progressed on; otherwise deactivate it (its history and prizes stay).
    Returns True when it was deleted."""
    challenge = Challenge.objects.select_for_update().get(pk=challenge.pk)
    if challenge.progress.exists() or challenge.badge_awards.exists():
        if challenge.active:
            challenge.active = False
            challenge.save(update_fields=["active", "updated_at"])
        challenges_cache_clear()
        return False
    challenge.delete()
    challenges_cache_clear()
    return True


# -- counting: one aggregate query per challenge, for one member or for all ----------------------------


def _member_scope(challenge: Challenge, member_ids: list[int] | None, prefix: str = "member__") -> Q:
    """The members taking part: active, in the challenge's tiers (if any), optionally only these."""
    scope = Q(**{f"{prefix}status": MemberStatus.ACTIVE})
    tier_ids = [tier.pk for tier in challenge.tiers.all()] if challenge.pk is not None else []
    if tier_ids:
        scope &= Q(**{f"{prefix}tier__in": tier_ids})
    if member_ids is not None:
        scope &= Q(member_id__in=member_ids)
    return scope


def _window(challenge: Challenge, until: datetime, field: str = "occurred_at") -> Q:
    """What happened in [starts_at, ends_at) and by `until` (the count as of that moment)."""
    window = Q(**{f"{field}__gte": challenge.starts_at, f"{field}__lte": until})
    if challenge.ends_at is not None:
        window &= Q(**{f"{field}__lt": challenge.ends_at})
    return window


def _purchases(challenge: Challenge, member_ids: list[int] | None, until: datetime) -> QuerySet[Purchase]:
    return Purchase.objects.filter(_member_scope(challenge, member_ids), _window(challenge, until))


def _counted(purchases: QuerySet[Purchase]) -> QuerySet[Purchase]:
    """Purchases that still count: not refunded in full (by at least a cent less: SQLite keeps decimals as
    floats, and the sum of several refunds can land a hair below the total)."""
    return purchases.filter(refunded_total__lt=F("total") - HALF_CENT)


def _decimal(value: Any) -> Decimal:
    # SQLite sums decimals as floats: back to cents.
    return Decimal(str(value or 0)).quantize(CENT)


def _points_earned(challenge: Challenge, member_ids: list[int] | None, until: datetime) -> dict[int, Decimal]:
    """Earn and bonus postings in the window (prizes left out), less what refunds took back from the
    purchases made in the window (whenever the refund came)."""
    earned = (
        LedgerTransaction.objects.filter(
            _member_scope(challenge, member_ids), _window(challenge, until),
            kind__in=[TransactionKind.EARN, TransactionKind.BONUS],
        )
        .exclude(job__in=PRIZE_JOBS)
        .values("member_id").annotate(total=Sum("points")).values_list("member_id", "total")
    )
    taken_back = dict(
        _purchases(challenge, member_ids, until).filter(points_reversed__gt=0)
        .values("member_id").annotate(total=Sum("points_reversed")).values_list("member_id", "total")
    )
    return {member_id: Decimal(max(total - taken_back.get(member_id, 0), 0)) for member_id, total in earned}


def _purchase_count(challenge: Challenge, member_ids: list[int] | None, until: datetime) -> dict[int, Decimal]:
    rows = _counted(_purchases(challenge, member_ids, until)).values("member_id").annotate(n=Count("id"))
    return {row["member_id"]: Decimal(row["n"]) for row in rows}


def _amount_spent(challenge: Challenge, member_ids: list[int] | None, until: datetime) -> dict[int, Decimal]:
    """Purchase totals less their refunds."""
    spent = Sum(F("total") - F("refunded_total"), output_field=DecimalField(max_digits=14, decimal_places=2))
    rows = _purchases(challenge, member_ids, until).values("member_id").annotate(spent=spent)
    return {row["member_id"]: max(_decimal(row["spent"]), ZERO) for row in rows}


# Each line's categories: `category` and the `categories` list (purchases store both; see
# loyalty.services.purchases._line_json), counted once per member over their purchases in the window.
_CATEGORIES_SQL = {
    "postgresql": """
        SELECT member_id, COUNT(DISTINCT category) FROM (
            SELECT p.member_id, l.value ->> 'category' AS category
              FROM {purchase} p
              CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(p.lines) = 'array' THEN p.lines END) l
             WHERE p.id IN ({ids})
            UNION ALL
            SELECT p.member_id, c.value
              FROM {purchase} p
              CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(p.lines) = 'array' THEN p.lines END) l
              CROSS JOIN LATERAL jsonb_array_elements_text(
                  CASE WHEN jsonb_typeof(l.value -> 'categories') = 'array' THEN l.value -> 'categories' END) c
             WHERE p.id IN ({ids})
        ) lines WHERE category IS NOT NULL AND category <> '' GROUP BY member_id
    """,
    "sqlite": """
        SELECT member_id, COUNT(DISTINCT category) FROM (
            SELECT p.member_id, json_extract(l.value, '$.category') AS category
              FROM {purchase} p, json_each(p.lines) l
             WHERE p.id IN ({ids})
            UNION ALL
            SELECT p.member_id, c.value
              FROM {purchase} p, json_each(p.lines) l, json_each(l.value, '$.categories') c
             WHERE p.id IN ({ids})
        ) lines WHERE category IS NOT NULL AND category <> '' GROUP BY member_id
    """,
}


def _distinct_categories(challenge: Challenge, member_ids: list[int] | None, until: datetime) -> dict[int, Decimal]:
    ids_sql, ids_params = _counted(_purchases(challenge, member_ids, until)).values("id").query.sql_with_params()
    template = _CATEGORIES_SQL["postgresql" if connection.vendor == "postgresql" else "sqlite"]
    sql = template.format(purchase=connection.ops.quote_name(Purchase._meta.db_table), ids=ids_sql)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*ids_params, *ids_params])
        return {member_id: Decimal(count) for member_id, count in cursor.fetchall()}


def _week_start(moment: datetime) -> datetime:
    local = timezone.localtime(moment)
    monday = local.date() - timedelta(days=local.weekday())
    return timezone.make_aware(datetime(monday.year, monday.month, monday.day))


def _weekly_streak(challenge: Challenge, member_ids: list[int] | None, until: datetime) -> dict[int, Decimal]:
    """The member's run of consecutive ISO weeks (site time zone) with a purchase that counts: the longest
    run once it reaches the target (it completes), before that the current run, which ends in this week or
    the one before (a week without a purchase breaks it)."""
    tz = timezone.get_current_timezone()
    rows = (
        _counted(_purchases(challenge, member_ids, until))
        .annotate(week=TruncWeek("occurred_at", tzinfo=tz))
        .values_list("member_id", "week").distinct().order_by("member_id", "week")
    )
    last = until if challenge.ends_at is None else min(challenge.ends_at - timedelta(microseconds=1), until)
    this_week = timezone.localtime(_week_start(last)).date()
    weeks_by_member: dict[int, list] = defaultdict(list)
    for member_id, week in rows:
        weeks_by_member[member_id].append(timezone.localtime(week).date())
    values: dict[int, Decimal] = {}
    for member_id, weeks in weeks_by_member.items():
        longest = run = 0
        previous = None
        for week in weeks:
            run = run + 1 if previous is not None and (week - previous).days == 7 else 1
            longest = max(longest, run)
            previous = week
        current = run if previous is not None and (this_week - previous).days <= 7 else 0
        values[member_id] = Decimal(longest if longest >= challenge.target else current)
    return values


def _actions(challenge: Challenge, member_ids: list[int] | None, until: datetime) -> dict[int, Decimal]:
    """Recorded actions of the challenge's type in the window that the action rule counted: an event a cap
    stopped (no points) does not count here either, so a challenge never pays for what the caps hold back."""
    rows = (
        ActionEvent.objects.filter(
            _member_scope(challenge, member_ids), _window(challenge, until), type=challenge.action_type, capped=False
        )
        .values("member_id").annotate(n=Count("id")).values_list("member_id", "n")
    )
    return {member_id: Decimal(count) for member_id, count in rows}


_GOALS = {
    ChallengeGoal.POINTS_EARNED: _points_earned,
    ChallengeGoal.PURCHASES: _purchase_count,
    ChallengeGoal.AMOUNT_SPENT: _amount_spent,
    ChallengeGoal.DISTINCT_CATEGORIES: _distinct_categories,
    ChallengeGoal.WEEKLY_STREAK: _weekly_streak,
    ChallengeGoal.ACTIONS: _actions,
}


def goal_values(challenge: Challenge, *, member_ids: list[int] | None = None, until: datetime) -> dict[int, Decimal]:
    """Each taking-part member's progress at `until` (members with nothing to count are left out)."""
    return _GOALS[ChallengeGoal(challenge.goal)](challenge, member_ids, until)


# -- storing progress and completing -----------------------------------------------------------------


def _upsert_sql(rows: int) -> str:
    table = connection.ops.quote_name(ChallengeProgress._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * rows)
    # A completed, expired or cancelled row keeps its value: only in-progress rows move. The first positive
    # value counted sets started_at, which then stays.
    return (
        f"INSERT INTO {table} (challenge_id, member_id, value, status, started_at, updated_at) VALUES {values} "  # noqa: S608
        f"ON CONFLICT (challenge_id, member_id) DO UPDATE SET value = excluded.value, "
        f"updated_at = excluded.updated_at, started_at = COALESCE({table}.started_at, excluded.started_at) "
        f"WHERE {table}.status = %s AND {table}.value <> excluded.value"
    )


def _progress_store(challenge: Challenge, values: dict[int, Decimal], *, now: datetime,
                    reset_others: bool = False) -> None:
    """Write the members' new progress (rows with something to show are created; a value that fell to 0
    is written too). `reset_others`: every other in-progress row of the challenge falls to 0 (a count over
    all members, which left those out because nothing counts for them any more)."""
    when = connection.ops.adapt_datetimefield_value(now)
    positive = [(member_id, value) for member_id, value in values.items() if value > 0]
    for start in range(0, len(positive), _BATCH):
        batch = positive[start : start + _BATCH]
        params: list[Any] = []
        for member_id, value in batch:
            params += [challenge.pk, member_id, str(value), ProgressStatus.IN_PROGRESS, when, when]
        with connection.cursor() as cursor:
            cursor.execute(_upsert_sql(len(batch)), [*params, ProgressStatus.IN_PROGRESS])
    in_progress = ChallengeProgress.objects.filter(challenge=challenge, status=ProgressStatus.IN_PROGRESS, value__gt=0)
    if reset_others:
        zero = [m for m in in_progress.values_list("member_id", flat=True) if values.get(m, ZERO) <= 0]
    else:
        zero = [member_id for member_id, value in values.items() if value <= 0]
    for start in range(0, len(zero), _BATCH):
        in_progress.filter(member_id__in=zero[start : start + _BATCH]).update(value=ZERO, updated_at=now)


def challenge_complete(*, challenge: Challenge, member_id: int, value: Decimal,
                       now: datetime | None = None) -> ChallengeProgress | None:
    """Complete the member's in-progress challenge and pay its prize, in one transaction. Exactly once: of
    concurrent callers only the one whose UPDATE moves the row from in_progress pays; the others get None
    (and the ledger's idempotency key `challenge:<id>:<member>` would refuse a second posting anyway)."""
    now = now or timezone.now()
    with transaction.atomic():
        moved = ChallengeProgress.objects.filter(
            challenge=challenge, member_id=member_id, status=ProgressStatus.IN_PROGRESS
        ).update(status=ProgressStatus.COMPLETED, completed_at=now, value=value, updated_at=now,
                 started_at=Coalesce("started_at", Value(now)))
        if not moved:
            return None
        progress = ChallengeProgress.objects.select_related("member").get(challenge=challenge, member_id=member_id)
        if challenge.prize_points > 0:
            progress.prize_transaction = points_credit(
                member=progress.member,
                points=challenge.prize_points,
                kind=TransactionKind.BONUS,
                audit=Audit(
                    reason=Reason(gettext_noop("Challenge completed: %(name)s"), {"name": challenge.name}),
                    reference=challenge.code,
                    idempotency_key=challenge_prize_key(challenge_id=challenge.pk, member_id=member_id),
                    job=CHALLENGE_PRIZE_JOB,
                    occurred_at=now,
                    metadata={"challenge": challenge.pk},
                ),
                now=now,
            )
            progress.save(update_fields=["prize_transaction"])
        badge: Badge | None = challenge.prize_badge
        if badge is not None and badge.active:
            badge_award(badge=badge, member=progress.member, source=BadgeSource.CHALLENGE, challenge=challenge, now=now)
    return progress


def _challenge_count(challenge: Challenge, *, member_ids: list[int] | None, until: datetime,
                     now: datetime) -> list[ChallengeProgress]:
    """Recount the challenge for these members (None: everyone taking part), store it, and complete
    those who reached the target. Returns the completions."""
    values = goal_values(challenge, member_ids=member_ids, until=until)
    for member_id in member_ids or ():
        values.setdefault(member_id, ZERO)
    _progress_store(challenge, values, now=now, reset_others=member_ids is None)
    completed = []
    for member_id in sorted(m for m, value in values.items() if value >= challenge.target):
        progress = challenge_complete(challenge=challenge, member_id=member_id, value=values[member_id], now=now)
        if progress is not None:
            completed.append(progress)
    return completed


def _challenges(ids: Iterable[int]) -> QuerySet[Challenge]:
    return Challenge.objects.filter(pk__in=list(ids)).select_related("prize_badge").prefetch_related("tiers")


def challenge_progress_member_refresh(*, member_id: int, goals: Iterable[str] | None = None,
                                      now: datetime | None = None) -> list[ChallengeProgress]:
    """Recount the member's open challenges (those with one of `goals`, or all) after their purchase,
    refund, posting or action committed. Returns the challenges this completed."""
    now = now or timezone.now()
    member = Member.objects.filter(pk=member_id).only("pk", "status", "tier_id").first()
    if member is None or member.status != MemberStatus.ACTIVE:
        return []
    ids = challenges_open_for(tier_id=member.tier_id, at=now, goals=goals)
    completed = []
    for challenge in _challenges(ids).order_by("pk"):
        completed += _challenge_count(challenge, member_ids=[member.pk], until=now, now=now)
    return completed


def challenge_progress_backfill(*, challenge: Challenge, now: datetime | None = None) -> dict[str, int]:
    """Count every member's progress on the challenge since it started (a new or changed challenge):
    one aggregate query, then the rows written in batches and the completions paid."""
    now = now or timezone.now()
    challenge = _challenges([challenge.pk]).get()
    if not challenge.active or challenge.closed_at is not None:
        return {"completed": 0}
    until = now if challenge.ends_at is None else min(now, challenge.ends_at)
    return {"completed": len(_challenge_count(challenge, member_ids=None, until=until, now=now))}


# -- a membership closed -----------------------------------------------------------------------------


def member_challenges_cancel(*, member_id: int, now: datetime | None = None) -> int:
    """The member's membership was closed: their unfinished progress (every challenge, open or not) becomes
    `cancelled`, with the value it had, so it no longer shows or counts as in progress and can never
    complete (nothing recounts a closed member). Idempotent; returns how many rows it cancelled."""
    return ChallengeProgress.objects.filter(member_id=member_id, status=ProgressStatus.IN_PROGRESS).update(
        status=ProgressStatus.CANCELLED, updated_at=now or timezone.now()
    )


# -- closing ended windows ---------------------------------------------------------------------------


def challenges_close(*, as_of: datetime, dry_run: bool = False, progress: Progress | None = None) -> dict[str, int]:
    """Close every challenge whose window ended by `as_of`: a last count over the whole window (what a lost
    task missed still completes), then every unfinished progress is marked expired (a closed member's
    cancelled, if their closing did not do it) and the challenge closed. Idempotent for a given as_of: a
    closed challenge is never touched again; safe concurrently (the challenge row is locked for the close,
    completions are exactly-once on their own)."""
    due = list(Challenge.objects.filter(closed_at__isnull=True, ends_at__lte=as_of).order_by("pk"))
    counts = {"challenges": 0, "completed": 0, "expired": 0, "failed": 0}
    for index, challenge in enumerate(due, start=1):
        assert challenge.ends_at is not None
        if dry_run:
            counts["challenges"] += 1
            unfinished = set(ChallengeProgress.objects.filter(
                challenge=challenge, status=ProgressStatus.IN_PROGRESS).exclude(member__status=MemberStatus.CLOSED)
                .values_list("member_id", flat=True))
            if challenge.active:  # what the last count would do
                values = goal_values(_challenges([challenge.pk]).get(), until=challenge.ends_at)
                done = set(ChallengeProgress.objects.filter(challenge=challenge).exclude(
                    status=ProgressStatus.IN_PROGRESS).values_list("member_id", flat=True))
                reached = {m for m, value in values.items() if value >= challenge.target} - done
                counts["completed"] += len(reached)
                unfinished = (unfinished | {m for m, value in values.items() if value > 0}) - done - reached
            counts["expired"] += len(unfinished)
        else:
            try:
                # Progress of a member closed meanwhile whose closing did not cancel it (a lost after-commit
                # receiver): cancelled, with its value, before the last count would take it to 0.
                ChallengeProgress.objects.filter(
                    challenge=challenge, status=ProgressStatus.IN_PROGRESS, member__status=MemberStatus.CLOSED
                ).update(status=ProgressStatus.CANCELLED, updated_at=as_of)
                if challenge.active:
                    counted = _challenges([challenge.pk]).get()
                    counts["completed"] += len(
                        _challenge_count(counted, member_ids=None, until=challenge.ends_at, now=as_of)
                    )
                with transaction.atomic():
                    locked = Challenge.objects.select_for_update().get(pk=challenge.pk)
                    if locked.closed_at is None:
                        counts["expired"] += ChallengeProgress.objects.filter(
                            challenge=locked, status=ProgressStatus.IN_PROGRESS
                        ).update(status=ProgressStatus.EXPIRED, updated_at=as_of)
                        locked.closed_at = as_of
                        locked.save(update_fields=["closed_at", "updated_at"])
                        counts["challenges"] += 1
            except Exception:
                counts["failed"] += 1
                logger.exception("close_challenges: challenge %s failed", challenge.pk)
        if progress is not None:
            progress(index, len(due))
    if not dry_run and counts["challenges"]:
        challenges_cache_clear()
    return counts


# -- reads -------------------------------------------------------------------------------------------


def member_challenges_get(*, member: Member, now: datetime | None = None) -> list[dict]:
    """The challenges open to the member now (active, in their window, their tier), each with their
    progress: {challenge, progress (Decimal), completed_at, remaining}. A suspended or closed member has none."""
    now = now or timezone.now()
    if member.status != MemberStatus.ACTIVE:
        return []
    ids = challenges_open_for(tier_id=member.tier_id, at=now)
    challenges = list(_challenges(ids).select_related("prize_reward").order_by(F("ends_at").asc(nulls_last=True), "pk"))
    rows = {
        row.challenge_id: row
        for row in ChallengeProgress.objects.filter(member=member, challenge__in=[c.pk for c in challenges])
    }
    items = []
    for challenge in challenges:
        row = rows.get(challenge.pk)
        value = row.value if row is not None else ZERO
        completed_at = row.completed_at if row is not None else None
        items.append({
            "challenge": challenge,
            "progress": value,
            "completed_at": completed_at,
            "remaining": ZERO if completed_at else max(Decimal(challenge.target) - value, ZERO),
        })
    return items


def member_challenges_completed_get(*, member: Member, limit: int = 20) -> QuerySet[ChallengeProgress]:
    """The member's completed challenges, newest first (the portal shows them after the open ones)."""
    return (
        ChallengeProgress.objects.filter(member=member, status=ProgressStatus.COMPLETED)
        .select_related("challenge", "challenge__prize_badge", "challenge__prize_reward")
        .order_by("-completed_at")[:limit]
    )


def member_completed_challenge_of_reward(*, member: Member, reward_id: int) -> bool:
    """Whether the member completed a challenge that unlocks this reward."""
    return ChallengeProgress.objects.filter(
        member=member, status=ProgressStatus.COMPLETED, challenge__prize_reward_id=reward_id
    ).exists()


def challenges_with_counts() -> QuerySet[Challenge]:
    """Challenges with `started` (members with progress) and `completed` counts annotated."""
    return Challenge.objects.annotate(
        started=Count("progress", filter=Q(progress__value__gt=0) | Q(progress__status=ProgressStatus.COMPLETED)),
        completed=Count("progress", filter=Q(progress__status=ProgressStatus.COMPLETED)),
    )
