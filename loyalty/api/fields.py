"""Serializer fields shared by the API areas."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

EARLIEST_YEAR = 1900


class ApiDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that can be written back as valid RFC 3339.

    Before 1900 the time zone database gives local mean time offsets with seconds (Amsterdam +00:19:32),
    which no RFC 3339 parser accepts; no loyalty event is that old, so such input is refused.
    """

    default_error_messages = {"too_early": _("Use a date from the year 1900 on.")}

    def to_internal_value(self, value):
        parsed = super().to_internal_value(value)
        if parsed.year < EARLIEST_YEAR:
            self.fail("too_early")
        return parsed
