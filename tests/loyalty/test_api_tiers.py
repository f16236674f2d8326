"""The tiers API: configuration (admin scope) and paid tier memberships (pos scope)."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from loyalty.models import Store, Tier, TierChangeKind, TierHistory, TierMembership
from loyalty.services.api_keys import api_key_create
from loyalty.services.tiers import add_months, member_tier_floor_set
from members.models import Member, MemberStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(db):
    return Store.objects.create(slug="shop", name="Shop")


def client_for(store, scope) -> APIClient:
    _key, raw = api_key_create(store=store, scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


@pytest.fixture
def admin_api(store):
    return client_for(store, "admin")


@pytest.fixture
def pos_api(store):
    return client_for(store, "pos")


@pytest.fixture
def tiers(db):
    return {
        "silver": Tier.objects.create(code="silver", name="Silver", rank=2, threshold=100),
        "gold": Tier.objects.create(code="gold", name="Gold", rank=3, threshold=500, multiplier=Decimal("1.5")),
        "vip": Tier.objects.create(code="vip", name="VIP", rank=5, threshold=0, price=Decimal("49.00"),
                                   period_months=12),
    }


# -- configuration ---------------------------------------------------------------------------------


def test_list_tiers_lowest_rank_first(admin_api, tiers):
    response = admin_api.get("/api/v1/tiers/")
    assert response.status_code == 200
    body = response.json()
    assert [tier["code"] for tier in body["results"]] == ["silver", "gold", "vip"]
    assert body["results"][1] == {
        "code": "gold", "name": "Gold", "rank": 3, "threshold": 500, "multiplier": "1.50", "benefits": "",
        "colour": "#8c6d3f", "price": None, "period_months": None, "icon_url": None,
    }
    assert body["next"] is None and body["previous"] is None


def test_create_tier(admin_api):
    response = admin_api.post(
        "/api/v1/tiers/",
        {"code": "platinum", "name": "Platinum", "rank": 4, "threshold": 2000, "multiplier": "2.00",
         "benefits": "Free shipping", "colour": "#e5e4e2"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["multiplier"] == "2.00"
    tier = Tier.objects.get(code="platinum")
    assert (tier.rank, tier.threshold, tier.multiplier, tier.benefits) == (4, 2000, Decimal("2.00"), "Free shipping")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "silver", "name": "Again", "rank": 9, "threshold": 1}, "code"),
        ({"code": "new", "name": "New", "rank": 2, "threshold": 1}, "rank"),
        ({"code": "new", "name": "New", "rank": 9, "threshold": 1, "multiplier": "0.50"}, "multiplier"),
        ({"code": "new", "name": "New", "rank": 9, "threshold": -1}, "threshold"),
        ({"code": "new", "name": "New", "rank": 9, "threshold": 1, "price": "10.00"}, "period_months"),
        ({"code": "new", "name": "New", "rank": 9, "threshold": 1, "colour": "red"}, "colour"),
        ({"code": "bad code!", "name": "New", "rank": 9, "threshold": 1}, "code"),
        ({"name": "New", "rank": 9}, "code"),
    ],
)
def test_create_tier_refuses_bad_input(admin_api, tiers, body, field):
    response = admin_api.post("/api/v1/tiers/", body, format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
    assert field in response.json()["fields"]
    assert Tier.objects.count() == 3


def test_retrieve_and_patch_tier(admin_api, tiers):
    assert admin_api.get("/api/v1/tiers/gold/").json()["name"] == "Gold"
    response = admin_api.patch("/api/v1/tiers/gold/", {"threshold": 450, "multiplier": "1.75"}, format="json")
    assert response.status_code == 200
    assert (response.json()["threshold"], response.json()["multiplier"]) == (450, "1.75")
    tiers["gold"].refresh_from_db()
    assert tiers["gold"].threshold == 450


def test_patch_tier_refuses_a_taken_rank(admin_api, tiers):
    response = admin_api.patch("/api/v1/tiers/gold/", {"rank": 2}, format="json")
    assert response.status_code == 422 and "rank" in response.json()["fields"]
    tiers["gold"].refresh_from_db()
    assert tiers["gold"].rank == 3


def test_unknown_tier_is_404(admin_api, tiers):
    for method in ("get", "patch", "delete"):
        response = getattr(admin_api, method)("/api/v1/tiers/nope/")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_delete_unused_tier(admin_api, tiers):
    assert admin_api.delete("/api/v1/tiers/silver/").status_code == 204
    assert not Tier.objects.filter(code="silver").exists()


def test_delete_tier_in_use_is_409_and_changes_nothing(admin_api, tiers, member):
    member_tier_floor_set(member=member, tier=tiers["gold"], reason="VIP", staff_user=None)
    response = admin_api.delete("/api/v1/tiers/gold/")
    assert response.status_code == 409
    assert response.json()["code"] == "tier_in_use"
    assert Tier.objects.filter(code="gold").exists()
    assert Member.objects.get(pk=member.pk).tier_id == tiers["gold"].pk


def test_configuration_needs_the_admin_scope(pos_api, tiers):
    assert pos_api.get("/api/v1/tiers/").status_code == 403
    assert pos_api.post("/api/v1/tiers/", {}, format="json").status_code == 403
    assert APIClient().get("/api/v1/tiers/").status_code == 401


# -- paid memberships ------------------------------------------------------------------------------


def memberships_url(member) -> str:
    return f"/api/v1/members/{member.loyalty_id}/memberships/"


def test_record_membership(pos_api, tiers, member):
    response = pos_api.post(
        memberships_url(member), {"tier": "vip", "order_id": "M-1", "price": "49.00", "currency": "EUR"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    membership = TierMembership.objects.get()
    assert body["tier"] == "vip"
    assert membership.ends_at == add_months(membership.starts_at, 12)
    assert datetime.fromisoformat(body["ends_at"]) == membership.ends_at
    assert datetime.fromisoformat(body["starts_at"]) == membership.starts_at
    assert membership.store.slug == "shop"
    member.refresh_from_db()
    assert member.tier_id == tiers["vip"].pk
    assert TierHistory.objects.get(member=member).kind == TierChangeKind.PAID


def test_record_membership_with_a_start_date(pos_api, tiers, member):
    starts_at = (timezone.now() - timedelta(days=3)).replace(microsecond=0)
    response = pos_api.post(
        memberships_url(member),
        {"tier": "vip", "order_id": "M-1", "price": "40.00", "currency": "eur", "starts_at": starts_at.isoformat()},
        format="json",
    )
    assert response.status_code == 201
    membership = TierMembership.objects.get()
    assert (membership.starts_at, membership.ends_at) == (starts_at, add_months(starts_at, 12))


def test_same_order_again_is_200_and_changes_nothing(pos_api, tiers, member):
    body = {"tier": "vip", "order_id": "M-1", "price": "49.00", "currency": "EUR"}
    first = pos_api.post(memberships_url(member), body, format="json")
    again = pos_api.post(memberships_url(member), body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert TierMembership.objects.count() == 1
    conflict = pos_api.post(memberships_url(member), {**body, "price": "1.00"}, format="json")
    assert conflict.status_code == 409 and conflict.json()["code"] == "order_conflict"


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"tier": "gold", "order_id": "M-1", "price": "49.00", "currency": "EUR"}, 422, "invalid", "tier"),
        ({"tier": "nope", "order_id": "M-1", "price": "49.00", "currency": "EUR"}, 422, "invalid", "tier"),
        ({"tier": "vip", "order_id": "M-1", "price": "-1.00", "currency": "EUR"}, 422, "invalid", "price"),
        ({"tier": "vip", "order_id": " ", "price": "49.00", "currency": "EUR"}, 422, "invalid", "order_id"),
        ({"tier": "vip", "price": "49.00", "currency": "EUR"}, 422, "invalid", "order_id"),
        ({"tier": "vip", "order_id": "M-1", "price": "49.00", "currency": "EUR", "starts_at": "9999-12-01T00:00:00Z"},
         422, "invalid", "starts_at"),
        ({"tier": "vip", "order_id": "M-1", "price": "49.00", "currency": "USD"}, 422, "currency_mismatch", None),
    ],
)
def test_record_membership_refuses_bad_input(pos_api, tiers, member, body, status, code, field):
    response = pos_api.post(memberships_url(member), body, format="json")
    assert response.status_code == status
    assert response.json()["code"] == code
    if field:
        assert field in response.json()["fields"]
    assert not TierMembership.objects.exists()
    assert Member.objects.get(pk=member.pk).tier_id is None


def test_record_membership_for_an_inactive_or_unknown_member(pos_api, tiers, member):
    body = {"tier": "vip", "order_id": "M-1", "price": "49.00", "currency": "EUR"}
    assert pos_api.post("/api/v1/members/0000000000000000/memberships/", body, format="json").status_code == 404
    Member.objects.filter(pk=member.pk).update(status=MemberStatus.SUSPENDED)
    response = pos_api.post(memberships_url(member), body, format="json")
    assert (response.status_code, response.json()["code"]) == (422, "member_inactive")
    assert not TierMembership.objects.exists()


def test_member_shows_the_paid_tier(pos_api, tiers, member):
    pos_api.post(memberships_url(member), {"tier": "vip", "order_id": "M-1", "price": "49.00", "currency": "EUR"},
                 format="json")
    body = pos_api.get(f"/api/v1/members/{member.loyalty_id}/").json()
    assert body["tier"] == {"code": "vip", "name": "VIP"}
    assert body["next_tier"] is None


def test_schema_describes_the_tier_endpoints(admin_api):
    response = admin_api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/tiers/"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/tiers/{code}/"])
    operation = paths["/api/v1/members/{loyalty_id}/memberships/"]["post"]
    assert {"200", "201", "404", "409", "422"} <= set(operation["responses"])
    assert "409" in paths["/api/v1/tiers/{code}/"]["delete"]["responses"]
