"""`python manage.py demo`: migrate, load a demo program with members and history, print logins, serve.

The history is replayed day by day through the real services, with past dates: members enrol
(member_create), buy (purchase_record), spend points (points_debit); every night the pending points
due are released (points_release) and the lots due expire (points_expire_member), and every week the
tiers are recalculated (tiers_recalculate), each as of that night. Refunds and staff adjustments,
which the services date "now", happen on the last day.

Each part is one function taking the `Demo` context, listed in STEPS (and NIGHTLY for the jobs of
each replayed night). Other apps add theirs from a `demo` module of their own (rewards/demo.py,
campaigns/demo.py; imported by autodiscover_modules("demo"), so loyalty imports none of them) calling
`step_add`; they may add member_create arguments per member (JOIN_HOOKS) and what follows a visit
(VISIT_HOOKS), and `Demo.spend` lets the rewards app decide what members spend their points on.
"""

from __future__ import annotations

import io
import math
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules

from loyalty.models import (
    AccountKind,
    ApiKey,
    ApiKeyScope,
    EarningRule,
    LedgerAccount,
    PointLot,
    Purchase,
    Store,
    Tier,
)
from loyalty.services.api_keys import api_key_create, api_key_revoke
from loyalty.services.earning import Line, earning_rule_create
from loyalty.services.ledger import Audit, points_adjust, points_debit, points_expire_member, points_release
from loyalty.services.program import program_get
from loyalty.services.purchases import purchase_record, refund_record
from loyalty.services.tiers import tier_create, tier_signals_connect, tiers_recalculate
from loyalty.signals import points_posted
from members.models import Member, User
from members.services import member_create

DEMO_DOMAIN = "demo.example.com"
ADMIN_EMAIL = "admin@example.com"
PORTAL_EMAIL = f"member@{DEMO_DOMAIN}"

FIRST_NAMES = [
    "Emma", "Noah", "Julia", "Liam", "Mila", "Lucas", "Sophie", "Sem", "Tess", "Daan", "Zoë", "Finn", "Sara",
    "Levi", "Anna", "Luuk", "Evi", "Milan", "Nora", "Jesse", "Lotte", "Bram", "Fleur", "Thijs", "Yara", "Ruben",
    "Amira", "Mohammed", "Fatima", "Yusuf", "Olivia", "James", "Chloé", "Mateo", "Ines", "Jonas", "Hanna",
    "Kofi", "Priya", "Wei",
]
LAST_NAMES = [
    "de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser", "Smit", "Meijer",
    "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer",
    "de Wit", "Dijkstra", "Smits", "de Graaf", "van der Meer", "Kok", "Jacobs", "Haan", "Vermeulen", "Schouten",
    "El Amrani", "Yilmaz", "Santos", "Nguyen", "Kowalski", "Müller", "Dubois", "Rossi", "Okafor", "Chen",
]
CATEGORIES = ["coffee", "tea", "bakery", "kitchen", "gifts"]

# What members spend their points on (points, readable reason); the rewards catalogue can replace this.
REWARDS = [
    (250, "Reward: free coffee"),
    (500, "Reward: €5 discount"),
    (1000, "Reward: €10 discount"),
    (2500, "Reward: €25 discount"),
]


@dataclass(frozen=True)
class Persona:
    """How a kind of member behaves: share of members, days between visits, spend per visit."""

    name: str
    share: float
    gap_days: tuple[int, int]
    spend: tuple[int, int]
    join_window: tuple[float, float]  # as fractions of the history (0 = first day, 1 = today)
    active_days: int | None = None  # stops buying this many days after joining (lapsed members)
    redeem_chance: float = 0.4


# About six purchases per member on average: enough for every screen to have something to show,
# few enough that 200 members load in seconds.
PERSONAS = [
    Persona("regular", 0.50, (35, 80), (15, 110), (0.0, 0.75)),
    Persona("frequent", 0.12, (14, 30), (20, 140), (0.0, 0.6)),
    Persona("big_spender", 0.04, (12, 20), (80, 380), (0.0, 0.4), redeem_chance=0.25),
    Persona("lapsed", 0.20, (15, 40), (10, 90), (0.0, 0.2), active_days=90, redeem_chance=0.2),
    Persona("new", 0.14, (6, 20), (10, 80), (0.9, 0.99)),
]

PROGRAM_SETTINGS = {
    "name": "Demo Rewards Club",
    "currency": "EUR",
    "earn_rate": Decimal("1.00"),
    "rounding": "round",
    "include_tax": False,
    "point_value": Decimal("0.01"),
    "min_redeem_points": 250,
    "max_discount_percent": 50,
    "pending_days": 14,
    "points_valid_days": 365,
    "expiry_extends_to": "month_end",
    "expiry_warning_days": 30,
    "tier_metric": "points",
    "tier_window": "rolling",
    "tier_window_months": 12,
    "tier_hold_months": 3,
    "coupon_valid_days": 90,
    # Paid through the history: dated when members joined and when referred friends' first points were released.
    "signup_bonus": 100,
    "referral_referrer_bonus": 200,
    "referral_referee_bonus": 100,
    "referral_cap": 5,
}
# The birthday bonus (a job the history does not replay) switches on once the history is loaded; the replayed
# history itself has no bonus postings dated "now". The sign-up and referral bonuses are on throughout.
PROGRAM_BONUSES = {"birthday_bonus": 250}
# Member emails switch on once the history is loaded too: the replay would send hundreds of them.
PROGRAM_EMAILS = ("welcome_email", "tier_upgrade_email", "reward_redeemed_email", "expiry_reminder_email")
BRANDING = {"brand_colour": "#1f3b57", "accent_colour": "#0b6b63"}
TERMS = "\n\n".join([
    "Demo Rewards Club is free to join for anyone aged 16 or over with an email address.",
    "You earn 1 point for every euro you spend in our shops and web shop, after discounts and without shipping. "
    "Points from a purchase become available 14 days after it (our return period) and stay valid for a year, until "
    "the end of that month. 100 points are worth €1.",
    "Spend your points on the rewards in the portal or at checkout, for at most half of an order. A coupon is valid "
    "for 90 days; you can cancel one you have not used and get your points back.",
    "Your tier depends on the points you earned in the last 12 months. We may change these terms with a month's "
    "notice by email. You can close your membership at any time in your profile; your remaining points then lapse.",
])

# SKU and category rules of the demo shops (loyalty.services.earning).
EARNING_RULES: list[dict[str, Any]] = [
    {"category": "coffee", "multiplier": Decimal("2.00")},
    {"category": "gifts", "multiplier": Decimal("1.50")},
    {"sku": "GIFT-CARD", "excluded": True},
    {"sku": "BAK-100", "points_per_unit": Decimal("10.00")},
]

TIERS = [
    {"code": "bronze", "name": "Bronze", "rank": 1, "threshold": 0, "multiplier": Decimal("1.00"),
     "colour": "#a97142", "benefits": "Earn 1 point per euro."},
    {"code": "silver", "name": "Silver", "rank": 2, "threshold": 400, "multiplier": Decimal("1.25"),
     "colour": "#a8a9ad", "benefits": "25% more points on every purchase."},
    {"code": "gold", "name": "Gold", "rank": 3, "threshold": 1200, "multiplier": Decimal("1.50"),
     "colour": "#d4af37", "benefits": "50% more points and free shipping."},
    {"code": "platinum", "name": "Platinum", "rank": 4, "threshold": 4000, "multiplier": Decimal("2.00"),
     "colour": "#5b6770", "benefits": "Double points, free shipping and early access to sales."},
]


@dataclass
class PlannedMember:
    number: int
    persona: Persona
    email: str
    first_name: str
    last_name: str
    birthday: date | None
    language: str
    marketing_consent: bool
    joined_at: datetime
    visits: list[datetime]
    member: Member | None = None


@dataclass
class Demo:
    """Everything the steps share."""

    rng: random.Random
    now: datetime
    days: int
    member_count: int
    log: Callable[[str], None]
    stores: dict[str, Store] = field(default_factory=dict)
    planned: list[PlannedMember] = field(default_factory=list)
    admin: User | None = None
    admin_password: str = ""
    portal_password: str = ""
    api_key_raw: str = ""
    counts: Counter = field(default_factory=Counter)
    seconds: Counter = field(default_factory=Counter)
    staff_passwords: dict[str, tuple[str, str]] = field(default_factory=dict)  # email: (role, password)
    # What a member spends points on during a visit (set by the rewards app's demo step): called with
    # (demo, planned member, when, store) before the purchase; returns whether points were spent.
    spend: Callable[[Demo, PlannedMember, datetime, Store], bool] | None = None

    @contextmanager
    def timed(self, name: str):
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] += time.monotonic() - started  # type: ignore[assignment]  # float seconds in a Counter

    @property
    def start(self) -> datetime:
        return self.now - timedelta(days=self.days)

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        return timezone.make_aware(datetime(day.year, day.month, day.day, hour, minute))


# -- steps -------------------------------------------------------------------------------------------


def demo_admin(demo: Demo) -> None:
    """A superuser with a fresh random password (reset on every run)."""
    demo.admin_password = secrets.token_urlsafe(12)
    admin = _admin_user()
    admin.is_staff = admin.is_superuser = admin.is_active = True
    admin.set_password(demo.admin_password)
    admin.save()
    demo.admin = admin


STAFF = [("manager@example.com", "Program manager"), ("support@example.com", "Support")]


def demo_staff(demo: Demo) -> None:
    """A login for each staff role (reset on every run), to try what each may do."""
    from django.contrib.auth.models import Group

    from loyalty.roles import staff_roles_ensure

    staff_roles_ensure()  # the roles come from a migration; --reset (a flush) empties them

    for email, role in STAFF:
        password = secrets.token_urlsafe(12)
        user = User.objects.filter(email__iexact=email).first() or User(email=email)
        user.is_staff, user.is_active = True, True
        user.set_password(password)
        user.save()
        user.groups.set(Group.objects.filter(name=role))
        demo.staff_passwords[email] = (role, password)


def demo_program(demo: Demo) -> None:
    program = program_get()
    for name, value in {**PROGRAM_SETTINGS, **BRANDING, "terms": TERMS}.items():
        setattr(program, name, value)
    for name in PROGRAM_BONUSES:
        setattr(program, name, 0)
    for name in PROGRAM_EMAILS:
        setattr(program, name, False)
    if not program.logo:
        program.logo.save("demo-rewards-club.png", ContentFile(demo_logo_png()), save=False)
    program.full_clean()
    program.save()


def demo_logo_png() -> bytes:
    """The demo programme's logo, drawn with Pillow: a gold star on a rounded tile."""
    from PIL import Image, ImageDraw

    size = 256
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, size - 1, size - 1), radius=56, fill=(255, 255, 255, 255))
    draw.rounded_rectangle((14, 14, size - 15, size - 15), radius=46, fill=(11, 107, 99, 255))
    centre, outer, inner = size / 2, 92, 38
    points = []
    for index in range(10):
        radius = outer if index % 2 == 0 else inner
        angle = math.pi / 2 + index * math.pi / 5
        points.append((centre + radius * math.cos(angle), centre - radius * math.sin(angle) + 6))
    draw.polygon(points, fill=(245, 197, 66, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def demo_earning_rules(demo: Demo) -> None:
    for fields in EARNING_RULES:
        sku, category = fields.get("sku", ""), fields.get("category", "")
        if not EarningRule.objects.filter(sku=sku, category=category).exists():
            earning_rule_create(**fields)


def demo_stores(demo: Demo) -> None:
    till, _created = Store.objects.get_or_create(slug="main-street", defaults={"name": "Main Street shop"})
    web, _created = Store.objects.get_or_create(
        slug="webshop", defaults={"name": "Web shop", "auto_enroll": True, "woocommerce_secret": secrets.token_hex(16)}
    )
    demo.stores = {"till": till, "web": web}


def demo_tiers(demo: Demo) -> None:
    for fields in TIERS:
        if not Tier.objects.filter(code=fields["code"]).exists():
            tier_create(**fields)


def _visits(rng: random.Random, first: datetime, stop: datetime, gap_days: tuple[int, int]) -> list[datetime]:
    """Shopping trips from `first` until `stop`, during opening hours."""
    visits = []
    moment = first
    while moment < stop:
        visits.append(moment)
        day = timezone.localtime(moment + timedelta(days=rng.randint(*gap_days)))
        moment = day.replace(hour=rng.randint(9, 20), minute=rng.randint(0, 59))
    return visits


def demo_plan_members(demo: Demo) -> None:
    """Decide who joins when and visits how often (no database writes; deterministic per seed)."""
    rng = demo.rng
    weights = [persona.share for persona in PERSONAS]
    for number in range(1, demo.member_count + 1):
        # The first member gets the portal demo login: a frequent shopper from the start.
        persona = PERSONAS[1] if number == 1 else rng.choices(PERSONAS, weights)[0]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = "".join(c for c in f"{first}.{last}".lower() if c.isascii() and (c.isalnum() or c == "."))
        join_window = (0.0, 0.01) if number == 1 else persona.join_window
        joined_at = demo.start + timedelta(days=rng.uniform(*join_window) * demo.days)
        joined_at = timezone.localtime(joined_at).replace(hour=rng.randint(9, 19), minute=rng.randint(0, 59))
        if joined_at >= demo.now:
            joined_at = demo.now - timedelta(hours=2)
        stop = joined_at + timedelta(days=persona.active_days) if persona.active_days else demo.now
        # Most members enrol at the till during their first purchase.
        visits = _visits(rng, joined_at + timedelta(minutes=rng.randint(1, 20)), min(stop, demo.now),
                         persona.gap_days)
        demo.planned.append(
            PlannedMember(
                number=number,
                persona=persona,
                email=PORTAL_EMAIL if number == 1 else f"{local}.{number}@{DEMO_DOMAIN}",
                first_name=first,
                last_name=last,
                birthday=date(rng.randint(1950, 2005), rng.randint(1, 12), rng.randint(1, 28))
                if rng.random() < 0.6 else None,
                language=rng.choice(["en", "nl"]),
                marketing_consent=rng.random() < 0.55,
                joined_at=joined_at,
                visits=visits,
            )
        )


def _visit(demo: Demo, planned: PlannedMember, when: datetime) -> None:
    """One shopping trip: maybe spend points on a reward, then record the purchase (earning points)."""
    rng = demo.rng
    member = planned.member
    assert member is not None
    channel = "web" if rng.random() < 0.4 else "till"
    store = demo.stores[channel]
    if demo.spend is not None:
        demo.spend(demo, planned, when, store)
    elif rng.random() < planned.persona.redeem_chance:  # without the rewards app: a plain debit
        available = LedgerAccount.objects.get(member=member, kind=AccountKind.AVAILABLE).balance
        affordable = [reward for reward in REWARDS if reward[0] <= available]
        if affordable:
            points, reason = rng.choice(affordable[-2:])
            demo.counts["redemptions"] += 1
            points_debit(
                member=member, points=points,
                audit=Audit(reason=reason, reference=f"DEMO-R{demo.counts['redemptions']:05d}", occurred_at=when,
                            idempotency_key=f"demo-redeem:{planned.number}:{when.isoformat()}"),
            )
    amount = Decimal(rng.uniform(*planned.persona.spend)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    demo.counts["purchases"] += 1
    order_id = f"{'W' if channel == 'web' else 'T'}-{demo.counts['purchases']:06d}"
    lines: list[dict[str, Any] | Line] | None = None
    shipping = tax = Decimal("0")
    if channel == "web":
        shipping = Decimal("4.95") if amount < 50 else Decimal("0")
        tax = (amount * Decimal("21") / Decimal("121")).quantize(Decimal("0.01"), ROUND_HALF_UP)
        category = rng.choice(CATEGORIES)
        lines = [{"sku": f"{category[:3].upper()}-{rng.randint(100, 999)}", "category": category, "quantity": 1,
                  "amount": str(amount - tax)}]
    elif rng.random() < 0.5:
        category = rng.choice(CATEGORIES)
        lines = [{"sku": f"{category[:3].upper()}-{rng.randint(100, 999)}", "category": category, "quantity": 1,
                  "amount": str(amount)}]
    purchase, _created = purchase_record(
        store=store, member=member, order_id=order_id, total=amount + shipping, currency="EUR",
        occurred_at=when, shipping=shipping, tax=tax, lines=lines, now=when,
    )
    for hook in VISIT_HOOKS:
        hook(demo, planned, when, purchase)


def _nightly_release(demo: Demo, as_of: datetime) -> None:
    due = (
        PointLot.objects.filter(released_at__isnull=True, available_at__lte=as_of, remaining__gt=0)
        .order_by("member_id").values_list("member_id", flat=True).distinct()
    )
    for member in Member.objects.filter(pk__in=list(due)).order_by("pk"):
        if points_release(member=member, as_of=as_of) is not None:
            demo.counts["releases"] += 1


def _nightly_expire(demo: Demo, as_of: datetime) -> None:
    due = (
        PointLot.objects.filter(released_at__isnull=False, expires_at__lte=as_of, remaining__gt=0)
        .order_by("member_id").values_list("member_id", flat=True).distinct()
    )
    for member in Member.objects.filter(pk__in=list(due)).order_by("pk"):
        if points_expire_member(member=member, as_of=as_of) is not None:
            demo.counts["expiries"] += 1


def _weekly_tiers(demo: Demo, as_of: datetime) -> None:
    if timezone.localtime(as_of).weekday() == 0:
        result = tiers_recalculate(as_of=as_of)
        demo.counts["tier_changes"] += result["upgraded"] + result["downgraded"]


# The jobs of every replayed night, in order, each called with the night's as_of.
NIGHTLY: list[Callable[[Demo, datetime], None]] = [_nightly_release, _nightly_expire, _weekly_tiers]


@contextmanager
def _live_tier_checks_paused():
    """The live upgrade check dates its change "now"; while the past is replayed the weekly
    recalculation, run as of each replayed Monday, moves members instead."""
    paused = points_posted.disconnect(dispatch_uid="tiers_upgrade_on_points_posted")
    try:
        yield
    finally:
        if paused:
            tier_signals_connect()


def demo_history(demo: Demo) -> None:
    """Replay the plan day by day: nightly jobs at 03:00, then the day's enrolments and visits."""
    events: dict[date, list[tuple[datetime, int, str, PlannedMember]]] = {}
    for planned in demo.planned:
        items = [(planned.joined_at, 0, "join", planned)] + [(when, 1, "visit", planned) for when in planned.visits]
        for when, order, kind, who in items:
            events.setdefault(timezone.localdate(when), []).append((when, order, kind, who))
    day = timezone.localdate(demo.start)
    today = timezone.localdate(demo.now)
    started = time.monotonic()
    with _live_tier_checks_paused():
        while day <= today:
            # One database transaction per replayed month: a commit per day costs more than the work.
            with transaction.atomic():
                month = day.month
                while day <= today and day.month == month:
                    _replay_day(demo, day, events.get(day, []))
                    day += timedelta(days=1)
            demo.log(f"  {day - timedelta(days=1):%Y-%m}: {demo.counts['purchases']} purchases so far "
                     f"({time.monotonic() - started:.1f}s)")


def _replay_day(demo: Demo, day: date, events: list[tuple[datetime, int, str, PlannedMember]]) -> None:
    night = demo.at(day, 3)
    if night <= demo.now:
        for job in NIGHTLY:
            with demo.timed(job.__name__):
                job(demo, night)
    for when, _order, kind, planned in sorted(events, key=lambda event: (event[0], event[1], event[3].number)):
        if kind == "join":
            with demo.timed("member_create"):
                extra: dict[str, Any] = {}
                for hook in JOIN_HOOKS:
                    extra.update(hook(demo, planned))
                planned.member = member_create(**{
                    "email": planned.email, "first_name": planned.first_name, "last_name": planned.last_name,
                    "birthday": planned.birthday, "language": planned.language,
                    "marketing_consent": planned.marketing_consent, "joined_at": when, "store": demo.stores["till"],
                    **extra,
                })
        else:
            with demo.timed("visits"):
                _visit(demo, planned, when)


def demo_today(demo: Demo) -> None:
    """What the services date "now": refunds of recent (still pending) orders and staff adjustments."""
    rng = demo.rng
    recent = list(
        Purchase.objects.filter(occurred_at__gte=demo.now - timedelta(days=14)).select_related("store")
        .order_by("occurred_at", "id")
    )
    for purchase in recent:
        if rng.random() < 0.08:
            full = rng.random() < 0.5
            amount = purchase.total if full else (purchase.total * Decimal(rng.uniform(0.2, 0.7))).quantize(
                Decimal("0.01"), ROUND_HALF_UP
            )
            if amount > 0:
                refund_record(store=purchase.store, purchase=purchase, refund_id=f"RF-{purchase.order_id}",
                              amount=amount)
                demo.counts["refunds"] += 1
    members = [planned.member for planned in demo.planned if planned.member is not None]
    for member, points, reason in [
        (members[len(members) // 3], 100, "Goodwill: your parcel arrived late"),
        (members[len(members) // 2], 50, "Points for a receipt scanned by hand"),
        (members[0], -25, "Correction: duplicate till receipt"),
    ]:
        available = LedgerAccount.objects.get(member=member, kind=AccountKind.AVAILABLE).balance
        if points > 0 or available >= -points:
            points_adjust(member=member, points=points, reason=reason, staff_user=demo.admin)
            demo.counts["adjustments"] += 1
    tiers_recalculate(as_of=demo.now)


def _admin_user() -> User:
    """The demo's superuser (its password is set by demo_admin on every run)."""
    admin = User.objects.filter(email__iexact=ADMIN_EMAIL).first()
    return admin or User.objects.create_superuser(email=ADMIN_EMAIL, password=None)


def demo_back_office(demo: Demo) -> None:
    """What a merchant does in the back office, through the same services as the admin: a points import
    (a goodwill gesture to the longest-standing members), a bulk suspension and a membership closed, all in
    the audit log."""
    from loyalty.imports import PointsImportResource, dataset_load
    from members.bulk import members_status_set
    from members.services import member_status_set

    admin = _admin_user()
    oldest = [planned.member for planned in sorted(demo.planned, key=lambda p: p.joined_at)[:5] if planned.member]
    rows = "\n".join(f"{member.loyalty_id},150,Thank you for being with us from the start" for member in oldest)
    result = PointsImportResource().import_data(
        dataset_load(f"loyalty_id,points,reason\n{rows}\n"), dry_run=False, user=admin, file_name="goodwill.csv"
    )
    if result.has_errors() or result.has_validation_errors():
        raise CommandError("the demo's points import failed")
    lapsed = [planned.member for planned in demo.planned if planned.persona.name == "lapsed" and planned.member][:4]
    members_status_set(members=Member.objects.filter(pk__in=[member.pk for member in lapsed[:3]]),
                       status="suspended", staff_user=admin, selection={"selected": len(lapsed[:3])})
    demo.counts["staff_actions"] += 2
    if len(lapsed) == 4:  # one membership closed by staff: anonymised, its points forfeited, in the audit log
        member_status_set(member=lapsed[3], status="closed", staff_user=admin)
        demo.counts["staff_actions"] += 1


def demo_kpi_rollup(demo: Demo) -> None:
    """The KPI dashboard's day rollups brought up to date, as beat does every ten minutes (roll_up_kpis)."""
    from loyalty.kpi_rollup import kpi_rollup_run

    kpi_rollup_run()


def demo_program_bonuses(demo: Demo) -> None:
    program = program_get()
    for name, value in PROGRAM_BONUSES.items():
        setattr(program, name, value)
    for name in PROGRAM_EMAILS:
        setattr(program, name, True)
    program.full_clean()
    program.save()


def demo_portal_login(demo: Demo) -> None:
    """A verified login for the first demo member, to try the member portal (reset on every run)."""
    from allauth.account.models import EmailAddress

    member = Member.objects.filter(email__iexact=PORTAL_EMAIL).first()
    if member is None:
        return
    demo.portal_password = secrets.token_urlsafe(9)
    user = member.user or User.objects.filter(email__iexact=PORTAL_EMAIL).first()
    if user is None:
        user = User.objects.create_user(email=PORTAL_EMAIL, first_name=member.first_name, last_name=member.last_name)
    user.set_password(demo.portal_password)
    user.save()
    if member.user_id != user.pk:
        member.user = user
        member.save(update_fields=["user"])
    EmailAddress.objects.update_or_create(
        user=user, email=PORTAL_EMAIL, defaults={"verified": True, "primary": True}
    )


def demo_api_key(demo: Demo) -> None:
    """A fresh till/webshop key for the web shop; the previous demo keys are revoked."""
    store = demo.stores.get("web") or Store.objects.get(slug="webshop")
    for old in ApiKey.objects.filter(store=store, name="demo", revoked_at__isnull=True):
        api_key_revoke(api_key=old)
    _api_key, demo.api_key_raw = api_key_create(store=store, scope=ApiKeyScope.POS, name="demo")


# The data, in order. Other apps add their own steps with step_add (see their demo.py).
STEPS: list[Callable[[Demo], None]] = [
    demo_program, demo_stores, demo_tiers, demo_earning_rules, demo_plan_members, demo_history, demo_today,
    demo_back_office, demo_program_bonuses,
]
# Run on every invocation, also when the data is already there.
ALWAYS: list[Callable[[Demo], None]] = [demo_admin, demo_staff, demo_portal_login, demo_api_key, demo_kpi_rollup]
# Extra member_create arguments for a planned member (e.g. who referred them), and what follows a visit.
JOIN_HOOKS: list[Callable[[Demo, PlannedMember], dict[str, Any]]] = []
VISIT_HOOKS: list[Callable[[Demo, PlannedMember, datetime, Purchase], None]] = []


def step_add(step: Callable[[Demo], None], *, before: Callable[[Demo], None] | None = None) -> None:
    """Add an app's demo step to STEPS, before `before` (default: at the end); once."""
    if step in STEPS:
        return
    STEPS.insert(STEPS.index(before) if before in STEPS else len(STEPS), step)


@contextmanager
def _sql_log_off():
    """With DEBUG on, Django keeps every SQL statement (on SQLite with an extra query per statement to
    quote its parameters); loading the history without that is about 15% faster."""
    debug = settings.DEBUG
    settings.DEBUG = False
    try:
        yield
    finally:
        settings.DEBUG = debug


def demo_data_exists() -> bool:
    return Member.objects.filter(email__iendswith=f"@{DEMO_DOMAIN}").exists()


# -- the command -----------------------------------------------------------------------------------


class Command(BaseCommand):
    help = (
        "Migrate, load a demo program (stores, tiers, members, a year of history through the real services), "
        "print an admin login and serve on 127.0.0.1:8000. Safe to re-run: existing demo data is kept "
        "unless --reset."
    )

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=200, help="Number of demo members (default 200).")
        parser.add_argument("--days", type=int, default=450,
                            help="Days of history (default 450: a year plus enough for the first points to expire).")
        parser.add_argument("--seed", type=int, default=2024, help="Random seed: the same seed, the same data.")
        parser.add_argument("--reset", action="store_true", help="Wipe the WHOLE database first (flush).")
        parser.add_argument("--no-serve", action="store_true", help="Load the data only; do not start a server.")
        parser.add_argument("--addrport", default="127.0.0.1:8000", help="Where to serve (default 127.0.0.1:8000).")
        parser.add_argument("--force", action="store_true", help="Run even though DEBUG is off.")

    def handle(self, *args, **options):
        autodiscover_modules("demo")  # each app's demo.py adds its steps
        if not settings.DEBUG and not options["force"]:
            raise CommandError("The demo is for development: run it with DEBUG=true (make demo does), or --force.")
        if options["members"] < 1 or options["days"] < 30:
            raise CommandError("--members must be at least 1 and --days at least 30.")
        demo = Demo(
            rng=random.Random(options["seed"]),
            now=timezone.now().replace(microsecond=0),
            days=options["days"],
            member_count=options["members"],
            log=lambda line: self.stdout.write(line) if options["verbosity"] >= 1 else None,
        )
        started = time.monotonic()
        autodiscover_modules("demo")  # other apps' demo steps and hooks (rewards/demo.py, campaigns/demo.py)
        with demo.timed("migrate"):
            call_command("migrate", interactive=False, verbosity=0)
        if options["reset"]:
            self.stdout.write("Wiping the database (--reset)...")
            call_command("flush", interactive=False, verbosity=0)
        demo.now = timezone.now().replace(microsecond=0)
        if demo_data_exists():
            self.stdout.write(
                "Demo data is already loaded; keeping it (use --reset to wipe the database and load it again)."
            )
        else:
            self.stdout.write(f"Loading {demo.member_count} members with {demo.days} days of history...")
            with _sql_log_off():
                for step in STEPS:
                    with demo.timed(step.__name__):
                        step(demo)
        for step in ALWAYS:
            with demo.timed(step.__name__):
                step(demo)
        self._report(demo, options, time.monotonic() - started)
        if options["verbosity"] >= 2:
            for name, seconds in demo.seconds.most_common():
                self.stdout.write(f"  {name}: {seconds:.1f}s")
        if not options["no_serve"]:
            call_command("runserver", options["addrport"], use_reloader=False)

    def _report(self, demo: Demo, options, seconds: float) -> None:
        base = f"http://{options['addrport']}"
        if demo.counts:
            counts = ", ".join(f"{value} {name.replace('_', ' ')}" for name, value in sorted(demo.counts.items()))
            self.stdout.write(f"Loaded in {seconds:.1f}s: {Member.objects.count()} members, {counts}.")
        lines = [
            "",
            self.style.SUCCESS("Demo ready."),
            f"  Admin:        {base}{reverse('admin:index')}",
            f"                login {ADMIN_EMAIL}  password {demo.admin_password}",
            f"  KPI dashboard: {base}{reverse('kpi_dashboard')}",
        ]
        for email, (role, password) in demo.staff_passwords.items():
            lines.append(f"                login {email}  password {password}  ({role})")
        if demo.portal_password:
            lines += [
                f"  Member portal: {base}{reverse('portal:dashboard')}",
                f"                login {PORTAL_EMAIL}  password {demo.portal_password}",
            ]
        for label, name in [("API schema", "schema"), ("API docs", "swagger-ui"), ("API docs", "api-docs")]:
            try:
                lines.append(f"  {label + ':':<14}{base}{reverse(name)}")
            except NoReverseMatch:
                continue
        lines += [
            "  API key (store 'webshop', scope pos; header 'Authorization: Api-Key <key>'):",
            f"                {demo.api_key_raw}",
            "",
        ]
        self.stdout.write("\n".join(lines))

