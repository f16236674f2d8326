"""POST /api/v1/events/ and the action-rules configuration endpoints, as the contract says."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import ActionEvent, ActionRule
from loyalty.models import LedgerTransaction
from members.models import MemberStatus
from members.services import member_status_set
from tests.campaigns.support import local

pytestmark = pytest.mark.django_db
EVENTS = "/api/v1/events/"
RULES = "/api/v1/action-rules/"


@pytest.fixture
def review(db):
    return ActionRule.objects.filter(type="review").update(active=True, points=50, per_day=None)


def post(client, member, **body):
    return client.post(EVENTS, {"member": member.loyalty_id, **body}, format="json")


def test_an_event_answers_201_with_the_points_and_a_repeat_200_with_the_first_result(pos_api_client, member, review):
    first = post(pos_api_client, member, type="review", reference="KOF-1KG")
    assert first.status_code == 201, first.content
    body = first.json()
    txn = LedgerTransaction.objects.get(member=member)
    assert body["points"] == 50 and body["capped"] is False and body["transaction_id"] == txn.pk
    assert (body["type"], body["reference"], body["member"], body["cap"]) == ("review", "KOF-1KG", member.loyalty_id,
                                                                              None)
    again = post(pos_api_client, member, type="review", reference="KOF-1KG", occurred_at="2025-01-01T10:00:00+01:00")
    assert again.status_code == 200 and again.json() == body
    assert ActionEvent.objects.count() == 1 and LedgerTransaction.objects.count() == 1
    history = pos_api_client.get(f"/api/v1/members/{member.loyalty_id}/transactions/").json()["results"]
    assert history[0]["reason"] == "Review of KOF-1KG" and history[0]["kind"] == "bonus"


def test_a_capped_event_is_201_with_no_transaction(pos_api_client, member):
    ActionRule.objects.filter(type="social_share").update(active=True, per_day=1)
    at = local(2025, 5, 1, 12, 0).isoformat()
    assert post(pos_api_client, member, type="social_share", occurred_at=at).status_code == 201
    capped = post(pos_api_client, member, type="social_share", occurred_at=at)
    assert capped.status_code == 201
    assert {k: capped.json()[k] for k in ("points", "transaction_id", "capped", "cap")} == {
        "points": 0, "transaction_id": None, "capped": True, "cap": "day"}


@pytest.mark.parametrize("type_", ["tiktok", "survey", "", "Not a slug"])
def test_an_unknown_or_inactive_type_is_422_invalid(pos_api_client, member, type_):
    response = post(pos_api_client, member, type=type_)  # survey exists, switched off
    assert response.status_code == 422
    assert response.json()["code"] == "invalid" and "type" in response.json()["fields"]
    assert not ActionEvent.objects.exists()


def test_an_inactive_member_is_422_member_inactive(pos_api_client, member, review):
    member_status_set(member=member, status=MemberStatus.SUSPENDED)
    response = post(pos_api_client, member, type="review", reference="KOF-1KG")
    assert response.status_code == 422 and response.json()["code"] == "member_inactive"


def test_bad_input(pos_api_client, member, review):
    assert pos_api_client.post(EVENTS, {"member": "1234", "type": "review"}, format="json").status_code == 422
    unknown = pos_api_client.post(EVENTS, {"member": "4" * 16, "type": "review"}, format="json")
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    response = post(pos_api_client, member, type="review", occurred_at=future)
    assert response.status_code == 422 and "occurred_at" in response.json()["fields"]
    assert post(pos_api_client, member, type="review", reference="x" * 256).status_code == 422
    assert not ActionEvent.objects.exists()


def test_the_idempotency_key_replays_the_response(pos_api_client, member):
    ActionRule.objects.filter(type="social_share").update(active=True, per_day=None)
    first = pos_api_client.post(EVENTS, {"member": member.loyalty_id, "type": "social_share"}, format="json",
                                HTTP_IDEMPOTENCY_KEY="share-1")
    again = pos_api_client.post(EVENTS, {"member": member.loyalty_id, "type": "social_share"}, format="json",
                                HTTP_IDEMPOTENCY_KEY="share-1")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert ActionEvent.objects.count() == 1


def test_events_need_an_api_key(client, member, review):
    assert client.post(EVENTS, {"member": member.loyalty_id, "type": "review"},
                       content_type="application/json").status_code == 401


# -- configuration ---------------------------------------------------------------------------------------------


def test_action_rules_crud(admin_api_client):
    created = admin_api_client.post(RULES, {"type": "newsletter", "name": "Newsletter", "points": 20,
                                            "lifetime": 1}, format="json")
    assert created.status_code == 201, created.content
    assert created.json() == {"type": "newsletter", "name": "Newsletter", "points": 20, "active": True,
                              "once_per_reference": True, "per_day": None, "per_week": None, "per_month": None,
                              "lifetime": 1}
    listed = admin_api_client.get(RULES).json()["results"]
    assert [r["type"] for r in listed] == ["newsletter", "review", "social_share", "survey"]
    patched = admin_api_client.patch(f"{RULES}newsletter/", {"points": 25, "per_week": 2}, format="json")
    assert patched.status_code == 200 and (patched.json()["points"], patched.json()["per_week"]) == (25, 2)
    assert admin_api_client.get(f"{RULES}newsletter/").json() == patched.json()
    assert admin_api_client.delete(f"{RULES}newsletter/").status_code == 204
    assert admin_api_client.get(f"{RULES}newsletter/").status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"type": "review", "name": "Again", "points": 5}, "type"),
    ({"type": "Bad Slug", "name": "x", "points": 5}, "type"),
    ({"type": "ok", "name": "x", "points": 0}, "points"),
    ({"type": "ok", "name": "x", "points": 5, "per_day": 0}, "per_day"),
    ({"type": "ok", "points": 5}, "name"),
])
def test_invalid_action_rules_are_422(admin_api_client, body, field):
    response = admin_api_client.post(RULES, body, format="json")
    assert response.status_code == 422 and field in response.json()["fields"]


def test_the_type_of_a_rule_cannot_change(admin_api_client):
    response = admin_api_client.patch(f"{RULES}review/", {"type": "reviews"}, format="json")
    assert response.status_code == 422 and "type" in response.json()["fields"]
    assert ActionRule.objects.filter(type="review").exists()


def test_action_rules_need_the_admin_scope(pos_api_client):
    assert pos_api_client.get(RULES).status_code == 403
    assert pos_api_client.post(RULES, {"type": "x", "name": "x", "points": 1}, format="json").status_code == 403


def test_a_deleted_rules_events_keep_their_points(admin_api_client, pos_api_client, member):
    admin_api_client.post(RULES, {"type": "quiz", "name": "Quiz", "points": 7}, format="json")
    post(pos_api_client, member, type="quiz", reference="q1")
    admin_api_client.delete(f"{RULES}quiz/")
    event = ActionEvent.objects.get()
    assert (event.type, event.points, event.rule) == ("quiz", 7, None)
    assert post(pos_api_client, member, type="quiz", reference="q1").status_code == 200  # the first result
    assert post(pos_api_client, member, type="quiz", reference="q2").status_code == 422
