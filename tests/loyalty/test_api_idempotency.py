import pytest
from rest_framework.test import APIClient

from loyalty.models import IdempotencyRecord, LedgerTransaction
from loyalty.services.api_keys import api_key_create
from loyalty.services.ledger import Audit, points_credit
from loyalty.services.verify import ledger_verify
from members.models import Member
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def adjust(client, member, payload, key=None):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(f"/api/v1/members/{member.loyalty_id}/adjustments/", payload, format="json", **headers)


def test_replayed_adjustment_returns_the_first_response_byte_for_byte(admin_api_client, member):
    first = adjust(admin_api_client, member, {"points": 50, "reason": "Goodwill"}, key="adj-1")
    second = adjust(admin_api_client, member, {"points": 50, "reason": "Goodwill"}, key="adj-1")
    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert LedgerTransaction.objects.filter(member=member).count() == 1
    member.refresh_from_db()
    assert member.lifetime_earned == 0  # an adjustment is not earning
    assert ledger_verify() == []


def test_replayed_enrolment_returns_the_first_response(pos_api_client):
    payload = {"email": "new@example.com", "first_name": "New"}
    first = pos_api_client.post("/api/v1/members/", payload, format="json", HTTP_IDEMPOTENCY_KEY="enrol-1")
    second = pos_api_client.post("/api/v1/members/", payload, format="json", HTTP_IDEMPOTENCY_KEY="enrol-1")
    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert Member.objects.count() == 1


def test_without_a_key_a_retry_is_a_new_request(pos_api_client):
    payload = {"email": "new@example.com"}
    assert pos_api_client.post("/api/v1/members/", payload, format="json").status_code == 201
    assert pos_api_client.post("/api/v1/members/", payload, format="json").status_code == 409


def test_same_key_with_another_body_is_409_idempotency_conflict(admin_api_client, member):
    adjust(admin_api_client, member, {"points": 50, "reason": "Goodwill"}, key="adj-1")
    response = adjust(admin_api_client, member, {"points": 60, "reason": "Goodwill"}, key="adj-1")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_conflict"
    assert LedgerTransaction.objects.filter(member=member).count() == 1


def test_same_key_on_another_url_is_409(admin_api_client, member):
    second_member = MemberFactory()
    adjust(admin_api_client, member, {"points": 50, "reason": "x"}, key="k")
    response = adjust(admin_api_client, second_member, {"points": 50, "reason": "x"}, key="k")
    assert response.status_code == 409 and response.json()["code"] == "idempotency_conflict"
    assert not LedgerTransaction.objects.filter(member=second_member).exists()


def test_a_replayed_error_is_the_same_error(admin_api_client, member):
    first = adjust(admin_api_client, member, {"points": -5, "reason": "x"}, key="k")
    points_credit(member=member, points=100, audit=Audit(reason="later", idempotency_key="c"))
    second = adjust(admin_api_client, member, {"points": -5, "reason": "x"}, key="k")
    assert first.status_code == second.status_code == 422
    assert first.content == second.content
    assert second.json()["code"] == "insufficient_points"


def test_keys_are_scoped_to_the_api_key(admin_api_client, member, api_store):
    _key, raw = api_key_create(store=api_store, scope="admin")
    other_client = APIClient()
    other_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert adjust(admin_api_client, member, {"points": 5, "reason": "x"}, key="shared").status_code == 201
    assert adjust(other_client, member, {"points": 7, "reason": "x"}, key="shared").status_code == 201
    assert LedgerTransaction.objects.filter(member=member).count() == 2


def test_an_unauthenticated_attempt_does_not_burn_the_key(admin_api_client, member):
    anonymous = APIClient()
    anonymous.credentials(HTTP_AUTHORIZATION=admin_api_client._credentials["HTTP_AUTHORIZATION"] + "x")
    assert adjust(anonymous, member, {"points": 5, "reason": "x"}, key="k").status_code == 401
    assert adjust(admin_api_client, member, {"points": 5, "reason": "x"}, key="k").status_code == 201


def test_key_longer_than_255_is_422(admin_api_client, member):
    response = adjust(admin_api_client, member, {"points": 5, "reason": "x"}, key="k" * 256)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid" and "Idempotency-Key" in body["fields"]
    assert not LedgerTransaction.objects.exists()
    assert adjust(admin_api_client, member, {"points": 5, "reason": "x"}, key="k" * 255).status_code == 201


def test_empty_key_is_422(admin_api_client, member):
    response = adjust(admin_api_client, member, {"points": 5, "reason": "x"}, key="")
    assert response.status_code == 422
    assert not LedgerTransaction.objects.exists()


def test_the_ledger_also_remembers_the_key(admin_api_client, member):
    """If the stored response were lost, the ledger's own key still prevents a second posting."""
    first = adjust(admin_api_client, member, {"points": 50, "reason": "x"}, key="k")
    IdempotencyRecord.objects.all().delete()
    second = adjust(admin_api_client, member, {"points": 50, "reason": "x"}, key="k")
    assert second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    assert LedgerTransaction.objects.filter(member=member).count() == 1
