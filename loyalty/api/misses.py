"""Limits on look-ups that miss, per API key: a key that keeps asking for what does not exist is guessing.

Each kind of miss (unknown coupon codes, unknown members) is counted per key in one-minute windows in the
cache (Redis in production, so every worker sees the same count). Once a key reaches the limit of a kind,
every look-up of that kind from that key answers 429 `rate_limited` with `Retry-After` until the minute is
over, whether what it asks for exists or not, so the answers stop telling anything.
"""

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions

from loyalty.api.errors import ErrorSerializer
from loyalty.models import ApiKey

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

WINDOW_SECONDS = 60


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class MissLimit:
    """One kind of miss: `check` before the look-up, `record` when it found nothing."""

    name: str  # in the cache key
    setting: str  # the setting with the misses allowed per minute
    default: int
    detail: "StrPromise"  # the 429's `detail`

    @property
    def per_minute(self) -> int:
        return getattr(settings, self.setting, self.default)

    def _cache_key(self, api_key: ApiKey) -> str:
        return f"api-misses:{self.name}:{api_key.pk}:{int(_now() // WINDOW_SECONDS)}"

    def check(self, api_key: ApiKey) -> None:
        """Raise Throttled (429 rate_limited, Retry-After: the rest of the minute) once the key is at the limit."""
        if cache.get(self._cache_key(api_key), 0) >= self.per_minute:
            raise exceptions.Throttled(wait=WINDOW_SECONDS - int(_now()) % WINDOW_SECONDS, detail=str(self.detail))

    def record(self, api_key: ApiKey) -> None:
        key = self._cache_key(api_key)
        cache.add(key, 0, timeout=2 * WINDOW_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=2 * WINDOW_SECONDS)


# Unknown loyalty IDs (any endpoint that looks a member up by loyalty ID) and emails that match no member.
MEMBER_LOOKUP_MISSES = MissLimit(
    name="member",
    setting="API_LOOKUP_MISSES_PER_MINUTE",
    default=30,
    detail=_("Too many look-ups of unknown members from this API key."),
)

MEMBER_LOOKUP_LIMITED = OpenApiResponse(
    ErrorSerializer,
    description=_("`rate_limited` (with `Retry-After`): this API key looked up too many unknown members "
                  "this minute."),
)
