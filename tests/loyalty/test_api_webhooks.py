"""WooCommerce order webhooks, with a realistic WooCommerce REST API v3 order payload."""

import base64
import copy
import hashlib
import hmac
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import OperationalError, connection

from loyalty.models import IdempotencyRecord, LedgerTransaction, Purchase, Refund, Rounding, Store
from loyalty.selectors import member_points_get
from loyalty.services.program import program_get
from loyalty.services.verify import ledger_verify
from loyalty.services.woocommerce import woocommerce_is_ping, woocommerce_signature
from members.models import Member, MemberStatus
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
SECRET = "wc-secret-🔑-0123456789"
URL = "/api/v1/webhooks/woocommerce/shop/"
ORDER = json.loads((Path(__file__).parent / "fixtures" / "woocommerce_order.json").read_text())


@pytest.fixture
def store():
    return Store.objects.create(slug="shop", name="Shop", woocommerce_secret=SECRET)


@pytest.fixture
def anna():
    return MemberFactory(email="Anna.deVries@example.com")


def order(**changes):
    payload = copy.deepcopy(ORDER)
    payload.update(changes)
    return payload


def deliver(client, payload, *, delivery_id="", topic="order.updated", secret=SECRET, signature=None, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {
        "X-WC-Webhook-Source": "https://shop.example.com/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": "order",
        "X-WC-Webhook-Event": topic.split(".")[-1],
        "X-WC-Webhook-ID": "14",
        "X-WC-Webhook-Signature": signature
        if signature is not None
        else woocommerce_signature(secret=secret, body=body),
    }
    if delivery_id:
        headers["X-WC-Webhook-Delivery-ID"] = delivery_id
    return client.post(URL, data=body, content_type="application/json", headers=headers)


def test_signature_is_base64_hmac_sha256_of_the_raw_body():
    body = b'{"id": 1}'
    expected = base64.b64encode(hmac.new(b"s3cret", body, hashlib.sha256).digest()).decode()
    assert woocommerce_signature(secret="s3cret", body=body) == expected


def test_processing_order_earns_from_its_lines(client, store, anna):
    response = deliver(client, order(), delivery_id="d1", topic="order.created")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["result"] == "recorded" and data["order_id"] == "727"
    purchase = Purchase.objects.get(store=store, order_id="727")
    assert purchase.member == anna
    assert purchase.total == Decimal("125.75") and purchase.shipping == Decimal("4.95")
    assert purchase.tax == Decimal("22.00")
    assert purchase.eligible_amount == Decimal("98.80")  # line totals after the coupon, before tax
    assert purchase.points_total == 99 == data["purchase"]["points"]  # 98.80 rounds half-up
    assert [line["sku"] for line in purchase.lines] == ["MUG-01", "TEE-L", "ESP-200"]
    assert purchase.occurred_at.isoformat() == "2024-05-03T13:04:09+00:00"  # date_paid_gmt, UTC
    assert member_points_get(member=anna)["available"] == 99
    assert ledger_verify() == []


def test_floor_rounding_example(client, store, anna):
    program = program_get()
    program.rounding = Rounding.FLOOR
    program.save()
    lines = [
        {**ORDER["line_items"][0], "sku": "A", "quantity": 1, "total": "19.90"},
        {**ORDER["line_items"][1], "sku": "B", "quantity": 1, "total": "79.90"},
    ]
    deliver(client, order(line_items=lines, total="99.80", shipping_total="0.00", total_tax="0.00"))
    assert Purchase.objects.get().points_total == 99


def test_later_updates_of_the_order_do_not_earn_again(client, store, anna):
    deliver(client, order(), delivery_id="d1")
    response = deliver(client, order(status="completed", date_completed_gmt="2024-05-05T09:00:00"), delivery_id="d2")
    assert response.json()["result"] == "updated"
    assert Purchase.objects.count() == 1 and LedgerTransaction.objects.count() == 1


def test_duplicate_delivery_changes_nothing(client, store, anna):
    first = deliver(client, order(), delivery_id="same")
    again = deliver(client, order(), delivery_id="same")
    assert again.status_code == 200
    assert again.json() == {**first.json(), "duplicate": True}
    assert Purchase.objects.count() == 1 and LedgerTransaction.objects.count() == 1
    assert IdempotencyRecord.objects.filter(scope=f"wc:{store.pk}", key="same").count() == 1


def test_same_delivery_id_with_another_body_is_processed(client, store, anna):
    # WooCommerce derives delivery ids from the webhook id and the second: two events can share one.
    deliver(client, order(), delivery_id="same-second")
    refunded = order(refunds=[{"id": 801, "reason": "Broken mug", "total": "-6.00"}])
    response = deliver(client, refunded, delivery_id="same-second")
    assert response.json()["refunds"] == [{"refund_id": "801", "points_reversed": 5}]


def test_delivery_ids_are_per_store(client, store, anna):
    deliver(client, order(), delivery_id="d1")
    other = Store.objects.create(slug="other", name="Other", woocommerce_secret=SECRET)
    body = json.dumps(order()).encode()
    response = client.post(
        f"/api/v1/webhooks/woocommerce/{other.slug}/",
        data=body,
        content_type="application/json",
        headers={
            "X-WC-Webhook-Signature": woocommerce_signature(secret=SECRET, body=body),
            "X-WC-Webhook-Delivery-ID": "d1",
        },
    )
    assert response.json()["result"] == "recorded"
    assert Purchase.objects.count() == 2


def test_refunds_in_the_payload_become_refunds_once(client, store, anna):
    deliver(client, order())
    partial = order(refunds=[{"id": 801, "reason": "Broken mug", "total": "-6.00"}])
    response = deliver(client, partial)
    # In proportion to the order total: 99 x 6.00 / 125.75 = 4.72 -> 5 points.
    assert response.json()["refunds"] == [{"refund_id": "801", "points_reversed": 5}]
    purchase = Purchase.objects.get()
    assert purchase.refunded_total == Decimal("6.00")
    deliver(client, partial)  # the same refund again: nothing
    assert Refund.objects.count() == 1
    two = order(refunds=[{"id": 802, "reason": "", "total": "-12.00"}, {"id": 801, "reason": "", "total": "-6.00"}])
    deliver(client, two)
    purchase.refresh_from_db()
    assert purchase.refunded_total == Decimal("18.00") and Refund.objects.count() == 2


def test_refund_in_the_same_delivery_as_the_earning(client, store, anna):
    response = deliver(client, order(refunds=[{"id": 9, "reason": "", "total": "-125.75"}]))
    assert response.json()["result"] == "recorded"
    assert member_points_get(member=anna)["available"] == 0


@pytest.mark.parametrize("status", ["cancelled", "refunded", "failed"])
def test_cancelled_refunded_failed_reverse_everything(client, store, anna, status):
    deliver(client, order())
    deliver(client, order(refunds=[{"id": 801, "reason": "", "total": "-6.00"}]))
    response = deliver(client, order(status=status, refunds=[{"id": 801, "reason": "", "total": "-6.00"}]))
    assert response.status_code == 200
    purchase = Purchase.objects.get()
    assert purchase.refunded_total == purchase.total and purchase.points_reversed == 99
    assert Refund.objects.filter(refund_id=f"wc-{status}").exists()
    assert member_points_get(member=anna)["available"] == 0
    deliver(client, order(status=status))  # again: nothing more
    assert Refund.objects.count() == 2
    assert ledger_verify() == []


def test_unknown_customer_is_ignored_unless_the_store_enrols(client, store):
    response = deliver(client, order())
    assert response.status_code == 200
    assert response.json()["result"] == "ignored" and response.json()["reason"] == "unknown_customer"
    assert not Purchase.objects.exists() and not Member.objects.exists()
    store.auto_enroll = True
    store.save()
    response = deliver(client, order())
    assert response.json()["result"] == "recorded"
    member = Member.objects.get()
    assert (member.email, member.first_name, member.last_name) == ("anna.devries@example.com", "Anna", "de Vries")
    assert member_points_get(member=member)["available"] == 99


@pytest.mark.parametrize("status", ["pending", "on-hold", "checkout-draft"])
def test_unpaid_orders_do_not_earn(client, store, anna, status):
    response = deliver(client, order(status=status), topic="order.created")
    assert response.json() == {
        "result": "ignored",
        "order_id": "727",
        "reason": "status",
        "detail": response.json()["detail"],
    }
    assert not Purchase.objects.exists()


def test_suspended_member_and_wrong_currency_are_ignored_with_a_reason(client, store, anna):
    anna.status = MemberStatus.SUSPENDED
    anna.save()
    assert deliver(client, order()).json()["reason"] == "member_inactive"
    anna.status = MemberStatus.ACTIVE
    anna.save()
    assert deliver(client, order(currency="USD")).json()["reason"] == "currency_mismatch"
    assert not Purchase.objects.exists()


def test_negative_fee_lines_fall_back_to_the_totals(client, store, anna):
    # A -10.00 fee: line totals (98.80) exceed total - shipping - tax, so the total earns instead.
    deliver(client, order(total="115.75", fee_lines=[{"id": 1, "name": "Loyal", "total": "-10.00"}]))
    assert Purchase.objects.get().points_total == 89


def test_bad_or_missing_signature_is_401_and_changes_nothing(client, store, anna):
    assert deliver(client, order(), signature="").status_code == 401
    assert deliver(client, order(), signature="bm90IHRoZSBzaWduYXR1cmU=").status_code == 401
    response = deliver(client, order(), secret="another-secret")
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"
    body = json.dumps(order()).encode()
    tampered = body.replace(b'"125.75"', b'"999.75"')
    response = deliver(client, None, raw=tampered, signature=woocommerce_signature(secret=SECRET, body=body))
    assert response.status_code == 401
    assert not Purchase.objects.exists()


def test_store_without_secret_refuses_everything_but_the_ping(client, anna):
    Store.objects.create(slug="shop", name="Shop")
    assert deliver(client, order(), secret="").status_code == 401
    assert client.post(URL, data="webhook_id=5", content_type="application/x-www-form-urlencoded").status_code == 200


def test_ping_on_webhook_creation_answers_200(client, store):
    response = client.post(URL, data="webhook_id=123", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200 and response.json() == {"result": "ping"}
    assert woocommerce_is_ping(b"webhook_id=123")
    assert not woocommerce_is_ping(b"webhook_id=abc")
    assert not woocommerce_is_ping(b'{"webhook_id": 1}')
    assert not woocommerce_is_ping(b"webhook_id=1&status=completed")


def test_unknown_store_is_404(client):
    response = client.post("/api/v1/webhooks/woocommerce/nope/", data=b"{}", content_type="application/json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_signed_garbage_is_422_and_other_topics_are_ignored(client, store):
    assert deliver(client, None, raw=b"not json").status_code == 422
    assert deliver(client, None, raw=b"[1, 2]").status_code == 422
    assert deliver(client, order(total="lots")).status_code == 422
    assert deliver(client, {"id": 5}, topic="product.updated").json()["result"] == "ignored"
    assert deliver(client, {"id": 727}, topic="order.deleted").json()["reason"] == "not_an_order"
    assert not Purchase.objects.exists()


def test_failed_delivery_can_be_retried_with_the_same_id(client, store, anna):
    assert deliver(client, order(total="lots"), delivery_id="retry").status_code == 422
    assert not IdempotencyRecord.objects.filter(key="retry").exists()


def test_future_shop_clock_is_clamped(client, store, anna):
    response = deliver(client, order(date_paid_gmt="2999-01-01T00:00:00", date_created_gmt="2999-01-01T00:00:00"))
    assert response.json()["result"] == "recorded"


def test_webhook_is_in_the_schema():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/webhooks/woocommerce/{store_slug}/"]["post"]
    assert {"200", "401", "404", "422"} <= set(operation["responses"])
    assert any(p["name"] == "X-WC-Webhook-Signature" for p in operation["parameters"])
    assert connection.vendor in ("sqlite", "postgresql")


def test_a_delivery_left_in_flight_by_a_dead_request_is_handled_on_retry(client, store, anna):
    """Before claims were transactional a killed worker left its delivery "in flight" for ever (409)."""
    body = json.dumps(order()).encode()
    IdempotencyRecord.objects.create(
        scope=f"wc:{store.pk}",
        key="busy",
        request_hash=hashlib.sha256(body).hexdigest(),
        status_code=0,
        response_body=b"",
    )
    response = deliver(client, None, raw=body, delivery_id="busy")
    assert response.status_code == 200 and response.json()["result"] == "recorded"
    assert Purchase.objects.count() == 1
    again = deliver(client, None, raw=body, delivery_id="busy")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert Purchase.objects.count() == 1


def test_a_delivery_that_fails_midway_keeps_nothing_and_its_retry_earns_once(client, store, anna, monkeypatch):
    """The order's effects and the delivery's record commit together: a failure after the purchase was
    written (a dropped connection, say) rolls both back, and the retry does the work once."""
    from loyalty.services import woocommerce

    real = woocommerce.woocommerce_order_process

    def dies_after_the_work(**kwargs):
        real(**kwargs)
        assert Purchase.objects.count() == 1  # written inside the delivery's transaction
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(woocommerce, "woocommerce_order_process", dies_after_the_work)
    body = json.dumps(order()).encode()
    with pytest.raises(OperationalError):
        deliver(client, None, raw=body, delivery_id="d-1")
    assert not Purchase.objects.exists() and not IdempotencyRecord.objects.exists()
    monkeypatch.setattr(woocommerce, "woocommerce_order_process", real)
    assert deliver(client, None, raw=body, delivery_id="d-1").json()["result"] == "recorded"
    assert deliver(client, None, raw=body, delivery_id="d-1").json()["duplicate"] is True
    assert Purchase.objects.count() == 1
