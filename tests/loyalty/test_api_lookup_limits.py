"""Look-ups of unknown members are limited per API key (API_LOOKUP_MISSES_PER_MINUTE), like unknown coupon
codes: past the limit every member look-up from that key answers 429, whether the member exists or not."""

import secrets
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from loyalty.api.misses import MEMBER_LOOKUP_MISSES
from loyalty.models import Tier
from loyalty.services.api_keys import api_key_create
from loyalty.services.ledger import Audit, points_credit

pytestmark = pytest.mark.django_db
LIMIT = 3


@pytest.fixture(autouse=True)
def _limit(settings, monkeypatch):
    settings.API_LOOKUP_MISSES_PER_MINUTE = LIMIT
    monkeypatch.setattr("loyalty.api.misses._now", lambda: 1_800_000_010.0)  # one minute window throughout


def unknown_id() -> str:
    return "9" + "".join(secrets.choice("0123456789") for _ in range(15))


def key_client(store, scope="pos") -> APIClient:
    _key, raw = api_key_create(store=store, scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def _paid_tier():
    return Tier.objects.get_or_create(code="vip", defaults={
        "name": "VIP", "rank": 9, "threshold": 0, "price": Decimal("10.00"), "period_months": 12})[0]


# (method, path, body) for a loyalty ID: every endpoint that looks a member up by loyalty ID with a key.
def probes(loyalty_id: str):
    n = secrets.token_hex(4)
    return {
        "member": ("get", f"/api/v1/members/{loyalty_id}/", None),
        "balance": ("get", f"/api/v1/members/{loyalty_id}/balance/", None),
        "transactions": ("get", f"/api/v1/members/{loyalty_id}/transactions/", None),
        "adjustment": ("post", f"/api/v1/members/{loyalty_id}/adjustments/", {"points": 5, "reason": "Goodwill"}),
        "membership": ("post", f"/api/v1/members/{loyalty_id}/memberships/",
                       {"tier": "vip", "order_id": f"M-{n}", "price": "10.00", "currency": "EUR"}),
        "purchase": ("post", "/api/v1/purchases/",
                     {"member": loyalty_id, "order_id": f"P-{n}", "total": "10.00", "currency": "EUR"}),
        "quote": ("post", "/api/v1/redemptions/quote/", {"member": loyalty_id, "subtotal": "10.00", "currency": "EUR"}),
        "redemption": ("post", "/api/v1/redemptions/", {"member": loyalty_id, "points": 100}),
    }


def call(client, probe):
    method, path, body = probe
    return getattr(client, method)(path, body, format="json") if body is not None else client.get(path)


def assert_limited(response):
    assert response.status_code == 429, response.content
    assert response.json()["code"] == "rate_limited" and response.json()["detail"]
    assert 1 <= int(response["Retry-After"]) <= 60


@pytest.mark.parametrize("endpoint", list(probes("x")))
def test_unknown_loyalty_ids_are_limited_per_key(endpoint, api_store, member):
    _paid_tier()
    points_credit(member=member, points=500, audit=Audit(reason="test credit"))
    client = key_client(api_store, "admin")
    for _ in range(LIMIT):
        assert call(client, probes(unknown_id())[endpoint]).status_code == 404
    # Past the limit even a member who exists answers 429: the answers tell nothing any more.
    assert_limited(call(client, probes(member.loyalty_id)[endpoint]))
    assert_limited(call(client, probes(unknown_id())[endpoint]))
    # Another key of the same store is not affected.
    assert call(key_client(api_store, "admin"), probes(member.loyalty_id)[endpoint]).status_code in (200, 201)


def test_unknown_emails_are_limited_per_key(pos_api_client, member):
    for n in range(LIMIT):
        response = pos_api_client.get("/api/v1/members/", {"email": f"nobody{n}@example.com"})
        assert response.status_code == 200 and response.json()["count"] == 0
    assert_limited(pos_api_client.get("/api/v1/members/", {"email": member.email}))


def test_misses_add_up_across_endpoints_and_hits_do_not_count(pos_api_client, member):
    for _ in range(10):  # known members never count
        assert pos_api_client.get(f"/api/v1/members/{member.loyalty_id}/balance/").status_code == 200
    pos_api_client.get(f"/api/v1/members/{unknown_id()}/")
    pos_api_client.get("/api/v1/members/", {"email": "nobody@example.com"})
    pos_api_client.post("/api/v1/purchases/", {"member": unknown_id(), "order_id": "1", "total": "1.00",
                                               "currency": "EUR"}, format="json")
    assert_limited(pos_api_client.get(f"/api/v1/members/{member.loyalty_id}/balance/"))


def test_malformed_ids_count_too_and_the_next_minute_is_free(pos_api_client, member, monkeypatch):
    for loyalty_id in ["123", "not-a-card", "9" * 17]:
        assert pos_api_client.get(f"/api/v1/members/{loyalty_id}/").status_code == 404
    assert_limited(pos_api_client.get(f"/api/v1/members/{member.loyalty_id}/"))
    monkeypatch.setattr("loyalty.api.misses._now", lambda: 1_800_000_070.0)
    assert pos_api_client.get(f"/api/v1/members/{member.loyalty_id}/").status_code == 200


def test_the_limit_is_a_setting_and_documented():
    from drf_spectacular.generators import SchemaGenerator

    assert MEMBER_LOOKUP_MISSES.per_minute == LIMIT
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    for path, method in [("/api/v1/members/{loyalty_id}/", "get"), ("/api/v1/members/{loyalty_id}/balance/", "get"),
                         ("/api/v1/members/{loyalty_id}/adjustments/", "post"), ("/api/v1/purchases/", "post"),
                         ("/api/v1/redemptions/quote/", "post"), ("/api/v1/redemptions/", "post"),
                         ("/api/v1/members/", "get")]:
        assert "429" in paths[path][method]["responses"], (path, method)
    assert "429" not in paths["/api/v1/members/"]["post"]["responses"]
