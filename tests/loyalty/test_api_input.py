"""Bad input is a 4xx in the `{code, detail, fields}` shape and changes nothing, never a 5xx: times without an
offset, numbers that are not plain decimals, JSON nested too deep, bodies over the size limit, and webhook
orders with unreadable amounts or impossible dates (issue 9, finding 4). tests/test_api_fuzz.py does the
same with generated input."""

import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest

from loyalty.inputs import MAX_JSON_DEPTH, json_depth_exceeds
from loyalty.models import LedgerTransaction, Purchase, Refund, Store, Tier
from loyalty.services.ledger import Audit, points_credit
from loyalty.services.purchases import purchase_record
from loyalty.services.woocommerce import woocommerce_signature
from rewards.models import Redemption
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
NAIVE_TIMES = ["0001-01-01T00:00:00", "0001-01-01", "2026-01-02", "2026-01-02T10:00:00", "2026-01-02 10:00"]
TOO_EARLY = ["1899-12-31T23:59:59Z", "1900-01-01T00:00:00+05:00", "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00Z"]
NOT_PLAIN = ["1_000.00", "1e2", "1E2", "１２.００", "-0.00", "-0", " 12.50", "12.50 ", "NaN", "Infinity", "+12.50",
             "12.", ".5", "0x10", "1e308", "٣", True, [], {"amount": "1.00"}]


def error(response, status: int, code: str = "invalid") -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code and body["detail"], body
    return body


def invalid(response, field: str) -> dict:
    body = error(response, 422)
    assert field in body["fields"] and body["fields"][field], body
    return body


def purchase(client, member, **changes):
    body = {"member": member.loyalty_id, "order_id": "A-1", "total": "40.00", "currency": "EUR", **changes}
    return client.post("/api/v1/purchases/", body, format="json")


# -- times carry an offset -------------------------------------------------------------------------


@pytest.mark.parametrize("when", NAIVE_TIMES + TOO_EARLY)
def test_a_purchase_time_without_offset_or_before_1900_is_invalid(pos_api_client, member, when):
    invalid(purchase(pos_api_client, member, occurred_at=when), "occurred_at")
    assert not Purchase.objects.exists() and not LedgerTransaction.objects.filter(member=member).exists()


def test_a_time_with_an_offset_is_read_as_given(pos_api_client, member):
    response = purchase(pos_api_client, member, occurred_at="2026-01-02T10:00:00-05:00")
    assert response.status_code == 201, response.content
    assert Purchase.objects.get().occurred_at.isoformat() == "2026-01-02T15:00:00+00:00"


@pytest.mark.parametrize("when", NAIVE_TIMES[:2] + TOO_EARLY[:1])
def test_every_api_time_needs_an_offset(admin_api_client, member, when):
    Tier.objects.create(code="vip", name="VIP", rank=5, threshold=0, price=Decimal("10.00"), period_months=12)
    invalid(admin_api_client.post(f"/api/v1/members/{member.loyalty_id}/memberships/", {
        "tier": "vip", "order_id": "M-1", "price": "10.00", "currency": "EUR", "starts_at": when}, format="json"),
        "starts_at")
    invalid(admin_api_client.post("/api/v1/promotions/", {
        "name": "Double", "kind": "multiplier", "multiplier": "2.00", "starts_at": when}, format="json"), "starts_at")
    invalid(admin_api_client.post("/api/v1/rewards/", {
        "code": "mug", "name": "Mug", "kind": "free_product", "cost_points": 100, "available_until": when},
        format="json"), "available_until")


# -- money is a plain decimal ----------------------------------------------------------------------


@pytest.mark.parametrize("amount", NOT_PLAIN)
def test_money_must_be_a_plain_decimal(pos_api_client, member, amount):
    invalid(purchase(pos_api_client, member, total=amount), "total")
    invalid(purchase(pos_api_client, member, lines=[{"sku": "A", "quantity": 1, "amount": amount}]), "lines")
    invalid(pos_api_client.post("/api/v1/redemptions/quote/", {"member": member.loyalty_id, "subtotal": amount,
                                                                "currency": "EUR"}, format="json"), "subtotal")
    assert not Purchase.objects.exists()


@pytest.mark.parametrize("amount", ["1e2", "1_000", "-0.00", "１"])
def test_every_decimal_input_is_plain(admin_api_client, member, amount):
    purchase_record(store=admin_api_client.api_key.store, member=member, order_id="A-1", total="40.00", currency="EUR")
    invalid(admin_api_client.post("/api/v1/purchases/A-1/refunds/", {"refund_id": "R-1", "amount": amount},
                                  format="json"), "amount")
    invalid(admin_api_client.patch("/api/v1/program/", {"earn_rate": amount}, format="json"), "earn_rate")
    invalid(admin_api_client.patch("/api/v1/program/", {"point_value": amount}, format="json"), "point_value")
    invalid(admin_api_client.post("/api/v1/earning-rules/", {"sku": "A", "multiplier": amount}, format="json"),
            "multiplier")
    invalid(admin_api_client.post("/api/v1/promotions/", {"name": "T", "kind": "threshold", "points": 5,
                                                          "min_total": amount}, format="json"), "min_total")
    invalid(admin_api_client.post("/api/v1/tiers/", {"code": "t", "name": "T", "rank": 7, "threshold": 1,
                                                     "multiplier": amount}, format="json"), "multiplier")
    assert not Refund.objects.exists()


def test_plain_strings_and_json_numbers_keep_working(pos_api_client, member):
    assert purchase(pos_api_client, member, order_id="S", total="12.50").status_code == 201
    assert purchase(pos_api_client, member, order_id="N", total=12.5).status_code == 201
    assert purchase(pos_api_client, member, order_id="I", total=12).status_code == 201
    assert [str(p.total) for p in Purchase.objects.order_by("id")] == ["12.50", "12.50", "12.00"]
    invalid(purchase(pos_api_client, member, order_id="F", total=0.1 + 0.2), "total")  # 0.30000000000000004


# -- JSON nesting and body size --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/purchases/", "/api/v1/members/", "/api/v1/redemptions/quote/",
                                  "/api/v1/redemptions/", "/api/v1/program/"])
def test_json_nested_1000_deep_is_400_invalid(admin_api_client, path):
    body = b'{"member": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    method = admin_api_client.patch if path == "/api/v1/program/" else admin_api_client.post
    assert str(MAX_JSON_DEPTH) in error(method(path, body, content_type="application/json"), 400)["detail"]


def test_nesting_up_to_the_limit_is_read(pos_api_client, member):
    deep = {}
    for _ in range(MAX_JSON_DEPTH - 2):
        deep = {"x": deep}
    body = {"member": member.loyalty_id, "order_id": "D", "total": "1.00", "currency": "EUR", "extra": deep}
    assert pos_api_client.post("/api/v1/purchases/", body, format="json").status_code == 201


def test_depth_is_counted_outside_strings_only():
    assert not json_depth_exceeds(json.dumps({"note": "[" * 500}))
    assert json_depth_exceeds("[" * 65 + "]" * 65) and not json_depth_exceeds("[" * 64 + "]" * 64)
    assert not json_depth_exceeds(json.dumps([[1]] * 1000))  # many brackets, shallow


@pytest.fixture
def small_limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


@pytest.mark.parametrize("headers", [{}, {"Idempotency-Key": "big-1"}])
def test_a_body_over_the_limit_is_413_in_the_json_shape(pos_api_client, member, small_limit, headers):
    body = json.dumps({"member": member.loyalty_id, "order_id": "B", "total": "1.00", "currency": "EUR",
                       "note": "x" * small_limit}).encode()
    response = pos_api_client.post("/api/v1/purchases/", body, content_type="application/json", headers=headers)
    assert str(small_limit) in error(response, 413)["detail"]
    assert not Purchase.objects.exists()


def test_a_webhook_body_over_the_limit_is_413_too(client, small_limit):
    Store.objects.create(slug="shop", name="Shop", woocommerce_secret="s")
    body = json.dumps({"id": 1, "note": "x" * small_limit}).encode()
    response = client.post("/api/v1/webhooks/woocommerce/shop/", body, content_type="application/json",
                           headers={"X-WC-Webhook-Signature": woocommerce_signature(secret="s", body=body)})
    error(response, 413)


def test_the_schema_documents_400_and_413():
    from drf_spectacular.generators import SchemaGenerator

    operation = SchemaGenerator().get_schema(request=None, public=True)["paths"]["/api/v1/purchases/"]["post"]
    assert {"400", "413"} <= set(operation["responses"])


# -- every 422 invalid names the field at fault ----------------------------------------------------


def test_the_pay_with_points_cap_names_the_points_field(pos_api_client, member):
    points_credit(member=member, points=10_000, audit=Audit(reason="test credit"))
    body = invalid(pos_api_client.post("/api/v1/redemptions/", {"member": member.loyalty_id, "points": 5_000,
                                                                 "subtotal": "10.00"}, format="json"), "points")
    assert "points" in body["detail"]
    assert not Redemption.objects.exists()


def test_service_refusals_carry_their_fields(pos_api_client, member):
    invalid(purchase(pos_api_client, member, lines=[{"sku": "S" * 101, "quantity": 1, "amount": "1.00"}]), "lines")
    invalid(purchase(pos_api_client, member, total="1.00", shipping="2.00"), "total")


# -- the WooCommerce webhook -----------------------------------------------------------------------

ORDER = json.loads((Path(__file__).parent / "fixtures" / "woocommerce_order.json").read_text())


@pytest.fixture
def shop():
    MemberFactory(email="Anna.deVries@example.com")
    return Store.objects.create(slug="shop", name="Shop", woocommerce_secret="s")


def deliver(client, order=None, raw=None):
    body = raw if raw is not None else json.dumps(order).encode()
    return client.post("/api/v1/webhooks/woocommerce/shop/", body, content_type="application/json",
                       headers={"X-WC-Webhook-Signature": woocommerce_signature(secret="s", body=body)})


def changed(**changes) -> dict:
    return {**copy.deepcopy(ORDER), **changes}


@pytest.mark.parametrize("total", ["1e308", "NaN", "Infinity", "-Infinity", "1_000.00", "1e2", 1e308,
                                   "99999999999999999999999999999999.00"])
def test_webhook_totals_that_are_not_amounts_are_422_invalid(client, shop, total):
    invalid(deliver(client, changed(total=total)), "total")
    assert not Purchase.objects.exists()


def test_webhook_line_amounts_and_refunds_that_are_not_amounts_are_422_invalid(client, shop):
    lines = [{**ORDER["line_items"][0], "total": "NaN"}]
    invalid(deliver(client, changed(line_items=lines)), "line_items")
    invalid(deliver(client, changed(refunds=[{"id": 1, "total": "-1e308"}])), "refunds")
    assert not Purchase.objects.exists() and not Refund.objects.exists()


def test_webhook_nan_constants_and_deep_json_are_422(client, shop):
    error(deliver(client, raw=json.dumps(changed()).replace('"125.75"', "NaN").encode()), 422)
    error(deliver(client, raw=b'{"id": 1, "x": ' + b"[" * 1000 + b"]" * 1000 + b"}"), 422)
    assert not Purchase.objects.exists()


@pytest.mark.parametrize("quantity", ["Infinity", "NaN", "1e9", 1e300])
def test_webhook_unreadable_quantities_do_not_earn(client, shop, quantity):
    lines = [{**ORDER["line_items"][0], "quantity": quantity}]
    response = deliver(client, changed(line_items=lines))
    assert response.status_code == 200 and response.json()["result"] == "recorded"
    assert Purchase.objects.get().lines == []  # the line is skipped; the order earns on its totals


def test_webhook_quantity_beyond_a_million_is_ignored_as_invalid(client, shop):
    lines = [{**ORDER["line_items"][0], "quantity": 10**9}]
    body = deliver(client, changed(line_items=lines)).json()
    assert (body["result"], body["reason"]) == ("ignored", "invalid")
    assert not Purchase.objects.exists()


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00", "1899-12-31T23:59:59"])
def test_webhook_order_dated_before_1900_is_ignored_as_invalid(client, shop, when):
    body = deliver(client, changed(date_paid_gmt=when, date_created_gmt=when, date_paid=when)).json()
    assert (body["result"], body["reason"]) == ("ignored", "invalid"), body
    assert not Purchase.objects.exists()


# 1900-01-01 00:00 at UTC+5 is still 1899 in UTC (found by the fuzz test).
@pytest.mark.parametrize("offset_hours", [0, 5])
def test_purchase_service_refuses_dates_before_1900(member, offset_hours):
    from datetime import UTC, datetime, timedelta, timezone

    from loyalty.services.purchases import PurchaseInvalid

    store = Store.objects.create(slug="s", name="S")
    for when in (datetime(1, 1, 1, tzinfo=UTC), datetime(1900, 1, 1, tzinfo=timezone(timedelta(hours=offset_hours)))):
        with pytest.raises(PurchaseInvalid) as refused:
            purchase_record(store=store, member=member, order_id="1", total="1.00", currency="EUR", occurred_at=when)
        assert "occurred_at" in refused.value.fields
    assert not Purchase.objects.exists()
