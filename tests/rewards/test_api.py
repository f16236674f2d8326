import io
import secrets
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from PIL import Image
from rest_framework.test import APIClient

from loyalty.models import LedgerTransaction, Store, Tier, TransactionKind
from loyalty.selectors import member_points_get
from loyalty.services.api_keys import api_key_create
from members.models import MemberStatus, User
from members.services import member_create
from rewards.models import Redemption, RedemptionStatus, Reward, RewardKind
from rewards.services import coupon_use, points_redeem_for_discount, voucher_codes_import
from tests.factories import MemberFactory
from tests.rewards.conftest import give
from tests.rewards.factories import RewardFactory

pytestmark = pytest.mark.django_db

REDEMPTION_KEYS = {
    "id", "member", "reward", "kind", "points", "value", "currency", "code", "status", "issued_at", "expires_at",
    "used_at", "member_points",
}
REWARD_KEYS = {"code", "name", "kind", "cost_points", "value", "stock", "min_tier", "image_url", "available_from",
               "available_until"}
CONFIG_KEYS = {"description", "per_member_limit", "active"}


def key_client(store, scope="pos"):
    _key, raw = api_key_create(store=store, scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


@pytest.fixture
def other_store(db):
    return Store.objects.create(slug="web", name="Webshop")


def png_bytes(size=(1200, 800), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else (200, 30, 30, 128)).save(buffer, format="PNG")
    return buffer.getvalue()


def error(response, status_code, code):
    assert response.status_code == status_code, response.content
    body = response.json()
    assert body["code"] == code, body
    assert body["detail"]
    return body


# -- quote -------------------------------------------------------------------------------------------


def test_quote(pos_api_client, member):
    give(member, 700)
    response = pos_api_client.post("/api/v1/redemptions/quote/",
                                   {"member": member.loyalty_id, "subtotal": "5.00", "currency": "EUR"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"available_points": 700, "max_points": 500, "max_discount": "5.00",
                               "point_value": "0.0100", "min_points": 0}


def test_quote_errors(pos_api_client, member):
    url = "/api/v1/redemptions/quote/"
    error(pos_api_client.post(url, {"member": "0" * 16, "subtotal": "5", "currency": "EUR"}, format="json"),
          404, "not_found")
    error(pos_api_client.post(url, {"member": member.loyalty_id, "subtotal": "5", "currency": "USD"}, format="json"),
          422, "currency_mismatch")
    body = error(pos_api_client.post(url, {"member": member.loyalty_id, "subtotal": "-1", "currency": "EUR"},
                                     format="json"), 422, "invalid")
    assert "subtotal" in body["fields"]
    error(APIClient().post(url, {}, format="json"), 401, "unauthorized")


# -- redeem ------------------------------------------------------------------------------------------


def test_redeem_a_reward_returns_the_redemption(pos_api_client, member, api_store):
    give(member, 1000)
    reward = RewardFactory(code="coffee", cost_points=300, value="2.50", stock=3)
    response = pos_api_client.post("/api/v1/redemptions/", {"member": member.loyalty_id, "reward": "coffee"},
                                   format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= REDEMPTION_KEYS
    redemption = Redemption.objects.get()
    assert body["id"] == redemption.pk and body["member"] == member.loyalty_id and body["reward"] == "coffee"
    assert (body["kind"], body["points"], body["value"], body["currency"]) == ("fixed_discount", 300, "2.50", "EUR")
    assert body["code"] == redemption.code and body["status"] == "issued" and body["used_at"] is None
    assert body["member_points"] == {"available": 700, "pending": 0}
    assert parse_datetime(body["expires_at"]) - parse_datetime(body["issued_at"]) == timedelta(days=90)
    assert parse_datetime(body["issued_at"]).utcoffset() is not None
    assert redemption.store == api_store
    reward.refresh_from_db()
    assert reward.stock == 2


def test_pay_with_points(pos_api_client, member):
    give(member, 1000)
    response = pos_api_client.post(
        "/api/v1/redemptions/",
        {"member": member.loyalty_id, "points": 400, "order_id": "W-9", "subtotal": "10.00"}, format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["reward"], body["kind"], body["points"], body["value"]) == (None, "pay_with_points", 400, "4.00")
    assert body["order_id"] == "W-9" and body["member_points"]["available"] == 600


def test_redeem_is_idempotent_with_a_key(pos_api_client, member):
    give(member, 1000)
    payload = {"member": member.loyalty_id, "points": 100}
    first = pos_api_client.post("/api/v1/redemptions/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = pos_api_client.post("/api/v1/redemptions/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.content == again.content
    assert Redemption.objects.count() == 1 and member_points_get(member=member)["available"] == 900
    error(pos_api_client.post("/api/v1/redemptions/", {**payload, "points": 101}, format="json",
                              HTTP_IDEMPOTENCY_KEY="k-1"), 409, "idempotency_conflict")


def test_redeem_errors(pos_api_client, member, program):
    url = "/api/v1/redemptions/"
    give(member, 500)
    program.min_redeem_points = 50
    program.save()
    gold = Tier.objects.create(code="gold", name="Gold", rank=2, threshold=100)
    RewardFactory(code="gone", stock=0)
    RewardFactory(code="once", per_member_limit=1, cost_points=10)
    RewardFactory(code="vip", min_tier=gold)
    RewardFactory(code="off", active=False)
    RewardFactory(code="later", available_from=timezone.now() + timedelta(days=1))
    RewardFactory(code="pricey", cost_points=501)
    who = member.loyalty_id

    error(pos_api_client.post(url, {"member": who, "points": 600}, format="json"), 422, "insufficient_points")
    error(pos_api_client.post(url, {"member": who, "points": 49}, format="json"), 422, "below_minimum")
    error(pos_api_client.post(url, {"member": who, "points": 200, "subtotal": "1.00"}, format="json"), 422, "invalid")
    error(pos_api_client.post(url, {"member": who, "reward": "gone"}, format="json"), 409, "out_of_stock")
    assert pos_api_client.post(url, {"member": who, "reward": "once"}, format="json").status_code == 201
    error(pos_api_client.post(url, {"member": who, "reward": "once"}, format="json"), 409, "limit_reached")
    error(pos_api_client.post(url, {"member": who, "reward": "vip"}, format="json"), 403, "tier_required")
    error(pos_api_client.post(url, {"member": who, "reward": "off"}, format="json"), 422, "reward_unavailable")
    error(pos_api_client.post(url, {"member": who, "reward": "later"}, format="json"), 422, "reward_unavailable")
    error(pos_api_client.post(url, {"member": who, "reward": "pricey"}, format="json"), 422, "insufficient_points")
    body = error(pos_api_client.post(url, {"member": who, "reward": "nope"}, format="json"), 422, "invalid")
    assert "reward" in body["fields"]
    error(pos_api_client.post(url, {"member": who, "reward": "once", "points": 10}, format="json"), 422, "invalid")
    error(pos_api_client.post(url, {"member": who}, format="json"), 422, "invalid")
    error(pos_api_client.post(url, {"member": who, "points": "lots"}, format="json"), 422, "invalid")
    error(pos_api_client.post(url, {"member": "1234", "points": 60}, format="json"), 422, "invalid")
    error(pos_api_client.post(url, {"member": "0" * 16, "points": 60}, format="json"), 404, "not_found")
    member.status = MemberStatus.SUSPENDED
    member.save()
    error(pos_api_client.post(url, {"member": who, "points": 60}, format="json"), 422, "member_inactive")
    assert Redemption.objects.count() == 1
    assert member_points_get(member=member)["available"] == 490


# -- cancel ------------------------------------------------------------------------------------------


def test_cancel(pos_api_client, member, api_store):
    give(member, 1000)
    reward = RewardFactory(stock=1, cost_points=250)
    created = pos_api_client.post("/api/v1/redemptions/", {"member": member.loyalty_id, "reward": reward.code},
                                  format="json").json()
    url = f"/api/v1/redemptions/{created['id']}/cancel/"
    response = pos_api_client.post(url, {}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "cancelled" and body["member_points"]["available"] == 1000
    reward.refresh_from_db()
    assert reward.stock == 1
    error(pos_api_client.post(url, {}, format="json"), 409, "already_cancelled")
    error(pos_api_client.post("/api/v1/redemptions/999999/cancel/", {}, format="json"), 404, "not_found")


def test_cancel_a_used_coupon(pos_api_client, member, api_store):
    give(member, 1000)
    redemption = points_redeem_for_discount(member=member, points=100, store=api_store)
    coupon_use(code=redemption.code, order_id="X")
    error(pos_api_client.post(f"/api/v1/redemptions/{redemption.pk}/cancel/", {}, format="json"), 409, "coupon_used")


def test_pos_keys_cancel_only_their_own_stores_redemptions(pos_api_client, member, api_store, other_store):
    give(member, 1000)
    theirs = points_redeem_for_discount(member=member, points=100, store=other_store)
    portal = points_redeem_for_discount(member=member, points=100, store=None)
    for redemption in (theirs, portal):
        error(pos_api_client.post(f"/api/v1/redemptions/{redemption.pk}/cancel/", {}, format="json"),
              404, "not_found")
    admin = key_client(api_store, "admin")
    for redemption in (theirs, portal):
        assert admin.post(f"/api/v1/redemptions/{redemption.pk}/cancel/", {}, format="json").status_code == 200
    assert member_points_get(member=member)["available"] == 1000


# -- coupons -----------------------------------------------------------------------------------------


def test_coupon_use(pos_api_client, member, api_store):
    give(member, 1000)
    redemption = points_redeem_for_discount(member=member, points=100, store=api_store)
    url = f"/api/v1/coupons/{redemption.code.lower()}/use/"
    response = pos_api_client.post(url, {"order_id": "POS-1"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "used" and body["used_at"] is not None and body["used_order_id"] == "POS-1"
    error(pos_api_client.post(url, {"order_id": "POS-2"}, format="json"), 409, "coupon_used")
    body = error(pos_api_client.post(url, {}, format="json"), 422, "invalid")
    assert "order_id" in body["fields"]


def test_coupon_expired_and_unknown(pos_api_client, member, api_store):
    give(member, 1000)
    redemption = points_redeem_for_discount(member=member, points=100, store=api_store,
                                            now=timezone.now() - timedelta(days=91))
    error(pos_api_client.post(f"/api/v1/coupons/{redemption.code}/use/", {"order_id": "1"}, format="json"),
          409, "coupon_expired")
    error(pos_api_client.post("/api/v1/coupons/AAAA-BBBB-CCCC-DDDD/use/", {"order_id": "1"}, format="json"),
          404, "not_found")


def test_pay_with_points_coupons_only_at_the_issuing_store(member, api_store, other_store):
    give(member, 1000)
    discount = points_redeem_for_discount(member=member, points=100, store=api_store)
    catalogue = RewardFactory(cost_points=10)
    from rewards.services import reward_redeem

    reward_coupon = reward_redeem(member=member, reward=catalogue, store=api_store)
    elsewhere = key_client(other_store)
    error(elsewhere.post(f"/api/v1/coupons/{discount.code}/use/", {"order_id": "1"}, format="json"), 404, "not_found")
    assert elsewhere.post(f"/api/v1/coupons/{reward_coupon.code}/use/", {"order_id": "1"},
                          format="json").status_code == 200
    assert key_client(other_store, "admin").post(f"/api/v1/coupons/{discount.code}/use/", {"order_id": "1"},
                                                 format="json").status_code == 200


def test_unknown_coupon_codes_are_rate_limited_per_key(pos_api_client, member, api_store):
    give(member, 1000)
    good = points_redeem_for_discount(member=member, points=100, store=api_store)
    for _ in range(10):
        code = "-".join(secrets.choice(["AAAA", "BBBB", "CCCC"]) for _ in range(4))
        error(pos_api_client.post(f"/api/v1/coupons/{code}/use/", {"order_id": "1"}, format="json"), 404, "not_found")
    limited = pos_api_client.post(f"/api/v1/coupons/{good.code}/use/", {"order_id": "1"}, format="json")
    error(limited, 429, "rate_limited")
    assert Redemption.objects.get(pk=good.pk).status == RedemptionStatus.ISSUED
    other_key = key_client(api_store)
    assert other_key.post(f"/api/v1/coupons/{good.code}/use/", {"order_id": "1"}, format="json").status_code == 200


# -- the catalogue -----------------------------------------------------------------------------------


def test_rewards_list_for_pos_keys_shows_active_ones(pos_api_client, media_root):
    tier = Tier.objects.create(code="gold", name="Gold", rank=2, threshold=100)
    shown = RewardFactory(code="a", cost_points=10, min_tier=tier, per_member_limit=2,
                          image=SimpleUploadedFile("a.png", png_bytes(), content_type="image/png"))
    RewardFactory(code="b", cost_points=20, active=False)
    RewardFactory(code="c", cost_points=30, available_until=timezone.now() - timedelta(days=1))
    soon = RewardFactory(code="d", cost_points=40, available_from=timezone.now() + timedelta(days=1))
    pool = RewardFactory(code="e", cost_points=50, kind=RewardKind.PARTNER_VOUCHER)
    voucher_codes_import(reward=pool, codes=["1", "2", "3"])
    response = pos_api_client.get("/api/v1/rewards/")
    assert response.status_code == 200
    body = response.json()
    assert {"next", "previous", "results"} <= set(body)
    assert [r["code"] for r in body["results"]] == ["a", "d", "e"]
    first = body["results"][0]
    assert set(first) >= REWARD_KEYS | CONFIG_KEYS
    assert first["min_tier"] == "gold" and first["stock"] is None and first["per_member_limit"] == 2
    assert first["image_url"].startswith("http://testserver/") and first["image_url"].endswith(shown.image.name)
    assert body["results"][1]["available_from"] == soon.available_from.astimezone().isoformat()
    assert body["results"][2]["stock"] == 3


def test_rewards_list_for_admin_keys_shows_all(admin_api_client):
    RewardFactory(code="a")
    RewardFactory(code="b", active=False)
    assert {r["code"] for r in admin_api_client.get("/api/v1/rewards/").json()["results"]} == {"a", "b"}
    assert [r["code"] for r in admin_api_client.get("/api/v1/rewards/?active=false").json()["results"]] == ["b"]


def test_create_reward_needs_the_admin_scope(pos_api_client, admin_api_client):
    payload = {"code": "tote", "name": "Tote bag", "kind": "free_product", "cost_points": 800, "sku": "TOTE-1",
               "stock": 10}
    error(pos_api_client.post("/api/v1/rewards/", payload, format="json"), 403, "forbidden")
    response = admin_api_client.post("/api/v1/rewards/", payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["code"], body["kind"], body["stock"], body["active"], body["value"]) == (
        "tote", "free_product", 10, True, "0.00")
    assert Reward.objects.get(code="tote").sku == "TOTE-1"
    body = error(admin_api_client.post("/api/v1/rewards/", payload, format="json"), 422, "invalid")
    assert "code" in body["fields"]


def test_create_reward_validation(admin_api_client, program):
    url = "/api/v1/rewards/"
    base = {"name": "X", "cost_points": 1000}
    cases = [
        ({"code": "pct", "kind": "percentage_discount", "value": "150"}, "value"),
        ({"code": "cash", "kind": "cashback", "value": "10.00"}, "value"),
        ({"code": "give", "kind": "charity_donation", "value": "5"}, "charity_name"),
        ({"code": "neg", "kind": "fixed_discount", "stock": -1}, "stock"),
        ({"code": "zero", "kind": "fixed_discount", "cost_points": 0}, "cost_points"),
        ({"code": "bad code!", "kind": "fixed_discount"}, "code"),
        ({"code": "tier", "kind": "fixed_discount", "min_tier": "nope"}, "min_tier"),
        ({"code": "win", "kind": "fixed_discount", "available_from": "2030-01-02T00:00:00Z",
          "available_until": "2030-01-01T00:00:00Z"}, "available_until"),
    ]
    for extra, field in cases:
        body = error(admin_api_client.post(url, {**base, **extra}, format="json"), 422, "invalid")
        assert field in body["fields"], (extra, body)
    assert not Reward.objects.exists()


def test_create_reward_with_an_image_makes_a_thumbnail(admin_api_client, media_root):
    upload = SimpleUploadedFile("poster.png", png_bytes((1600, 900)), content_type="image/png")
    response = admin_api_client.post(
        "/api/v1/rewards/",
        {"code": "poster", "name": "Poster", "kind": "experience", "cost_points": "100", "image": upload},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    reward = Reward.objects.get(code="poster")
    with Image.open(reward.thumbnail.path) as thumbnail:
        assert thumbnail.size == (400, 225) and thumbnail.format == "JPEG"
    assert response.json()["thumbnail_url"].endswith(reward.thumbnail.name)
    not_an_image = SimpleUploadedFile("x.png", b"not an image", content_type="image/png")
    body = error(admin_api_client.post(
        "/api/v1/rewards/", {"code": "x", "name": "X", "kind": "experience", "cost_points": "1",
                             "image": not_an_image}, format="multipart"), 422, "invalid")
    assert "image" in body["fields"]


def test_reward_detail_patch_and_delete(pos_api_client, admin_api_client, member):
    give(member, 1000)
    RewardFactory(code="mug", cost_points=100)
    hidden = RewardFactory(code="hidden", active=False)
    assert pos_api_client.get("/api/v1/rewards/mug/").json()["code"] == "mug"
    error(pos_api_client.get("/api/v1/rewards/hidden/"), 404, "not_found")
    assert admin_api_client.get("/api/v1/rewards/hidden/").status_code == 200
    error(pos_api_client.patch("/api/v1/rewards/mug/", {"cost_points": 5}, format="json"), 403, "forbidden")
    response = admin_api_client.patch("/api/v1/rewards/mug/", {"cost_points": 150, "stock": 4}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["cost_points"], response.json()["stock"]) == (150, 4)
    error(admin_api_client.patch("/api/v1/rewards/mug/", {"cost_points": 0}, format="json"), 422, "invalid")
    error(pos_api_client.delete("/api/v1/rewards/mug/"), 403, "forbidden")
    pos_api_client.post("/api/v1/redemptions/", {"member": member.loyalty_id, "reward": "mug"}, format="json")
    response = admin_api_client.delete("/api/v1/rewards/mug/")
    assert response.status_code == 200 and response.json()["active"] is False
    assert admin_api_client.delete(f"/api/v1/rewards/{hidden.code}/").status_code == 204
    assert not Reward.objects.filter(code="hidden").exists()
    error(admin_api_client.delete("/api/v1/rewards/nope/"), 404, "not_found")


# -- member self-service -----------------------------------------------------------------------------


@pytest.fixture
def member_client(db):
    user = User.objects.create_user(email="me@example.com", password="correct horse battery")
    member = member_create(email="me@example.com", user=user)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    token = secrets.token_hex(16)  # an unmasked 32-character CSRF secret, as the cookie holds it
    client.cookies["csrftoken"] = token
    client.member = member
    client.csrf = token
    return client


def test_me_redeem(member_client):
    give(member_client.member, 500)
    RewardFactory(code="cake", cost_points=200)
    error(member_client.post("/api/v1/me/redemptions/", {"reward": "cake"}, format="json"), 403, "forbidden")
    response = member_client.post("/api/v1/me/redemptions/", {"reward": "cake"}, format="json",
                                  HTTP_X_CSRFTOKEN=member_client.csrf)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["member"] == member_client.member.loyalty_id and body["member_points"]["available"] == 300
    assert Redemption.objects.get().store is None
    body = error(member_client.post("/api/v1/me/redemptions/", {"reward": "nope"}, format="json",
                                    HTTP_X_CSRFTOKEN=member_client.csrf), 422, "invalid")
    assert "reward" in body["fields"]


def test_me_redemptions_lists_only_my_own(member_client):
    give(member_client.member, 500)
    points_redeem_for_discount(member=member_client.member, points=100)
    stranger = MemberFactory()
    give(stranger, 500)
    points_redeem_for_discount(member=stranger, points=100)
    body = member_client.get("/api/v1/me/redemptions/").json()
    assert [r["member"] for r in body["results"]] == [member_client.member.loyalty_id]


def test_me_needs_a_session():
    assert APIClient().post("/api/v1/me/redemptions/", {"reward": "x"}, format="json").status_code in (401, 403)


# -- schema ------------------------------------------------------------------------------------------


def test_schema_documents_the_redemption_errors(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    create = paths["/api/v1/redemptions/"]["post"]["responses"]
    assert {"201", "403", "404", "409", "422"} <= set(create)
    assert {"200", "404", "409", "429"} <= set(paths["/api/v1/coupons/{code}/use/"]["post"]["responses"])
    assert {"get", "post"} <= set(paths["/api/v1/rewards/"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/rewards/{code}/"])
    assert "post" in paths["/api/v1/redemptions/quote/"] and "post" in paths["/api/v1/me/redemptions/"]


def test_points_never_move_on_refused_requests(pos_api_client, member):
    give(member, 100)
    before = LedgerTransaction.objects.filter(kind=TransactionKind.REDEEM).count()
    pos_api_client.post("/api/v1/redemptions/", {"member": member.loyalty_id, "points": 101}, format="json")
    assert LedgerTransaction.objects.filter(kind=TransactionKind.REDEEM).count() == before


def test_list_queries_do_not_grow_with_the_catalogue(pos_api_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert pos_api_client.get("/api/v1/rewards/").status_code == 200
        return len(queries)

    tier = Tier.objects.create(code="gold", name="Gold", rank=2, threshold=100)
    for i in range(3):
        RewardFactory(min_tier=tier, kind=RewardKind.PARTNER_VOUCHER if i % 2 else RewardKind.FIXED_DISCOUNT)
    count()  # the first request of a key also records when it was last used
    few = count()
    for i in range(20):
        RewardFactory(min_tier=tier, kind=RewardKind.PARTNER_VOUCHER if i % 2 else RewardKind.FIXED_DISCOUNT)
    assert count() == few


def test_my_redemptions_queries_do_not_grow(member_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    give(member_client.member, 10_000)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert member_client.get("/api/v1/me/redemptions/").status_code == 200
        return len(queries)

    points_redeem_for_discount(member=member_client.member, points=10)
    few = count()
    for _ in range(15):
        points_redeem_for_discount(member=member_client.member, points=10)
    assert count() == few
