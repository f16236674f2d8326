"""Hypothesis fuzz test of what the API reads: JSON parsing, money, times and the WooCommerce webhook.

Generated bodies (well-formed ones with fields swapped for odd values, random JSON, raw bytes: deep nesting,
NaN, huge integers, bad UTF-8, oversized bodies) go through the test client to the purchase, refund, member,
redemption, quote, membership, adjustment, configuration (program, tiers, promotions, rewards, earning rules)
and webhook endpoints. Whatever comes in, the answer is never a 5xx, it is
JSON, an error has the `{code, detail, fields}` shape (a 422 `invalid` names the fields at fault), and a
refused request changes nothing. Schemathesis (CI) fuzzes from the schema; this one aims at the parsers.
"""

import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.models import LedgerTransaction, Purchase, Refund, Store, Tier
from loyalty.services.ledger import Audit, points_credit
from loyalty.services.purchases import purchase_record
from loyalty.services.woocommerce import woocommerce_signature
from members.models import Member
from rewards.models import Redemption
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
BODY_LIMIT = 20_000
SECRET = "fuzz-secret"

ODD_MONEY = ["1_000.00", "1e2", "1E+2", "１２.００", "٣.٠٠", "-0.00", "-0", " 12.50", "12.50\n", "+1", "NaN", "-NaN",
             "sNaN", "Infinity", "-Infinity", "inf", "1e308", "-1e308", "1e-308", "12.345", "12.", ".5", "", ".", "-",
             "0x10", "9" * 40, "99999999999.99", "9999999999.99", "0.00", "0.01", "-1.00", "12,50", "€12.50"]
ODD_TIMES = ["0001-01-01T00:00:00", "0001-01-01", "2026-01-02", "2026-01-02T10:00:00", "0001-01-01T00:00:00+14:00",
             "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59+14:00",
             "1899-12-31T23:59:59Z", "1900-01-01T00:00:00+05:00", "2026-02-30T10:00:00Z", "2026-01-02T25:00:00Z",
             "2026-01-02T10:00:00+25:00", "2026-01-02T10:00:00+01:00", "2026-01-02T10:00:00.123456789Z",
             "20260102T100000Z", "2026-W01-1T10:00:00Z", "yesterday", "", "T", "0000-00-00T00:00:00Z"]

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
odd = st.one_of(json_values, st.sampled_from(ODD_MONEY), st.sampled_from(ODD_TIMES))
money = st.one_of(
    st.sampled_from(ODD_MONEY),
    st.decimals(allow_nan=True, allow_infinity=True, places=None).map(str),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(10**15), 10**15),
    st.from_regex(r"[0-9]{1,6}(\.[0-9]{1,2})?", fullmatch=True),
)
times = st.one_of(
    st.sampled_from(ODD_TIMES),
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda when: when.isoformat()),
    st.text(max_size=30),
)


def _raw(text: str) -> bytes:
    return text.encode()


@st.composite
def raw_bodies(draw) -> bytes:
    """Bytes no JSON library would write: deep nesting, NaN, huge numbers, bad UTF-8, oversized bodies."""
    depth = draw(st.integers(50, 3000))
    kind = draw(st.sampled_from(["deep-array", "deep-object", "nan", "huge-int", "bad-utf8", "big", "empty",
                                 "truncated", "not-json"]))
    return {
        "deep-array": _raw('{"member": ' + "[" * depth + "]" * depth + "}"),
        "deep-object": _raw('{"a": ' * depth + "1" + "}" * depth),
        "nan": b'{"total": NaN, "amount": Infinity, "subtotal": -Infinity}',
        "huge-int": _raw('{"total": ' + "9" * draw(st.integers(300, 5000)) + ', "points": ' + "9" * 5000 + "}"),
        "bad-utf8": b'{"member": "\xff\xfe"}',
        "big": _raw(json.dumps({"note": "x" * (BODY_LIMIT + draw(st.integers(0, 100)))})),
        "empty": b"",
        "truncated": b'{"member": "9',
        "not-json": draw(st.binary(max_size=40)),
    }[kind]


def _mutate(draw, body: dict, fields: dict) -> dict:
    """Replace, add or remove one or two fields of a good body, with values of the kind the field expects."""
    for _ in range(draw(st.integers(1, 2))):
        name = draw(st.sampled_from(sorted(fields)))
        if draw(st.integers(0, 4)) == 0:
            body.pop(name, None)
        else:
            body[name] = draw(fields[name])
    return body


@pytest.fixture
def world(settings, admin_api_client, api_store):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = BODY_LIMIT
    settings.API_LOOKUP_MISSES_PER_MINUTE = 10**9  # the look-up limit has its own tests; here it would hide paths
    member = MemberFactory(email="fuzz@example.com")
    points_credit(member=member, points=100_000, audit=Audit(reason="test credit"))
    purchase_record(store=api_store, member=member, order_id="KNOWN", total="500.00", currency="EUR")
    Tier.objects.create(code="vip", name="VIP", rank=5, threshold=0, price=Decimal("10.00"), period_months=12)
    MemberFactory(email="Anna.deVries@example.com")
    Store.objects.create(slug="shop", name="Shop", woocommerce_secret=SECRET, auto_enroll=True)
    return {"client": admin_api_client, "member": member}


def _counts() -> tuple:
    return (Purchase.objects.count(), Refund.objects.count(), LedgerTransaction.objects.count(),
            Member.objects.count(), Redemption.objects.count())


def assert_answer(response, before: tuple, *, webhook: bool = False) -> None:
    assert response.status_code < 500, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    if response.status_code < 400:
        return
    assert isinstance(body, dict) and isinstance(body.get("code"), str) and body["code"], body
    assert isinstance(body.get("detail"), str) and body["detail"], body
    assert set(body) <= {"code", "detail", "fields", "loyalty_id"}, body
    if "fields" in body:
        assert isinstance(body["fields"], dict) and body["fields"], body
    if response.status_code == 422 and body["code"] == "invalid" and not webhook:
        assert body.get("fields"), body  # a 422 invalid names the field(s) at fault
    if response.status_code in (400, 413):
        assert body["code"] == "invalid", body
    assert _counts() == before, body  # refused: nothing changed


# -- one generated request per example, to one of the endpoints ------------------------------------


@st.composite
def api_requests(draw, loyalty_id: str):
    """(method, path, body bytes) for an endpoint that reads JSON, money or times."""
    n = draw(st.integers(0, 10**9))
    good = {
        "purchase": ("/api/v1/purchases/", {
            "member": loyalty_id, "order_id": f"F-{n}", "total": "40.00", "currency": "EUR",
            "occurred_at": "2026-01-02T10:00:00+01:00", "shipping": "1.00", "tax": "2.00",
            "lines": [{"sku": "MUG", "quantity": 2, "amount": "12.00"}]},
            {"member": odd, "order_id": odd, "total": money, "currency": odd, "occurred_at": times, "shipping": money,
             "tax": money, "lines": st.lists(st.fixed_dictionaries(
                 {"sku": st.text(max_size=5), "quantity": st.integers(-2, 10**7) | odd, "amount": money}),
                 max_size=2) | odd}),
        "refund": ("/api/v1/purchases/KNOWN/refunds/", {"refund_id": f"R-{n}", "amount": "1.00"},
                   {"refund_id": odd, "amount": money}),
        "member": ("/api/v1/members/", {"email": f"new{n}@example.com", "birthday": "1990-05-01"},
                   {"email": odd, "birthday": times | odd, "first_name": odd, "marketing_consent": odd,
                    "referral_code": odd, "language": odd}),
        "quote": ("/api/v1/redemptions/quote/", {"member": loyalty_id, "subtotal": "50.00", "currency": "EUR"},
                  {"member": odd, "subtotal": money, "currency": odd}),
        "redemption": ("/api/v1/redemptions/", {"member": loyalty_id, "points": 100, "subtotal": "50.00",
                                                "order_id": f"O-{n}"},
                       {"member": odd, "points": st.integers(-5, 10**12) | odd, "subtotal": money, "order_id": odd}),
        "membership": (f"/api/v1/members/{loyalty_id}/memberships/", {
            "tier": "vip", "order_id": f"M-{n}", "price": "10.00", "currency": "EUR",
            "starts_at": "2026-01-02T10:00:00Z"},
            {"tier": odd, "order_id": odd, "price": money, "currency": odd, "starts_at": times}),
        "adjustment": (f"/api/v1/members/{loyalty_id}/adjustments/", {"points": 5, "reason": "Goodwill"},
                       {"points": st.integers(-(10**12), 10**12) | odd, "reason": odd}),
        "promotion": ("/api/v1/promotions/", {"name": "Double", "kind": "threshold", "points": 5, "min_total": "10.00",
                                              "starts_at": "2026-01-02T10:00:00Z", "ends_at": "2027-01-02T10:00:00Z"},
                      {"kind": odd, "multiplier": money, "points": odd, "min_total": money, "starts_at": times,
                       "ends_at": times}),
        "tier": ("/api/v1/tiers/", {"code": f"t{n}", "name": "T", "rank": 10 + n, "threshold": 100,
                                    "multiplier": "1.50"},
                 {"rank": odd, "threshold": odd, "multiplier": money, "price": money, "period_months": odd}),
        "earning-rule": ("/api/v1/earning-rules/", {"sku": f"S{n}", "multiplier": "2.00"},
                         {"sku": odd, "category": odd, "points_per_unit": money, "multiplier": money}),
        "reward": ("/api/v1/rewards/", {"code": f"r{n}", "name": "Mug", "kind": "fixed_discount", "cost_points": 100,
                                        "value": "5.00", "available_from": "2026-01-02T10:00:00Z"},
                   {"value": money, "cost_points": odd, "stock": odd, "available_from": times,
                    "available_until": times, "kind": odd}),
        "program": ("/api/v1/program/", {"earn_rate": "1.00"},
                    {"earn_rate": money, "point_value": money, "max_discount_percent": odd, "pending_days": odd,
                     "currency": odd}),
    }
    name = draw(st.sampled_from(sorted(good)))
    path, body, fields = good[name]
    method = "PATCH" if name == "program" else "POST"
    shape = draw(st.sampled_from(["mutated", "mutated", "mutated", "random", "raw"]))
    if shape == "raw":
        return method, path, draw(raw_bodies())
    data = _mutate(draw, dict(body), fields) if shape == "mutated" else draw(json_values)
    return method, path, json.dumps(data, allow_nan=False).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_api_never_answers_5xx_and_always_the_error_shape(world, data):
    method, path, body = data.draw(api_requests(world["member"].loyalty_id))
    before = _counts()
    response = world["client"].generic(method, path, body, content_type="application/json")
    assert_answer(response, before)


# -- the WooCommerce webhook -----------------------------------------------------------------------

ORDER = {
    "id": 727, "status": "processing", "currency": "EUR", "total": "125.75", "shipping_total": "4.95",
    "total_tax": "22.00", "date_created_gmt": "2024-05-03T13:04:05", "date_paid_gmt": "2024-05-03T13:04:09",
    "billing": {"email": "Anna.deVries@example.com", "first_name": "Anna"},
    "line_items": [{"sku": "MUG", "quantity": 2, "total": "6.00"}, {"sku": "TEE", "quantity": 1, "total": "92.80"}],
    "refunds": [],
}
ORDER_FIELDS = {
    "id": odd, "status": st.sampled_from(["processing", "completed", "cancelled", "refunded"]) | odd,
    "currency": odd, "total": money, "shipping_total": money, "total_tax": money, "date_created_gmt": times,
    "date_paid_gmt": times, "date_paid": times, "billing": odd,
    "line_items": st.lists(st.fixed_dictionaries({"sku": odd, "quantity": money | odd, "total": money}), max_size=2)
    | odd,
    "refunds": st.lists(st.fixed_dictionaries({"id": st.integers(1, 5) | odd, "total": money}), max_size=2) | odd,
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_webhook_never_answers_5xx_nor_stores_an_unreadable_order(world, client, data):
    shape = data.draw(st.sampled_from(["mutated", "mutated", "mutated", "raw"]))
    if shape == "raw":
        body = data.draw(raw_bodies())
    else:
        order = _mutate(data.draw, dict(ORDER, id=data.draw(st.integers(1, 10**6))), ORDER_FIELDS)
        body = json.dumps(order, allow_nan=False).encode()
    before = _counts()
    response = client.post("/api/v1/webhooks/woocommerce/shop/", body, content_type="application/json",
                           headers={"X-WC-Webhook-Signature": woocommerce_signature(secret=SECRET, body=body)})
    assert_answer(response, before, webhook=True)
    answer = response.json()
    if response.status_code == 200 and answer.get("result") == "recorded":
        purchase = Purchase.objects.get(store__slug="shop", order_id=answer["order_id"])
        assert purchase.occurred_at.year >= 1900 and Decimal("0") <= purchase.total <= Decimal("9999999999.99")
