"""Helpers shared by the campaigns tests."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings

from loyalty.services.program import program_get

LOCAL = ZoneInfo(settings.TIME_ZONE)


def program_set(**values):
    """Change the program's settings (saving drops the cached program)."""
    program = program_get()
    for name, value in values.items():
        setattr(program, name, value)
    program.save()
    return program


def local(*args) -> datetime:
    """A time in the site's time zone: local(2025, 3, 31, 23, 59)."""
    return datetime(*args, tzinfo=LOCAL)
