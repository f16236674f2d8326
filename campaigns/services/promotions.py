"""Promotions: time-limited earning bonuses, plugged into loyalty's earning pipeline.

How promotions combine (documented in the README):
- every live promotion that applies adds its own bonus line (bonuses stack additively, each rounded with
  the program's rounding mode, and the tier bonus is separate from them);
- when at least one *exclusive* promotion applies, only the largest exclusive one is kept and every
  non-exclusive promotion is dropped for that purchase (ties: the oldest promotion wins).

"Live" means `active` and `starts_at <= occurred_at < ends_at` (either end open): the purchase's time
counts, not the time it is recorded, so a till that syncs late still gets the promotion of the day.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from campaigns.models import Promotion, PromotionKind
from loyalty.models import Tier
from loyalty.services.earning import Bonus, EarningContext, LineEarning
from loyalty.services.ledger import LedgerError
from loyalty.services.program import _cached, cached_forget, config_models_register

ZERO = Decimal("0")

_TEMPLATES: dict[str, str] = {
    PromotionKind.MULTIPLIER: gettext_noop("%(name)s: points x %(multiplier)s"),
    PromotionKind.FLAT: gettext_noop("%(name)s: bonus points"),
    PromotionKind.THRESHOLD: gettext_noop("%(name)s: orders from %(min_total)s %(currency)s"),
    PromotionKind.FIRST_PURCHASE: gettext_noop("%(name)s: first purchase"),
}


def promotions_live(*, at: datetime):
    return Promotion.objects.filter(
        Q(starts_at__isnull=True) | Q(starts_at__lte=at),
        Q(ends_at__isnull=True) | Q(ends_at__gt=at),
        active=True,
    ).order_by("id")


# The active promotions are read on every purchase: like the program they live in the Django cache under the
# configuration version (see loyalty.services.program; migration campaigns 0003 adds the trigger); the
# purchase's own time picks the live ones from that list.
_COLUMNS = zlib.crc32(",".join(f.attname for f in Promotion._meta.concrete_fields).encode())
PROMOTIONS_KEY = f"campaigns:promotions_active:v1:{_COLUMNS:x}"


def promotions_cache_clear(**kwargs) -> None:
    """Forget the active promotions read in this request (a change is seen by the rest of it)."""
    cached_forget(PROMOTIONS_KEY)


config_models_register(Promotion)


post_save.connect(promotions_cache_clear, sender=Promotion, dispatch_uid="promotions_cache_clear_save")
post_delete.connect(promotions_cache_clear, sender=Promotion, dispatch_uid="promotions_cache_clear_delete")


def promotions_live_cached(*, at: datetime) -> list[Promotion]:
    """What promotions_live(at=...) returns (same order), from the cached list of active promotions."""
    active = _cached(PROMOTIONS_KEY, lambda: list(Promotion.objects.filter(active=True).order_by("id")))
    return [p for p in active if (p.starts_at is None or p.starts_at <= at) and (p.ends_at is None or p.ends_at > at)]


def _matching_lines(promotion: Promotion, lines: list[LineEarning]) -> list[LineEarning] | None:
    """The lines a product-restricted promotion covers; None when the promotion covers the whole order."""
    if not promotion.skus and not promotion.categories:
        return None
    skus, categories = set(promotion.skus), set(promotion.categories)
    return [
        le for le in lines if not le.excluded and (le.line.sku in skus or categories.intersection(le.line.categories))
    ]


def _multiplied(promotion: Promotion, context: EarningContext, covered: list[LineEarning] | None) -> Decimal:
    if promotion.multiplier is None:
        return ZERO
    base = Decimal(context.base) if covered is None else sum((le.points for le in covered), ZERO)
    return base * (promotion.multiplier - 1)


def promotion_bonus(promotion: Promotion, context: EarningContext) -> Decimal:
    """The exact (unrounded) bonus this promotion gives the purchase; 0 when it does not apply."""
    member_tier = getattr(context.member, "tier", None)
    if promotion.tiers and (member_tier is None or member_tier.code not in promotion.tiers):
        return ZERO
    covered = _matching_lines(promotion, context.lines)
    if covered is not None and not covered:
        return ZERO  # restricted to products that are not in this order
    if promotion.kind == PromotionKind.MULTIPLIER:
        return _multiplied(promotion, context, covered)
    if promotion.kind == PromotionKind.FLAT:
        return Decimal(promotion.points or 0)
    if promotion.kind == PromotionKind.THRESHOLD:
        if promotion.min_total is None or context.total < promotion.min_total:
            return ZERO
    elif promotion.kind == PromotionKind.FIRST_PURCHASE:
        if not context.first_purchase:
            return ZERO
    else:
        return ZERO
    return Decimal(promotion.points or 0) + _multiplied(promotion, context, covered)


def _params(promotion: Promotion, context: EarningContext) -> dict[str, Any]:
    params: dict[str, Any] = {"name": promotion.name, "currency": context.program.currency}
    if promotion.multiplier is not None:
        params["multiplier"] = format(promotion.multiplier.normalize(), "f")
    if promotion.min_total is not None:
        params["min_total"] = f"{promotion.min_total:.2f}"
    return params


def promotion_bonuses(context: EarningContext) -> Iterable[Bonus]:
    """The bonus provider campaigns registers with loyalty's earning pipeline (see CampaignsConfig.ready)."""
    applicable: list[tuple[Promotion, Decimal, int]] = []
    for promotion in promotions_live_cached(at=context.occurred_at):
        exact = promotion_bonus(promotion, context)
        rounded = context.round(exact)
        if rounded > 0:
            applicable.append((promotion, exact, rounded))
    exclusive = [item for item in applicable if item[0].exclusive]
    if exclusive:
        best = max(exclusive, key=lambda item: (item[2], -item[0].pk))
        applicable = [best]
    return [
        Bonus(
            rule=f"promotion:{promotion.pk}",
            template=_TEMPLATES[promotion.kind],
            params=_params(promotion, context),
            points=exact,
        )
        for promotion, exact, _rounded in applicable
    ]


# -- managing promotions ---------------------------------------------------------------------------


class PromotionInvalid(LedgerError):
    code = "invalid"
    status_code = 422

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__(_("The promotion is not valid."), fields)


PROMOTION_FIELDS = (
    "name",
    "kind",
    "multiplier",
    "points",
    "min_total",
    "skus",
    "categories",
    "tiers",
    "starts_at",
    "ends_at",
    "exclusive",
    "active",
)


def _clean_list(values: Any) -> list[str]:
    if values in (None, ""):
        return []
    if isinstance(values, str):
        values = values.split(",")
    return list(dict.fromkeys(str(v).strip() for v in values if str(v).strip()))


def promotion_validate(promotion: Promotion) -> None:
    """Raise PromotionInvalid (with per-field messages) unless the promotion is complete for its kind."""
    errors: dict[str, list[str]] = {}
    promotion.skus = _clean_list(promotion.skus)
    promotion.categories = _clean_list(promotion.categories)
    promotion.tiers = _clean_list(promotion.tiers)
    if not (promotion.name or "").strip():
        errors["name"] = [_("A name is required.")]
    if promotion.kind not in PromotionKind.values:
        errors["kind"] = [_("Choose one of: %(kinds)s.") % {"kinds": ", ".join(PromotionKind.values)}]
    if promotion.multiplier is not None and promotion.multiplier <= 1:
        errors["multiplier"] = [_("A multiplier must be greater than 1.")]
    if promotion.points is not None and promotion.points < 0:
        errors["points"] = [_("Bonus points cannot be negative.")]
    if promotion.min_total is not None and promotion.min_total < 0:
        errors["min_total"] = [_("The minimum total cannot be negative.")]
    if promotion.kind == PromotionKind.MULTIPLIER and promotion.multiplier is None:
        errors.setdefault("multiplier", [_("A multiplier promotion needs a multiplier.")])
    if promotion.kind == PromotionKind.FLAT and not promotion.points:
        errors.setdefault("points", [_("A flat bonus needs a number of points.")])
    if promotion.kind == PromotionKind.THRESHOLD:
        if promotion.min_total is None:
            errors.setdefault("min_total", [_("A threshold bonus needs a minimum order total.")])
        if not promotion.points and promotion.multiplier is None:
            errors.setdefault("points", [_("Give bonus points or a multiplier.")])
    if promotion.kind == PromotionKind.FIRST_PURCHASE and not promotion.points and promotion.multiplier is None:
        errors.setdefault("points", [_("Give bonus points or a multiplier.")])
    if promotion.starts_at and promotion.ends_at and promotion.ends_at <= promotion.starts_at:
        errors["ends_at"] = [_("The end must be after the start.")]
    if promotion.tiers:
        known = set(Tier.objects.filter(code__in=promotion.tiers).values_list("code", flat=True))
        unknown = [code for code in promotion.tiers if code not in known]
        if unknown:
            errors["tiers"] = [_("Unknown tier code(s): %(codes)s.") % {"codes": ", ".join(unknown)}]
    if errors:
        raise PromotionInvalid(errors)


def promotion_create(**values: Any) -> Promotion:
    unknown = set(values) - set(PROMOTION_FIELDS)
    if unknown:
        raise TypeError(f"unknown promotion fields: {sorted(unknown)}")
    promotion = Promotion(**values)
    promotion_validate(promotion)
    promotion.save()
    return promotion


def promotion_update(*, promotion: Promotion, **changes: Any) -> Promotion:
    unknown = set(changes) - set(PROMOTION_FIELDS)
    if unknown:
        raise TypeError(f"unknown promotion fields: {sorted(unknown)}")
    for name, value in changes.items():
        setattr(promotion, name, value)
    promotion_validate(promotion)
    promotion.save()
    return promotion


def promotion_delete(*, promotion: Promotion) -> None:
    promotion.delete()
