"""Ledger reasons are stored as a message id and parameters and read in the reader's language."""

import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from loyalty.models import LedgerTransaction, Store
from loyalty.reasons import Reason
from loyalty.services.ledger import Audit, points_adjust, points_credit
from loyalty.services.purchases import purchase_record

pytestmark = pytest.mark.django_db


def test_a_purchase_posted_in_dutch_is_stored_in_english_and_read_in_each_language(member):
    store = Store.objects.create(slug="s", name="S")
    with translation.override("nl"):
        purchase_record(store=store, member=member, order_id="W-1", total=Decimal("10.00"), currency="EUR")
    txn = LedgerTransaction.objects.get(member=member, kind="earn")
    assert (txn.reason, txn.reason_msgid, txn.reason_params) == ("Purchase W-1", "Purchase %(order)s", {"order": "W-1"})
    assert txn.reason_text == "Purchase W-1"
    with translation.override("nl"):
        assert txn.reason_text == "Aankoop W-1"


def test_the_api_renders_reasons_in_the_request_language(member, pos_api_client):
    audit = Audit(reason=Reason(gettext_noop("Birthday bonus")), idempotency_key="b")
    points_credit(member=member, points=5, audit=audit)
    url = f"/api/v1/members/{member.loyalty_id}/transactions/"
    assert pos_api_client.get(url).json()["results"][0]["reason"] == "Birthday bonus"
    assert pos_api_client.get(url, HTTP_ACCEPT_LANGUAGE="nl").json()["results"][0]["reason"] == "Verjaardagsbonus"


def test_a_reason_typed_by_staff_is_shown_as_typed_in_every_language(member):
    txn = points_adjust(member=member, points=10, reason="Goodwill: parcel late")
    assert txn.reason_msgid == "" and txn.reason_text == "Goodwill: parcel late"
    with translation.override("nl"):
        assert txn.reason_text == "Goodwill: parcel late"


def test_a_reason_that_does_not_fit_its_parameters_fails_where_it_is_written():
    with pytest.raises(ValueError, match="does not fit"):
        Reason(gettext_noop("Purchase %(order)s"), {"reference": "x"})


def test_a_stored_message_whose_parameters_no_longer_fit_falls_back_to_the_english_text():
    txn = LedgerTransaction(reason="Purchase W-9", reason_msgid="Purchase %(order)s", reason_params={})
    with translation.override("nl"):
        assert txn.reason_text == "Purchase W-9"


def test_the_migration_converts_english_and_dutch_reasons_and_drops_staff_emails(member):
    now = timezone.now()

    def old(reason, key):
        # As the services wrote them before: rendered text only, in the request's language.
        points_credit(member=member, points=1, audit=Audit(reason=reason, idempotency_key=key, occurred_at=now))
        return LedgerTransaction.objects.get(idempotency_key=key)

    rows = {
        "en": old("Purchase W-001308", "k1"),
        "nl": old("Aankoop W-7", "k2"),
        "released_nl": old("Punten in behandeling vrijgegeven", "k3"),
        "staff": old("Cancelled by staff (admin@example.com)", "k4"),
        "staff_nl": old("Geannuleerd door medewerker (admin@example.com)", "k5"),
        "typed": old("Goodwill: your parcel arrived late", "k6"),
        "discount": old("Points used for a discount of 5.00 EUR", "k7"),
    }
    migration = importlib.import_module("loyalty.migrations.0011_transaction_reason_message_data")
    migration.forwards(apps, None)
    for row in rows.values():
        row.refresh_from_db()
    assert (rows["en"].reason_msgid, rows["en"].reason_params) == ("Purchase %(order)s", {"order": "W-001308"})
    assert (rows["nl"].reason, rows["nl"].reason_params) == ("Purchase W-7", {"order": "W-7"})
    assert rows["released_nl"].reason == rows["released_nl"].reason_msgid == "Pending points released"
    for key in ("staff", "staff_nl"):
        assert rows[key].reason == "Cancelled by staff" and rows[key].reason_params == {}
        assert "admin@example.com" not in rows[key].reason_text
    assert rows["discount"].reason_params == {"value": "5.00", "currency": "EUR"}
    assert rows["typed"].reason_msgid == "" and rows["typed"].reason == "Goodwill: your parcel arrived late"
    with translation.override("nl"):
        assert rows["en"].reason_text == "Aankoop W-001308"
        assert rows["staff"].reason_text == "Geannuleerd door een medewerker"
    migration.forwards(apps, None)  # a second run changes nothing
    rows["en"].refresh_from_db()
    assert rows["en"].reason == "Purchase W-001308"
