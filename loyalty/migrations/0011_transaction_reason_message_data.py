"""Existing ledger reasons become message ids with parameters, so members read them in their language.

Each reason the services wrote as text (in English, or in Dutch when the posting came from a Dutch request)
is matched against the messages it was rendered from; a match stores the message id and its parameters.
"Cancelled by staff (<email>)" becomes "Cancelled by staff", in the English text too: members never see a
staff member's email. Reasons typed by people (adjustments) match nothing and stay as typed.
"""

import re

from django.db import migrations
from django.utils import translation
from django.utils.translation import gettext_noop

# (message id written today, message ids it was written as before); gettext_noop keeps all of them, and
# their Dutch translations, in the catalogue, so rows written in Dutch are recognised too.
MESSAGES = [
    (gettext_noop("Purchase %(order)s"), []),
    (gettext_noop("Refund on order %(order)s"), []),
    (gettext_noop("Birthday bonus"), []),
    (gettext_noop("Pending points released"), []),
    (gettext_noop("Points expired"), []),
    (gettext_noop("Reward redeemed: %(name)s"), []),
    (gettext_noop("Points used for a discount of %(value)s %(currency)s"), []),
    (gettext_noop("Redemption %(code)s cancelled"), []),
    (gettext_noop("Order %(order)s fully refunded"), []),
    (gettext_noop("Cancelled by staff"), [gettext_noop("Cancelled by staff (%(user)s)")]),
]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _pattern(text):
    parts, last = [], 0
    for match in PLACEHOLDER.finditer(text):
        parts.append(re.escape(text[last : match.start()]))
        parts.append(f"(?P<{match.group(1)}>.+?)")
        last = match.end()
    parts.append(re.escape(text[last:]))
    return re.compile("^" + "".join(parts) + "$", re.DOTALL)


def _prefix(text):
    return PLACEHOLDER.split(text)[0]


def forwards(apps, schema_editor):
    LedgerTransaction = apps.get_model("loyalty", "LedgerTransaction")
    unconverted = LedgerTransaction.objects.filter(reason_msgid="")
    for msgid, older in MESSAGES:
        written_as = [msgid, *older]
        with translation.override("nl"):
            written_as += [translation.gettext(text) for text in written_as]
        for text in dict.fromkeys(written_as):
            params_in = PLACEHOLDER.findall(text)
            if not params_in:
                unconverted.filter(reason=text).update(reason_msgid=msgid, reason=msgid[:255])
                continue
            pattern, batch = _pattern(text), []
            for txn in unconverted.filter(reason__startswith=_prefix(text)).only("pk", "reason").iterator(2000):
                match = pattern.match(txn.reason)
                if match is None:
                    continue
                params = {key: value for key, value in match.groupdict().items() if f"%({key})s" in msgid}
                txn.reason_msgid, txn.reason_params = msgid, params
                txn.reason = (msgid % params)[:255]
                batch.append(txn)
                if len(batch) >= 2000:
                    LedgerTransaction.objects.bulk_update(batch, ["reason", "reason_msgid", "reason_params"])
                    batch = []
            LedgerTransaction.objects.bulk_update(batch, ["reason", "reason_msgid", "reason_params"])


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0010_transaction_reason_message")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True)]
