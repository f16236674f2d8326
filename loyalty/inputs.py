"""What the platform reads from the outside (API bodies, webhooks), in one place: JSON of a bounded nesting
depth, numbers written as plain decimals, times in the years a loyalty program can mean.

Used by the API (loyalty.api.parsers, loyalty.api.fields) and the WooCommerce webhook; no DRF here.
"""

import json
import re
from datetime import UTC, datetime
from typing import Any

# Before 1900 the time zone database gives local mean time offsets with seconds (Amsterdam +00:19:32), which
# no RFC 3339 parser reads back, and near year 1 converting to UTC overflows. No loyalty event is that old.
EARLIEST_YEAR = 1900
# The earliest moment accepted: one that no time zone shows before the year 1900 (1 January 1900 at 10:00 at
# UTC-14), so neither UTC in the database nor the site's zone in an answer is ever in 1899.
EARLIEST = datetime(EARLIEST_YEAR, 1, 2, tzinfo=UTC)


def too_early(moment: datetime) -> bool:
    """Whether an aware time is before EARLIEST."""
    return moment < EARLIEST
# Deeper than any real body (a purchase is 3 levels deep, a WooCommerce order about 5), far from the depth
# at which Python's JSON parser runs out of stack (about 1,000).
MAX_JSON_DEPTH = 64
# A plain decimal: ASCII digits, an optional sign and fraction. No exponent ("1e2"), underscores ("1_000"),
# spaces, other scripts' digits ("１２"), "NaN" or "Infinity", all of which Python's Decimal() accepts.
PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")

# A JSON string (as one token, so brackets inside it do not count) or a bracket.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class JsonInputError(ValueError):
    """The body is not JSON, or is nested deeper than MAX_JSON_DEPTH."""


class JsonTooDeep(JsonInputError):
    pass


def json_depth_exceeds(text: str, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether `text` opens more than `max_depth` arrays or objects inside each other (without parsing it)."""
    if text.count("[") + text.count("{") <= max_depth:  # the common case: too few brackets to be that deep
        return False
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > max_depth:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


def _no_constants(name: str):
    raise JsonInputError(f"{name} is not JSON")  # NaN, Infinity, -Infinity: Python's json reads them by default


def json_loads(body: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON, refusing nesting deeper than `max_depth` before the parser recurses into it, and the
    non-standard constants NaN and Infinity. Raises JsonInputError (a ValueError)."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError as error:
        raise JsonInputError(str(error)) from None
    if json_depth_exceeds(text, max_depth):
        raise JsonTooDeep(f"nested more than {max_depth} levels deep")
    try:
        return json.loads(text, parse_constant=_no_constants)
    except JsonInputError:
        raise
    except ValueError as error:  # also integers of more than 4,300 digits
        raise JsonInputError(str(error)) from None


def plain_decimal_text(value: Any) -> str | None:
    """`value` as plain decimal text if it is written as one (a string, or a JSON number), else None."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        text = repr(value)  # 12.5 -> "12.5", but 1e+20, nan and inf stay unreadable
    else:
        return None
    return text if PLAIN_DECIMAL.fullmatch(text) else None
