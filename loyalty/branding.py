"""The programme's look: colours that stay readable, and the stylesheet that carries them to every page.

The programme's colours reach the pages as CSS custom properties in one small stylesheet served by a view
(`/branding.css`, see members.views.branding_css), never as inline styles: the Content-Security-Policy
allows styles from our own files only. Text on a coloured background is black or white, whichever
contrasts more, so any colour a merchant picks keeps its text readable (WCAG 2.1 AA: 4.5:1).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
DARK_INK = "#000000"
LIGHT_INK = "#ffffff"
# WCAG 2.1 AA for normal text.
MIN_TEXT_CONTRAST = 4.5


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: str) -> float:
    """WCAG relative luminance of a #rrggbb colour."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(red) + 0.7152 * _channel(green) + 0.0722 * _channel(blue)


def contrast_ratio(first: str, second: str) -> float:
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def ink_for(background: str) -> str:
    """The text colour (black or white) that reads best on `background`: at least 4.58:1 for any colour
    (the worst case is a mid grey, whose contrast with black and with white is the same)."""
    if contrast_ratio(background, DARK_INK) >= contrast_ratio(background, LIGHT_INK):
        return DARK_INK
    return LIGHT_INK


def branding_css(*, brand_colour: str, accent_colour: str, tiers: Iterable[tuple[str, str]]) -> str:
    """The stylesheet of the programme's colours: custom properties read by static/css/portal.css (named
    --brand-*, never a name the admin's own stylesheet uses), and one class per tier (`tier-<code>`) setting
    the tier's colour for its badges and cards."""
    lines = [
        ":root {",
        f"  --brand: {brand_colour};",
        f"  --brand-ink: {ink_for(brand_colour)};",
        f"  --brand-accent: {accent_colour};",
        f"  --brand-accent-ink: {ink_for(accent_colour)};",
        "}",
    ]
    for code, colour in tiers:
        if HEX_COLOUR.match(colour or "") and re.fullmatch(r"[-a-zA-Z0-9_]+", code):
            lines.append(f".tier-{code} {{ --tier: {colour}; --tier-ink: {ink_for(colour)}; }}")
    return "\n".join(lines) + "\n"


def branding_version(*parts: object) -> str:
    """A short fingerprint of what the stylesheet shows, for its URL: a change gives a new URL, so browsers
    may cache each version for long."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:12]
