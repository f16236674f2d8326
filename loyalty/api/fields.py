"""Serializer fields shared by the API areas: times with an offset, numbers written as plain decimals."""

from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from loyalty.inputs import EARLIEST_YEAR, plain_decimal_text, too_early
from loyalty.services.purchases import MAX_MONEY


class ApiDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time with its offset from UTC (`2026-03-01T14:30:00+01:00` or `...Z`), as the contract
    says, from the year 1900 on.

    Without an offset the time would be guessed in the server's time zone (and a date alone read as its
    midnight); near the year 1 that guess even overflowed. Before 1900 the time zone database gives local
    mean time offsets with seconds (Amsterdam +00:19:32), which no RFC 3339 parser accepts when written back.
    """

    default_error_messages = {
        "too_early": _("Use a date from the year 1900 on."),
        "offset": _("Give a date and time with its offset from UTC, e.g. 2026-03-01T14:30:00+01:00 or "
                    "2026-03-01T13:30:00Z."),
    }

    def to_internal_value(self, value):
        if not isinstance(value, str):
            return super().to_internal_value(value)  # DRF's messages for numbers, lists, ...
        try:
            parsed = parse_datetime(value)
        except ValueError:  # well formed, but no such day or hour
            parsed = None
        if parsed is None:
            return super().to_internal_value(value)
        if timezone.is_naive(parsed):
            self.fail("offset")
        if parsed.year < EARLIEST_YEAR:  # before converting it: near the year 1 that overflows
            self.fail("too_early")
        value = self.enforce_timezone(parsed)  # in the site's zone; an out-of-range result is DRF's `overflow`
        if too_early(value):
            self.fail("too_early")
        return value


class PlainDecimalField(serializers.DecimalField):
    """A decimal written plainly: `"12.50"`, `"0.0125"`, or a JSON number written the same way (`12.5`).

    Python's Decimal() also reads `"1e2"`, `"1_000.00"`, `" 12.50 "`, other scripts' digits (`"１２"`), `"NaN"`
    and `"-0.00"`; an integrator who sends those has a bug we should tell them about, not a number to guess.
    """

    default_error_messages = {
        "plain": _('Write the number as a plain decimal such as "12.50" (digits, an optional minus sign and '
                   'decimal point).'),
    }

    def to_internal_value(self, data):
        text = plain_decimal_text(data)
        if text is None or len(text) > 100:
            self.fail("plain")
        value = super().to_internal_value(text)
        if value.is_zero() and text.startswith("-"):
            self.fail("plain")  # "-0.00": a sign error somewhere, not an amount
        return value


class PlainDecimalFieldSchema(OpenApiSerializerFieldExtension):
    """The schema names the plain form: `^[0-9]{1,10}(?:\\.[0-9]{1,2})?$` for money (no sign when it cannot be
    negative) instead of drf-spectacular's pattern for any DecimalField, which also matches "", "." and "-"."""

    target_class = PlainDecimalField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        field = self.target
        if "pattern" in schema and field.max_whole_digits is not None:
            sign = "" if field.min_value is not None and field.min_value >= 0 else "-?"
            schema["pattern"] = (
                rf"^{sign}[0-9]{{1,{max(field.max_whole_digits, 1)}}}(?:\.[0-9]{{1,{field.decimal_places}}})?$"
            )
        return schema


def money_field(**kwargs) -> PlainDecimalField:
    """Money: a plain decimal string with at most 2 decimals ("12.50"), never negative unless `min_value` says."""
    kwargs.setdefault("min_value", 0)
    kwargs.setdefault("max_value", MAX_MONEY)
    return PlainDecimalField(max_digits=12, decimal_places=2, **kwargs)


class PlainDecimalsModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose decimal model fields read only plain decimals (PlainDecimalField)."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DecimalField: PlainDecimalField,
    }
