"""Ledger reasons that a member reads in their own language.

A posting's reason is a message id (the English source text, marked for translation with
`gettext_noop` where it is written) and its parameters; it is rendered when shown, in the language of
whoever reads it. The English text is stored beside it (`LedgerTransaction.reason`): it is what the
admin searches, and what is shown when a message id has no translation or its parameters no longer fit.
Free text typed by staff (a manual adjustment) is a plain string and shown as typed.

    from django.utils.translation import gettext_noop
    Audit(reason=Reason(gettext_noop("Review of %(reference)s"), {"reference": "KOF-1KG"}), ...)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext


@dataclass(frozen=True)
class Reason:
    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Stored as JSON: numbers stay numbers, everything else (Decimal, lazy strings, names) becomes text.
        params = {key: value if isinstance(value, int) else str(value) for key, value in self.params.items()}
        object.__setattr__(self, "params", params)
        if params:  # a mistake in a message or its parameters fails where the posting is written
            try:
                self.msgid % params
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f"reason {self.msgid!r} does not fit {params!r}: {error}") from error

    def english(self) -> str:
        """The text stored beside the message id (English: the message id is the English source)."""
        return self.msgid % self.params if self.params else self.msgid

    def __str__(self) -> str:
        return reason_render(self.msgid, self.params, self.english())


def reason_text(reason: str | Reason) -> tuple[str, str, dict[str, Any]]:
    """(English text, message id, parameters) of an Audit's reason, as the transaction row stores them."""
    if isinstance(reason, Reason):
        return reason.english(), reason.msgid, dict(reason.params)
    return str(reason), "", {}


def reason_render(msgid: str, params: Mapping[str, Any] | None, fallback: str) -> str:
    """The reason in the active language; the stored English text when it cannot be rendered."""
    if not msgid:
        return fallback
    try:
        return gettext(msgid) % dict(params or {})
    except (KeyError, TypeError, ValueError):
        return fallback
