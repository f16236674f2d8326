"""Formatting for the portal and the emails, in the active language: money, points, card numbers."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template
from django.utils.formats import number_format
from django.utils.translation import get_language

register = template.Library()

CENT = Decimal("0.01")
# Currencies whose symbol members know; any other is written as its ISO code after the amount.
SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}


@register.filter
def money(value, currency: str = "EUR") -> str:
    """12.5, "EUR" -> "€12.50" in English, "€ 12,50" in Dutch; unknown currencies as "12.50 SEK"."""
    try:
        amount = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError, TypeError):
        return ""
    shown = number_format(abs(amount), 2, force_grouping=True)
    sign = "-" if amount < 0 else ""
    symbol = SYMBOLS.get((currency or "").upper())
    if symbol is None:
        return f"{sign}{shown}\u00a0{currency}"
    if (get_language() or "en").startswith("nl"):
        return f"{sign}{symbol}\u00a0{shown}"
    return f"{sign}{symbol}{shown}"


@register.filter
def points_number(value) -> str:
    """1234 -> "1,234" (English) or "1.234" (Dutch)."""
    try:
        return number_format(int(value), 0, force_grouping=True)
    except (ValueError, TypeError):
        return ""


@register.filter
def signed_points(value) -> str:
    """+1,234 / −15 with a real minus sign, for points changes."""
    try:
        number = int(value)
    except (ValueError, TypeError):
        return ""
    shown = number_format(abs(number), 0, force_grouping=True)
    return f"+{shown}" if number > 0 else (f"\u2212{shown}" if number < 0 else "0")


@register.filter
def card_number(loyalty_id: str) -> str:
    """1234567890123456 -> "1234 5678 9012 3456": easier to read out at a till."""
    loyalty_id = str(loyalty_id or "")
    return " ".join(loyalty_id[i : i + 4] for i in range(0, len(loyalty_id), 4))
