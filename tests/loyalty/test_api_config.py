from decimal import Decimal

import pytest

from loyalty.models import Program, Store
from loyalty.services.program import program_get

pytestmark = pytest.mark.django_db

CONTRACT_FIELDS = {
    "name", "currency", "earn_rate", "rounding", "point_value", "min_redeem_points", "max_discount_percent",
    "pending_days", "points_valid_days", "expiry_extends_to", "expiry_warning_days", "tier_metric",
    "tier_window_months", "tier_hold_months", "signup_bonus", "birthday_bonus", "referral_referrer_bonus",
    "referral_referee_bonus",
}
EXTRA_FIELDS = {
    "include_tax", "tier_window", "referral_cap", "coupon_valid_days", "logo_url", "brand_colour", "accent_colour",
    "terms", "welcome_email", "tier_upgrade_email", "reward_redeemed_email", "expiry_reminder_email",
}


# -- program -----------------------------------------------------------------------------------------


def test_get_program_has_every_setting(admin_api_client):
    response = admin_api_client.get("/api/v1/program/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == CONTRACT_FIELDS | EXTRA_FIELDS
    assert (body["currency"], body["earn_rate"], body["point_value"], body["rounding"]) == ("EUR", "1.00", "0.01",
                                                                                         "round")
    assert body["points_valid_days"] is None and body["tier_window_months"] is None


def test_point_value_keeps_significant_decimals(admin_api_client):
    response = admin_api_client.patch("/api/v1/program/", {"point_value": "0.0125"}, format="json")
    assert response.status_code == 200
    assert response.json()["point_value"] == "0.0125"
    assert program_get().point_value == Decimal("0.0125")


def test_patch_changes_only_what_is_sent(admin_api_client):
    response = admin_api_client.patch(
        "/api/v1/program/",
        {"earn_rate": "2.50", "rounding": "floor", "points_valid_days": 365, "currency": "usd",
         "tier_window": "rolling", "tier_window_months": 12, "referral_cap": 5, "unknown_field": "ignored"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["earn_rate"], body["rounding"], body["points_valid_days"], body["currency"]) == (
        "2.50", "floor", 365, "USD")
    program = Program.objects.get()
    assert (program.earn_rate, program.currency, program.tier_window_months, program.referral_cap) == (
        Decimal("2.50"), "USD", 12, 5)
    assert program.name == "Loyalty" and program.max_discount_percent == 100


def test_points_valid_days_back_to_never(admin_api_client):
    admin_api_client.patch("/api/v1/program/", {"points_valid_days": 30}, format="json")
    response = admin_api_client.patch("/api/v1/program/", {"points_valid_days": None}, format="json")
    assert response.status_code == 200
    assert program_get().points_valid_days is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"earn_rate": "-1.00"}, "earn_rate"),
        ({"earn_rate": "1.005"}, "earn_rate"),
        ({"earn_rate": "NaN"}, "earn_rate"),
        ({"earn_rate": "lots"}, "earn_rate"),
        ({"point_value": "0"}, "point_value"),
        ({"point_value": "-0.01"}, "point_value"),
        ({"max_discount_percent": 101}, "max_discount_percent"),
        ({"max_discount_percent": -1}, "max_discount_percent"),
        ({"rounding": "bankers"}, "rounding"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "E1R"}, "currency"),
        ({"currency": "€€€"}, "currency"),
        ({"expiry_extends_to": "decade_end"}, "expiry_extends_to"),
        ({"tier_metric": "visits"}, "tier_metric"),
        ({"points_valid_days": 0}, "points_valid_days"),
        ({"pending_days": -3}, "pending_days"),
        ({"pending_days": 10**12}, "pending_days"),
        ({"signup_bonus": 10**20}, "signup_bonus"),
        ({"tier_window_months": 0}, "tier_window_months"),
        ({"coupon_valid_days": 0}, "coupon_valid_days"),
        ({"min_redeem_points": "many"}, "min_redeem_points"),
        ({"include_tax": "sometimes"}, "include_tax"),
        ({"name": ""}, "name"),
        # Rules across fields come from the model's clean(): the admin applies the same ones.
        ({"tier_window": "rolling", "tier_window_months": None}, "tier_window_months"),
        ({"expiry_extends_to": "month_end", "points_valid_days": None}, "expiry_extends_to"),
    ],
)
def test_invalid_program_settings_are_422_and_change_nothing(admin_api_client, payload, field):
    before = Program.objects.filter(pk=program_get().pk).values().get()
    response = admin_api_client.patch("/api/v1/program/", payload, format="json")
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "invalid" and field in body["fields"], body
    assert Program.objects.filter(pk=1).values().get() == before


def test_program_body_must_be_an_object(admin_api_client):
    response = admin_api_client.patch("/api/v1/program/", [1, 2], format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"


def test_program_needs_the_admin_scope(pos_api_client):
    assert pos_api_client.get("/api/v1/program/").status_code == 403
    response = pos_api_client.patch("/api/v1/program/", {"earn_rate": "9.00"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert program_get().earn_rate == Decimal("1.00")


# -- stores ------------------------------------------------------------------------------------------


def test_list_stores_never_shows_the_secret(admin_api_client, api_store):
    Store.objects.create(slug="web", name="Webshop", woocommerce_secret="s3cret")
    response = admin_api_client.get("/api/v1/stores/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert [s["slug"] for s in body["results"]] == ["till-1", "web"]
    assert b"s3cret" not in response.content
    assert body["results"][1]["has_woocommerce_secret"] is True
    assert set(body["results"][0]) == {"slug", "name", "auto_enroll", "has_woocommerce_secret", "created_at"}


def test_create_store(admin_api_client):
    response = admin_api_client.post(
        "/api/v1/stores/", {"slug": "web", "name": "Webshop", "woocommerce_secret": "s3cret", "auto_enroll": True},
        format="json",
    )
    assert response.status_code == 201
    assert "woocommerce_secret" not in response.json()
    store = Store.objects.get(slug="web")
    assert (store.name, store.woocommerce_secret, store.auto_enroll) == ("Webshop", "s3cret", True)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"slug": "till-1", "name": "Again"}, "slug"),
        ({"slug": "has space", "name": "X"}, "slug"),
        ({"slug": "x" * 51, "name": "X"}, "slug"),
        ({"slug": "web"}, "name"),
        ({"name": "No slug"}, "slug"),
        ({"slug": "web", "name": "X", "auto_enroll": "yes please"}, "auto_enroll"),
    ],
)
def test_invalid_store_is_422(admin_api_client, api_store, payload, field):
    response = admin_api_client.post("/api/v1/stores/", payload, format="json")
    assert response.status_code == 422
    assert field in response.json()["fields"]
    assert Store.objects.count() == 1


def test_get_and_patch_store(admin_api_client, api_store):
    response = admin_api_client.get("/api/v1/stores/till-1/")
    assert response.status_code == 200 and response.json()["name"] == "Till 1"
    response = admin_api_client.patch(
        "/api/v1/stores/till-1/", {"auto_enroll": True, "woocommerce_secret": "new"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["auto_enroll"] is True and "woocommerce_secret" not in response.json()
    api_store.refresh_from_db()
    assert api_store.auto_enroll and api_store.woocommerce_secret == "new" and api_store.name == "Till 1"


def test_patch_store_slug_to_a_taken_one_is_422(admin_api_client, api_store):
    Store.objects.create(slug="web", name="Webshop")
    response = admin_api_client.patch("/api/v1/stores/till-1/", {"slug": "web"}, format="json")
    assert response.status_code == 422 and "slug" in response.json()["fields"]
    api_store.refresh_from_db()
    assert api_store.slug == "till-1"


@pytest.mark.parametrize("slug", ["nope", "bad%20slug", "%00"])
def test_unknown_store_is_404(admin_api_client, api_store, slug):
    response = admin_api_client.get(f"/api/v1/stores/{slug}/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert admin_api_client.patch(f"/api/v1/stores/{slug}/", {"name": "x"}, format="json").status_code == 404


def test_stores_need_the_admin_scope(pos_api_client, api_store):
    assert pos_api_client.get("/api/v1/stores/").status_code == 403
    assert pos_api_client.get("/api/v1/stores/till-1/").status_code == 403
    assert pos_api_client.post("/api/v1/stores/", {"slug": "x", "name": "X"}, format="json").status_code == 403
    assert pos_api_client.patch("/api/v1/stores/till-1/", {"name": "X"}, format="json").status_code == 403
    assert Store.objects.count() == 1


@pytest.mark.parametrize(
    ("url", "payload", "field"),
    [
        ("/api/v1/promotions/", {"name": "Old", "kind": "flat", "points": 5, "starts_at": "1372-05-31T08:51:27Z"},
         "starts_at"),
        ("/api/v1/rewards/", {"code": "old", "name": "Old", "kind": "free_shipping", "cost_points": 10,
                              "value": "1.00", "available_from": "1850-01-01T00:00:00Z"}, "available_from"),
    ],
)
def test_times_before_1900_are_refused_not_echoed_with_a_local_mean_time_offset(admin_api_client, url, payload, field):
    response = admin_api_client.post(url, payload, format="json")
    assert response.status_code == 422
    assert field in response.json()["fields"]
