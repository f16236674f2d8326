import threading
import time

import pytest
from django.db import OperationalError, connection, connections
from rest_framework.test import APIClient

from loyalty.models import IdempotencyRecord, LedgerTransaction
from loyalty.services.api_keys import api_key_create, api_key_revoke
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


# -- a request that dies in flight, a revoked key, two at once --------------------------------------------


def redeem(client, member, key, points=100):
    return client.post("/api/v1/redemptions/", {"member": member.loyalty_id, "points": points}, format="json",
                       HTTP_IDEMPOTENCY_KEY=key)


def test_a_request_that_dies_after_its_work_keeps_nothing_and_the_retry_does_it_once(pos_api_client, member,
                                                                                     monkeypatch):
    """Killed worker or dropped connection after the redemption was written: the redemption and the key's
    claim roll back together, so the retry redeems once (before, the redemption stayed and the retry
    redeemed again, or the key answered 409 "still being processed" for ever)."""
    from rewards import api as rewards_api
    from rewards.models import Redemption

    points_credit(member=member, points=500, audit=Audit(reason="earn", idempotency_key="e"))
    real = rewards_api.points_redeem_for_discount

    def dies_after_the_work(**kwargs):
        real(**kwargs)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(rewards_api, "points_redeem_for_discount", dies_after_the_work)
    with pytest.raises(OperationalError):
        redeem(pos_api_client, member, "r-1")
    assert not Redemption.objects.exists() and not IdempotencyRecord.objects.exists()
    monkeypatch.setattr(rewards_api, "points_redeem_for_discount", real)
    first = redeem(pos_api_client, member, "r-1")
    again = redeem(pos_api_client, member, "r-1")
    assert first.status_code == again.status_code == 201 and first.content == again.content
    assert again["Idempotent-Replayed"] == "true"
    assert Redemption.objects.count() == 1
    assert ledger_verify() == []


def test_a_claim_left_unfinished_by_an_older_version_is_taken_over(pos_api_client, member):
    IdempotencyRecord.objects.create(scope=f"key:{pos_api_client.api_key.pk}", key="old", request_hash="x",
                                     status_code=0, response_body=b"")
    points_credit(member=member, points=500, audit=Audit(reason="earn", idempotency_key="e"))
    assert redeem(pos_api_client, member, "old").status_code == 201


def test_a_revoked_key_replays_nothing(pos_api_client, member):
    points_credit(member=member, points=500, audit=Audit(reason="earn", idempotency_key="e"))
    assert redeem(pos_api_client, member, "r-1").status_code == 201
    api_key_revoke(api_key=pos_api_client.api_key)
    response = redeem(pos_api_client, member, "r-1")
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"
    assert b"code" in response.content and member.loyalty_id.encode() not in response.content


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_retry_while_the_first_request_runs_waits_for_it_and_replays(api_store):
    """The second request waits on the first one's claim: it replays the first response once that commits
    (before, it was told 409 "still being processed")."""
    from rewards.models import Redemption

    member = MemberFactory()
    points_credit(member=member, points=500, audit=Audit(reason="earn", idempotency_key="e"))
    _key, raw = api_key_create(store=api_store, scope="pos")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    blocker = connections.create_connection("default")  # holds the member row, so the first request waits
    blocker.set_autocommit(False)
    with blocker.cursor() as cursor:
        cursor.execute("SELECT id FROM members_member WHERE id = %s FOR UPDATE", [member.pk])
    started = threading.Event()

    results = {}

    def send(name):
        started.set()
        try:
            results[name] = redeem(client, member, "same")
        finally:
            connection.close()

    thread_one = threading.Thread(target=send, args=("one",), daemon=True)
    thread_one.start()
    started.wait(10)
    time.sleep(1.0)  # the first request has claimed the key and waits on the member's lock
    thread_two = threading.Thread(target=send, args=("two",), daemon=True)
    thread_two.start()
    time.sleep(1.0)  # the second waits on the first one's claim
    blocker.rollback()
    blocker.close()
    thread_one.join(30)
    thread_two.join(30)
    one, two = results["one"], results["two"]
    assert one.status_code == two.status_code == 201, (one.content, two.content)
    assert one.content == two.content
    assert Redemption.objects.filter(member=member).count() == 1
    assert ledger_verify() == []
