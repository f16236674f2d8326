import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from loyalty.models import EarningRule, LedgerTransaction, Purchase, Refund, Store, Tier
from loyalty.services.api_keys import api_key_create
from loyalty.services.program import program_get
from members.models import MemberStatus

pytestmark = pytest.mark.django_db
URL = "/api/v1/purchases/"
WHEN = (timezone.now() - timedelta(hours=2)).replace(microsecond=0)


def body(who, **changes):
    data = {
        "member": who.loyalty_id,
        "order_id": "1001",
        "total": "40.00",
        "currency": "EUR",
        "occurred_at": WHEN.isoformat(),
    }
    data.update(changes)
    return data


def post(client, data, **headers):
    return client.post(URL, data, format="json", headers=headers)


def refund(client, order_id, refund_id, amount, **headers):
    return client.post(
        f"{URL}{order_id}/refunds/", {"refund_id": refund_id, "amount": amount}, format="json", headers=headers
    )


def test_record_purchase_answers_the_purchase_shape(pos_api_client, member):
    response = post(pos_api_client, body(member, lines=[{"sku": "A", "quantity": 2, "amount": "40.00"}]))
    assert response.status_code == 201, response.content
    data = response.json()
    assert set(data) >= {
        "order_id",
        "member",
        "total",
        "currency",
        "occurred_at",
        "points",
        "breakdown",
        "status",
        "available_at",
        "refunded_total",
        "points_reversed",
        "member_points",
    }
    assert data["order_id"] == "1001" and data["member"] == member.loyalty_id
    assert data["total"] == "40.00" and data["refunded_total"] == "0.00" and data["currency"] == "EUR"
    assert data["points"] == {"base": 40, "bonus": 0, "total": 40}
    assert data["breakdown"] == [{"rule": "base", "description": data["breakdown"][0]["description"], "points": 40}]
    assert "40.00" in data["breakdown"][0]["description"]
    assert data["status"] == "available" and data["points_reversed"] == 0
    assert data["member_points"] == {"available": 40, "pending": 0}
    assert data["occurred_at"].startswith(timezone.localtime(WHEN).isoformat()[:19])


def test_woocommerce_example_through_the_api(pos_api_client, member):
    lines = [{"sku": "MUG", "quantity": 2, "amount": "6.00"}, {"sku": "TEE", "quantity": 1, "amount": "12.00"}]
    response = post(pos_api_client, body(member, total="18.00", lines=lines))
    assert response.json()["points"]["total"] == 18


def test_identical_replay_answers_200_with_the_same_body(pos_api_client, member):
    first = post(pos_api_client, body(member))
    again = post(pos_api_client, body(member, total="40.0"))  # the same amount, written differently
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.content == first.content
    assert Purchase.objects.count() == 1 and LedgerTransaction.objects.count() == 1


def test_replay_with_other_details_is_order_conflict(pos_api_client, member):
    post(pos_api_client, body(member))
    response = post(pos_api_client, body(member, total="41.00"))
    assert response.status_code == 409
    assert response.json()["code"] == "order_conflict"
    assert Purchase.objects.get().total == Decimal("40.00")


def test_idempotency_key_replays_the_first_response_byte_for_byte(pos_api_client, member):
    first = post(pos_api_client, body(member), **{"Idempotency-Key": "k1"})
    again = post(pos_api_client, body(member), **{"Idempotency-Key": "k1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    other = post(pos_api_client, body(member, order_id="1002"), **{"Idempotency-Key": "k1"})
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    assert Purchase.objects.count() == 1


def other_store_client():
    _key, raw = api_key_create(store=Store.objects.create(slug="web", name="Web"), scope="pos")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def test_orders_are_per_store(pos_api_client, member):
    post(pos_api_client, body(member))
    response = post(other_store_client(), body(member))
    assert response.status_code == 201
    assert Purchase.objects.count() == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"total": "-1.00"}, "total"),
        ({"total": "12.505"}, "total"),
        ({"total": "twelve"}, "total"),
        ({"shipping": "0.001"}, "shipping"),
        ({"tax": "-0.01"}, "tax"),
        ({"lines": [{"sku": "A", "quantity": 0, "amount": "1.00"}]}, "lines"),
        ({"lines": [{"sku": "A", "quantity": 1, "amount": "-1.00"}]}, "lines"),
        ({"lines": [{"sku": "A", "quantity": 1, "amount": "1.001"}]}, "lines"),
        ({"lines": [{"sku": "A", "quantity": 1, "amount": "40.01"}]}, "lines"),
        ({"lines": "nope"}, "lines"),
        ({"occurred_at": (timezone.now() + timedelta(hours=1)).isoformat()}, "occurred_at"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"currency": "EURO"}, "currency"),
        ({"order_id": ""}, "order_id"),
        ({"member": "123"}, "member"),
        ({"shipping": "30.00", "tax": "10.01"}, "total"),
    ],
)
def test_invalid_bodies_are_422_invalid_and_change_nothing(pos_api_client, member, changes, field):
    response = post(pos_api_client, body(member, **changes))
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "invalid"
    assert field in response.json()["fields"]
    assert not Purchase.objects.exists()


def test_missing_fields_are_invalid(pos_api_client):
    response = post(pos_api_client, {})
    assert response.status_code == 422
    assert set(response.json()["fields"]) >= {"member", "order_id", "total", "currency"}


def test_malformed_json_is_400_not_500(pos_api_client):
    response = pos_api_client.post(URL, b"{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_unknown_member_is_404(pos_api_client, member):
    response = post(pos_api_client, body(member, member="4" * 16))
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_inactive_member_is_member_inactive(pos_api_client, member):
    member.status = MemberStatus.SUSPENDED
    member.save()
    response = post(pos_api_client, body(member))
    assert response.status_code == 422 and response.json()["code"] == "member_inactive"


def test_other_currency_is_currency_mismatch(pos_api_client, member):
    response = post(pos_api_client, body(member, currency="USD"))
    assert response.status_code == 422 and response.json()["code"] == "currency_mismatch"


def test_pending_purchase_status_and_available_at(pos_api_client, member):
    program = program_get()
    program.pending_days = 7
    program.save()
    data = post(pos_api_client, body(member)).json()
    assert data["status"] == "pending"
    assert data["member_points"] == {"available": 0, "pending": 40}
    assert data["available_at"].startswith(timezone.localtime(WHEN + timedelta(days=7)).isoformat()[:19])


def test_breakdown_shows_tier_bonus(pos_api_client, member):
    member.tier = Tier.objects.create(code="gold", name="Gold", rank=2, multiplier=Decimal("1.50"))
    member.save()
    data = post(pos_api_client, body(member)).json()
    assert data["points"] == {"base": 40, "bonus": 20, "total": 60}
    assert [entry["rule"] for entry in data["breakdown"]] == ["base", "tier:gold"]
    assert "Gold" in data["breakdown"][1]["description"]


def test_no_key_is_401(client, member):
    response = client.post(URL, body(member), content_type="application/json")
    assert response.status_code == 401


def test_get_purchase(pos_api_client, member):
    created = post(pos_api_client, body(member)).json()
    response = pos_api_client.get(f"{URL}1001/")
    assert response.status_code == 200 and response.json() == created
    assert pos_api_client.get(f"{URL}nope/").status_code == 404


# -- refunds ---------------------------------------------------------------------------------------


@pytest.fixture
def seventy(pos_api_client, member):
    program = program_get()
    program.earn_rate = Decimal("1.75")
    program.save()
    assert post(pos_api_client, body(member)).json()["points"]["total"] == 70
    return member


def test_refunds_reverse_proportionally_through_the_api(pos_api_client, seventy):
    first = refund(pos_api_client, "1001", "r1", "20.00")
    assert first.status_code == 201, first.content
    data = first.json()
    assert set(data) == {"refund_id", "amount", "points_reversed", "purchase"}
    assert (data["refund_id"], data["amount"], data["points_reversed"]) == ("r1", "20.00", 35)
    assert data["purchase"]["refunded_total"] == "20.00" and data["purchase"]["points_reversed"] == 35
    assert data["purchase"]["member_points"] == {"available": 35, "pending": 0}
    second = refund(pos_api_client, "1001", "r2", "20.00").json()
    assert second["points_reversed"] == 35 and second["purchase"]["member_points"]["available"] == 0
    third = refund(pos_api_client, "1001", "r3", "0.01")
    assert third.status_code == 422 and third.json()["code"] == "refund_exceeds_purchase"


def test_refunds_of_cents_add_up_exactly_to_the_total(pos_api_client, member):
    """SQLite adds decimals as floats: 0.10 + 0.10 + 0.10 came to more than 0.30, and the third refund was
    refused by the database (a 500)."""
    assert post(pos_api_client, body(member, order_id="C-1", total="0.30", lines=[])).status_code == 201
    for number in range(3):
        response = refund(pos_api_client, "C-1", f"r{number}", "0.10")
        assert response.status_code == 201, response.content
    assert response.json()["purchase"]["refunded_total"] == "0.30"
    assert refund(pos_api_client, "C-1", "r4", "0.01").json()["code"] == "refund_exceeds_purchase"


def test_refund_replay_and_conflict(pos_api_client, seventy):
    first = refund(pos_api_client, "1001", "r1", "10.00")
    again = refund(pos_api_client, "1001", "r1", "10.00")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.content == first.content
    conflict = refund(pos_api_client, "1001", "r1", "12.00")
    assert conflict.status_code == 409 and conflict.json()["code"] == "order_conflict"
    assert Refund.objects.count() == 1


def test_refund_idempotency_key_replay(pos_api_client, seventy):
    first = refund(pos_api_client, "1001", "r1", "10.00", **{"Idempotency-Key": "rk"})
    again = refund(pos_api_client, "1001", "r1", "10.00", **{"Idempotency-Key": "rk"})
    assert again.status_code == 201 and again.content == first.content


def test_refund_of_unknown_order_is_404(pos_api_client, seventy):
    response = refund(pos_api_client, "9999", "r1", "1.00")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_refund_of_another_stores_order_is_404(pos_api_client, seventy):
    response = refund(other_store_client(), "1001", "r1", "1.00")
    assert response.status_code == 404
    assert not Refund.objects.exists()


@pytest.mark.parametrize("amount", ["0", "0.00", "-5.00", "1.234", "x"])
def test_invalid_refund_amounts_are_invalid(pos_api_client, seventy, amount):
    response = refund(pos_api_client, "1001", "r1", amount)
    assert response.status_code == 422 and response.json()["code"] == "invalid"
    assert "amount" in response.json()["fields"]


# -- earning rules (admin scope) -------------------------------------------------------------------


def test_earning_rules_crud(admin_api_client):
    created = admin_api_client.post("/api/v1/earning-rules/", {"sku": "COFFEE", "points_per_unit": "5"}, format="json")
    assert created.status_code == 201, created.content
    rule = created.json()
    assert rule == {
        "id": rule["id"],
        "sku": "COFFEE",
        "category": "",
        "points_per_unit": "5.00",
        "multiplier": None,
        "excluded": False,
        "active": True,
    }
    listed = admin_api_client.get("/api/v1/earning-rules/").json()
    assert [r["id"] for r in listed["results"]] == [rule["id"]]
    url = f"/api/v1/earning-rules/{rule['id']}/"
    patched = admin_api_client.patch(url, {"excluded": True}, format="json")
    assert patched.status_code == 200 and patched.json()["excluded"] is True
    assert admin_api_client.get(url).json()["excluded"] is True
    assert admin_api_client.delete(url).status_code == 204
    assert not EarningRule.objects.exists()
    assert admin_api_client.get(url).status_code == 404


@pytest.mark.parametrize(
    "data",
    [
        {"sku": "A", "category": "b"},
        {},
        {"sku": "A", "points_per_unit": "1", "multiplier": "2"},
        {"sku": "A", "multiplier": "-1"},
        {"sku": "A", "multiplier": "1.234"},
    ],
)
def test_invalid_earning_rules(admin_api_client, data):
    response = admin_api_client.post("/api/v1/earning-rules/", data, format="json")
    assert response.status_code == 422 and response.json()["code"] == "invalid"
    assert response.json()["fields"]
    assert not EarningRule.objects.exists()


def test_second_active_rule_for_a_sku_is_invalid(admin_api_client):
    admin_api_client.post("/api/v1/earning-rules/", {"sku": "A", "excluded": True}, format="json")
    response = admin_api_client.post("/api/v1/earning-rules/", {"sku": "A", "multiplier": "2"}, format="json")
    assert response.status_code == 422 and "sku" in response.json()["fields"]


def test_earning_rules_need_the_admin_scope(pos_api_client):
    assert pos_api_client.get("/api/v1/earning-rules/").status_code == 403
    assert pos_api_client.post("/api/v1/earning-rules/", {"sku": "A"}, format="json").status_code == 403


def test_earning_rule_applies_to_api_purchases(admin_api_client, pos_api_client, member):
    admin_api_client.post("/api/v1/earning-rules/", {"category": "coffee", "multiplier": "3"}, format="json")
    lines = [{"sku": "BEANS", "category": "coffee", "quantity": 1, "amount": "10.00"}]
    data = post(pos_api_client, body(member, total="10.00", lines=lines)).json()
    assert data["points"]["base"] == 30


def test_schema_describes_the_purchase_endpoints(admin_api_client):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    post_op = schema["paths"]["/api/v1/purchases/"]["post"]
    assert {"200", "201", "404", "409", "422"} <= set(post_op["responses"])
    refund_op = schema["paths"]["/api/v1/purchases/{order_id}/refunds/"]["post"]
    assert {"201", "404", "422"} <= set(refund_op["responses"])
    assert "/api/v1/earning-rules/{id}/" in schema["paths"] or "/api/v1/earning-rules/{rule_id}/" in schema["paths"]
    json.dumps(schema, default=str)


def test_unknown_member_is_404_before_a_currency_mismatch(pos_api_client, member):
    response = post(pos_api_client, body(member, member="4" * 16, currency="USD"))
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert not Purchase.objects.exists()


def test_new_purchase_answers_the_balances_a_fresh_read_gives(pos_api_client, member):
    from loyalty.selectors import member_points_get

    first = post(pos_api_client, body(member, order_id="b-1")).json()
    second = post(pos_api_client, body(member, order_id="b-2", occurred_at=timezone.now().isoformat())).json()
    points = member_points_get(member=member)
    assert second["member_points"] == {"available": points["available"], "pending": points["pending"]}
    assert second["member_points"]["available"] + second["member_points"]["pending"] == (
        first["member_points"]["available"] + first["member_points"]["pending"] + second["points"]["total"]
    )
    replay = post(pos_api_client, body(member, order_id="b-2", occurred_at=second["occurred_at"]))
    assert replay.status_code == 200 and replay.json()["member_points"] == second["member_points"]


def test_purchase_post_query_budget(pos_api_client, member, django_assert_max_num_queries):
    post(pos_api_client, body(member, order_id="warm"))  # fills the program, tier, rule and promotion caches
    with django_assert_max_num_queries(18):
        assert post(pos_api_client, body(member, order_id="budget")).status_code == 201


def test_the_hand_built_body_is_what_the_documented_serializer_gives(pos_api_client, member):
    from loyalty.api.purchases import PurchaseSerializer, purchase_representation
    from loyalty.services.earning import breakdown_localize
    from loyalty.services.purchases import purchase_status

    program = program_get()
    program.pending_days = 3
    program.save()
    Tier.objects.create(code="silver", name="Silver", rank=1, threshold=0, multiplier=Decimal("1.5"))
    member.tier = Tier.objects.get(code="silver")
    member.save()
    assert post(pos_api_client, body(member, total="40.10")).status_code == 201
    assert refund(pos_api_client, "1001", "r1", "10.05").status_code == 201
    purchase = Purchase.objects.select_related("member", "lot").get(order_id="1001")
    balances = {"available": 3, "pending": 47}
    documented = PurchaseSerializer().to_representation({
        **{name: getattr(purchase, name) for name in (
            "order_id", "total", "currency", "occurred_at", "eligible_amount", "available_at", "refunded_total",
            "points_reversed")},
        "member": purchase.member.loyalty_id,
        "points": {"base": purchase.points_base, "bonus": purchase.points_bonus, "total": purchase.points_total},
        "breakdown": breakdown_localize(purchase.breakdown),
        "status": purchase_status(purchase),
        "member_points": balances,
    })
    built = purchase_representation(purchase, balances)
    assert json.loads(json.dumps(built)) == json.loads(json.dumps(documented))
    assert built["status"] == "pending" and built["refunded_total"] == "10.05" and len(built["breakdown"]) == 2
