"""The portal's menu. Each app adds its pages in its AppConfig.ready() with `portal_nav_register`, so the
menu lives in one place and never imports the apps whose pages it lists (campaigns registers Challenges,
Badges, Leaderboard and Refer a friend the same way).

Entries are ordered by `order`: Dashboard 10, History 20, Rewards 30, My coupons 40, Card 50,
Challenges 60, Badges 70, Leaderboard 80, Refer a friend 90, Profile 100. `icon` is a name known to
templates/portal/_icon.html.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class NavEntry:
    url_name: str
    label: Any  # a lazy translation
    order: int
    icon: str = ""


_ENTRIES: dict[str, NavEntry] = {}


def portal_nav_register(*, url_name: str, label: Any, order: int, icon: str = "") -> None:
    """Add a page to the portal menu (again with the same url_name: replaced)."""
    _ENTRIES[url_name] = NavEntry(url_name=url_name, label=label, order=order, icon=icon)


def portal_nav_entries() -> list[NavEntry]:
    return sorted(_ENTRIES.values(), key=lambda entry: (entry.order, entry.url_name))


def portal_nav(path: str) -> list[dict[str, Any]]:
    """The menu for a page at `path`: each entry with its URL and whether it is the current section (the
    entry whose URL is the longest prefix of the path; the dashboard only on itself)."""
    items = []
    for entry in portal_nav_entries():
        try:
            url = reverse(entry.url_name)
        except NoReverseMatch:
            continue
        items.append({"url": url, "label": entry.label, "icon": entry.icon, "active": False})
    matches = [item for item in items if path == item["url"] or (item["url"] != "/" and path.startswith(item["url"]))]
    if matches:
        max(matches, key=lambda item: len(item["url"]))["active"] = True
    return items
