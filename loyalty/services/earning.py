"""The earning pipeline: how many points a purchase earns, and why.

One function, `earning_calculate`, used by the API, the admin, the WooCommerce webhook and the demo:

1. Eligible amount: the line amounts (net of line discounts), or `total - shipping - tax` without lines.
   Tax earns only when `Program.include_tax`; with lines, the tax is spread over the lines in proportion
   to their amounts (so an excluded line's tax earns nothing either).
2. Base points per line: amount x earn rate, unless an EarningRule overrides it: a SKU rule wins over
   category rules; among category rules an exclusion wins, otherwise the rule giving the most points.
   A rule gives fixed points per unit, or a multiplier of the earn rate, or nothing (excluded).
   The lines' exact points are summed and rounded ONCE per order with the program's rounding mode.
3. Bonus lines, each rounded the same way: the member's tier multiplier (base x (m - 1)), then whatever
   the registered bonus providers return (campaigns registers its promotions; loyalty never imports it).

Every breakdown entry keeps an untranslated message template and its parameters, so it can be shown to a
member in their own language (`breakdown_localize`); `description` holds the text rendered when the
purchase was recorded.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext as _

from loyalty.models import EarningRule, Program, Purchase, Rounding
from loyalty.services.ledger import LedgerError
from loyalty.services.program import _cached, cached_forget, config_models_register, program_get

ZERO = Decimal("0")
CENT = Decimal("0.01")
_ROUNDING: dict[str, str] = {Rounding.ROUND: ROUND_HALF_UP, Rounding.FLOOR: ROUND_FLOOR, Rounding.CEIL: ROUND_CEILING}


def points_round(points: Decimal, mode: str) -> int:
    """Whole points from an exact amount: `round` is half-up, `floor` rounds down, `ceil` rounds up."""
    return int(points.to_integral_value(rounding=_ROUNDING.get(mode, ROUND_HALF_UP)))


def _number(value: Decimal) -> str:
    """A decimal for people: 2.00 -> "2", 1.50 -> "1.5"."""
    return format(value.normalize(), "f")


# -- input and output shapes -----------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One order line: `amount` is the line total after line discounts (not the unit price)."""

    sku: str
    quantity: int
    amount: Decimal
    categories: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Line:
        categories = list(data.get("categories") or [])
        if data.get("category"):
            categories.insert(0, data["category"])
        return cls(
            sku=str(data.get("sku") or ""),
            quantity=int(data.get("quantity", 1)),
            amount=Decimal(str(data.get("amount", "0"))),
            categories=tuple(dict.fromkeys(str(c) for c in categories if c)),
        )


@dataclass
class LineEarning:
    line: Line
    eligible_amount: Decimal  # amount (plus its share of tax when tax earns); 0 when excluded
    points: Decimal  # exact, not rounded
    rule: EarningRule | None = None

    @property
    def excluded(self) -> bool:
        return self.rule is not None and self.rule.excluded


@dataclass
class Bonus:
    """What a bonus provider returns: exact (unrounded) points and a translatable description."""

    rule: str
    template: str  # an untranslated message id (mark it with gettext_noop) with %(name)s placeholders
    points: Decimal
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class BreakdownLine:
    rule: str
    template: str
    points: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def description(self) -> str:
        return _describe(self.template, self.params, "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "description": self.description,
            "points": self.points,
            "template": self.template,
            "params": self.params,
        }


@dataclass
class EarningContext:
    """Everything a bonus provider may look at."""

    member: Any
    program: Program
    total: Decimal
    shipping: Decimal
    tax: Decimal
    occurred_at: datetime
    lines: list[LineEarning]
    eligible_amount: Decimal
    base_exact: Decimal
    base: int
    known_first_purchase: bool | None = None

    @cached_property
    def first_purchase(self) -> bool:
        """The member has no earlier purchase (fully refunded ones do not count). Queried when first asked."""
        if self.known_first_purchase is not None:
            return self.known_first_purchase
        return member_first_purchase(member=self.member)

    def round(self, points: Decimal) -> int:
        return points_round(points, self.program.rounding)


@dataclass
class Earning:
    eligible_amount: Decimal
    base: int
    base_line: BreakdownLine
    bonus_lines: list[BreakdownLine]
    lines: list[LineEarning] = field(default_factory=list)

    @property
    def bonus(self) -> int:
        return sum(line.points for line in self.bonus_lines)

    @property
    def total(self) -> int:
        return self.base + self.bonus

    @property
    def breakdown(self) -> list[dict[str, Any]]:
        """The stored form: the base line first, then each bonus line."""
        return [self.base_line.as_dict()] + [line.as_dict() for line in self.bonus_lines]


def _describe(template: str, params: dict[str, Any], fallback: str) -> str:
    if not template:
        return fallback
    try:
        return gettext(template) % params
    except (KeyError, TypeError, ValueError):
        return fallback or template


def breakdown_localize(breakdown: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """A stored breakdown as `[{rule, description, points}]`, described in the active language."""
    return [
        {
            "rule": entry.get("rule", ""),
            "description": _describe(
                entry.get("template", ""), entry.get("params") or {}, entry.get("description", "")
            ),
            "points": entry.get("points", 0),
        }
        for entry in breakdown
    ]


# -- the bonus provider registry -------------------------------------------------------------------

BonusProvider = Callable[[EarningContext], Iterable[Bonus]]
_bonus_providers: list[BonusProvider] = []


def register_bonus_provider(provider: BonusProvider) -> BonusProvider:
    """Add a provider of bonus lines (e.g. campaigns' promotions). Safe to call twice with the same one."""
    if provider not in _bonus_providers:
        _bonus_providers.append(provider)
    return provider


def unregister_bonus_provider(provider: BonusProvider) -> None:
    if provider in _bonus_providers:
        _bonus_providers.remove(provider)


# -- the pipeline ----------------------------------------------------------------------------------


# The active rules are read on every purchase with lines: like the program and the tiers they live in the
# Django cache under the configuration version (loyalty.services.program explains the pattern). A catalogue
# with very many rules is not cached (unpickling it all would cost more than the indexed query); the marker
# says so, so the count is not taken on every purchase.
RULES_CACHE_LIMIT = 500
_RULE_COLUMNS = zlib.crc32(",".join(f.attname for f in EarningRule._meta.concrete_fields).encode())
RULES_KEY = f"loyalty:earning_rules:v1:{_RULE_COLUMNS:x}"
_MANY = "many"


def _rules_load() -> list[EarningRule] | str:
    rules = list(EarningRule.objects.filter(active=True).order_by("id")[: RULES_CACHE_LIMIT + 1])
    return _MANY if len(rules) > RULES_CACHE_LIMIT else rules


def earning_rules_cache_clear(**kwargs) -> None:
    """Forget the active rules read in this request (a change is seen by the rest of it)."""
    cached_forget(RULES_KEY)


config_models_register(EarningRule)


post_save.connect(earning_rules_cache_clear, sender=EarningRule, dispatch_uid="earning_rules_cache_clear_save")
post_delete.connect(earning_rules_cache_clear, sender=EarningRule, dispatch_uid="earning_rules_cache_clear_delete")


def _rules_for(lines: Sequence[Line]) -> tuple[dict[str, EarningRule], dict[str, list[EarningRule]]]:
    skus = {line.sku for line in lines if line.sku}
    categories = {c for line in lines for c in line.categories}
    if not skus and not categories:
        return {}, {}
    by_sku: dict[str, EarningRule] = {}
    by_category: dict[str, list[EarningRule]] = {}
    cached = _cached(RULES_KEY, _rules_load)
    if cached == _MANY:
        rules: Iterable[EarningRule] = EarningRule.objects.filter(
            Q(sku__in=skus) | Q(sku="", category__in=categories), active=True
        ).order_by("id")
    else:
        rules = [r for r in cached if (r.sku in skus if r.sku else r.category in categories)]
    for rule in rules:
        if rule.sku:
            by_sku[rule.sku] = rule
        else:
            by_category.setdefault(rule.category, []).append(rule)
    return by_sku, by_category


def _rule_points(rule: EarningRule | None, line: Line, eligible: Decimal, rate: Decimal) -> Decimal:
    if rule is None:
        return eligible * rate
    if rule.excluded:
        return ZERO
    if rule.points_per_unit is not None:
        return rule.points_per_unit * line.quantity
    if rule.multiplier is not None:
        return eligible * rate * rule.multiplier
    return eligible * rate


def _line_earning(
    line: Line,
    eligible: Decimal,
    rate: Decimal,
    by_sku: dict[str, EarningRule],
    by_category: dict[str, list[EarningRule]],
) -> LineEarning:
    rule = by_sku.get(line.sku) if line.sku else None
    if rule is None:
        candidates = [r for c in line.categories for r in by_category.get(c, [])]
        exclusions = [r for r in candidates if r.excluded]
        if exclusions:
            rule = exclusions[0]
        elif candidates:
            rule = max(candidates, key=lambda r: (_rule_points(r, line, eligible, rate), -r.pk))
    points = _rule_points(rule, line, eligible, rate)
    return LineEarning(
        line=line, eligible_amount=ZERO if rule and rule.excluded else eligible, points=points, rule=rule
    )


def member_first_purchase(*, member) -> bool:
    """True when the member has no recorded purchase yet (fully refunded ones do not count)."""
    return not Purchase.objects.filter(member=member, refunded_total__lt=F("total")).exists()


def earning_calculate(
    *,
    member,
    total: Decimal,
    shipping: Decimal = ZERO,
    tax: Decimal = ZERO,
    lines: Sequence[Line | dict[str, Any]] | None = None,
    occurred_at: datetime,
    program: Program | None = None,
    first_purchase: bool | None = None,
) -> Earning:
    """The points a purchase earns, with a breakdown. Reads only; posts nothing."""
    program = program or program_get()
    total, shipping, tax = Decimal(total), Decimal(shipping), Decimal(tax)
    parsed = [line if isinstance(line, Line) else Line.from_dict(line) for line in (lines or [])]
    rate = program.earn_rate
    line_earnings: list[LineEarning] = []
    if parsed:
        by_sku, by_category = _rules_for(parsed)
        lines_sum = sum((line.amount for line in parsed), ZERO)
        tax_factor = (lines_sum + tax) / lines_sum if program.include_tax and tax and lines_sum else Decimal(1)
        line_earnings = [_line_earning(line, line.amount * tax_factor, rate, by_sku, by_category) for line in parsed]
        eligible = sum((le.eligible_amount for le in line_earnings), ZERO)
        base_exact = sum((le.points for le in line_earnings), ZERO)
    else:
        eligible = max(total - shipping - (ZERO if program.include_tax else tax), ZERO)
        base_exact = eligible * rate
    base = points_round(base_exact, program.rounding)
    eligible = eligible.quantize(CENT, rounding=ROUND_HALF_UP)
    base_line = BreakdownLine(
        rule="base",
        template=gettext_noop("%(rate)s point(s) per %(currency)s 1 on %(amount)s %(currency)s"),
        params={"rate": _number(rate), "currency": program.currency, "amount": f"{eligible:.2f}"},
        points=base,
    )
    context = EarningContext(
        member=member,
        program=program,
        total=total,
        shipping=shipping,
        tax=tax,
        occurred_at=occurred_at,
        lines=line_earnings,
        eligible_amount=eligible,
        base_exact=base_exact,
        base=base,
        known_first_purchase=first_purchase,
    )
    bonuses: list[Bonus] = []
    tier = getattr(member, "tier", None)
    if tier is not None and tier.multiplier > 1 and base:
        bonuses.append(
            Bonus(
                rule=f"tier:{tier.code}",
                template=gettext_noop("%(tier)s tier: points x %(multiplier)s"),
                params={"tier": tier.name, "multiplier": _number(tier.multiplier)},
                points=Decimal(base) * (tier.multiplier - 1),
            )
        )
    for provider in _bonus_providers:
        bonuses.extend(provider(context))
    bonus_lines = [
        BreakdownLine(
            rule=b.rule, template=b.template, params=b.params, points=points_round(b.points, program.rounding)
        )
        for b in bonuses
    ]
    return Earning(
        eligible_amount=eligible,
        base=base,
        base_line=base_line,
        bonus_lines=[line for line in bonus_lines if line.points > 0],
        lines=line_earnings,
    )


# -- earning rules (SKU / category overrides) -------------------------------------------------------


class EarningRuleInvalid(LedgerError):
    code = "invalid"
    status_code = 422


_RULE_FIELDS = ("sku", "category", "points_per_unit", "multiplier", "excluded", "active")


def earning_rule_validate(rule: EarningRule) -> None:
    """Raise EarningRuleInvalid (with per-field messages) unless the rule is complete and consistent."""
    rule.sku = (rule.sku or "").strip()
    rule.category = (rule.category or "").strip()
    if bool(rule.sku) == bool(rule.category):
        raise EarningRuleInvalid(
            _("Give either a SKU or a category."),
            {"sku": [_("Give either a SKU or a category, not both.")]},
        )
    if rule.points_per_unit is not None and rule.points_per_unit < 0:
        raise EarningRuleInvalid(
            _("Points per unit cannot be negative."), {"points_per_unit": [_("Must be 0 or more.")]}
        )
    if rule.multiplier is not None and rule.multiplier < 0:
        raise EarningRuleInvalid(_("The multiplier cannot be negative."), {"multiplier": [_("Must be 0 or more.")]})
    if rule.points_per_unit is not None and rule.multiplier is not None:
        raise EarningRuleInvalid(
            _("Give fixed points per unit or a multiplier, not both."),
            {"multiplier": [_("Give fixed points per unit or a multiplier, not both.")]},
        )


def _rule_save(rule: EarningRule) -> EarningRule:
    earning_rule_validate(rule)
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError:
        raise EarningRuleInvalid(
            _("There is already an active rule for this SKU."),
            {"sku": [_("There is already an active rule for this SKU.")]},
        ) from None
    return rule


def earning_rule_create(
    *,
    sku: str = "",
    category: str = "",
    points_per_unit: Decimal | None = None,
    multiplier: Decimal | None = None,
    excluded: bool = False,
    active: bool = True,
) -> EarningRule:
    rule = EarningRule(
        sku=sku,
        category=category,
        points_per_unit=points_per_unit,
        multiplier=multiplier,
        excluded=excluded,
        active=active,
    )
    return _rule_save(rule)


def earning_rule_update(*, rule: EarningRule, **changes: Any) -> EarningRule:
    unknown = set(changes) - set(_RULE_FIELDS)
    if unknown:
        raise TypeError(f"unknown earning rule fields: {sorted(unknown)}")
    for name, value in changes.items():
        setattr(rule, name, value)
    return _rule_save(rule)


def earning_rule_delete(*, rule: EarningRule) -> None:
    rule.delete()
