import pytest

from campaigns.models import Promotion
from loyalty.models import Tier

pytestmark = pytest.mark.django_db
URL = "/api/v1/promotions/"


def test_promotions_crud(admin_api_client):
    Tier.objects.create(code="gold", name="Gold", rank=1)
    created = admin_api_client.post(
        URL,
        {
            "name": "Double weekend",
            "kind": "multiplier",
            "multiplier": "2.00",
            "tiers": ["gold"],
            "starts_at": "2030-05-01T00:00:00+02:00",
            "ends_at": "2030-05-03T00:00:00+02:00",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    data = created.json()
    assert data == {
        "id": data["id"],
        "name": "Double weekend",
        "kind": "multiplier",
        "multiplier": "2.00",
        "points": None,
        "min_total": None,
        "skus": [],
        "categories": [],
        "tiers": ["gold"],
        "starts_at": data["starts_at"],
        "ends_at": data["ends_at"],
        "exclusive": False,
        "active": True,
    }
    assert admin_api_client.get(URL).json()["results"][0]["id"] == data["id"]
    detail = f"{URL}{data['id']}/"
    assert admin_api_client.get(detail).json() == data
    patched = admin_api_client.patch(detail, {"exclusive": True, "skus": ["MUG"]}, format="json")
    assert patched.status_code == 200
    assert (patched.json()["exclusive"], patched.json()["skus"], patched.json()["multiplier"]) == (
        True,
        ["MUG"],
        "2.00",
    )
    assert admin_api_client.delete(detail).status_code == 204
    assert admin_api_client.get(detail).status_code == 404
    assert not Promotion.objects.exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "X", "kind": "multiplier"}, "multiplier"),
        ({"name": "X", "kind": "multiplier", "multiplier": "1.00"}, "multiplier"),
        ({"name": "X", "kind": "flat"}, "points"),
        ({"name": "X", "kind": "flat", "points": -5}, "points"),
        ({"name": "X", "kind": "threshold", "points": 5}, "min_total"),
        ({"name": "X", "kind": "first_purchase"}, "points"),
        ({"name": "X", "kind": "nope"}, "kind"),
        ({"name": "X", "kind": "flat", "points": 5, "tiers": ["ghost"]}, "tiers"),
        (
            {
                "name": "X",
                "kind": "flat",
                "points": 5,
                "starts_at": "2030-01-02T00:00:00Z",
                "ends_at": "2030-01-01T00:00:00Z",
            },
            "ends_at",
        ),
        ({"kind": "flat", "points": 5}, "name"),
    ],
)
def test_invalid_promotions_are_422(admin_api_client, data, field):
    response = admin_api_client.post(URL, data, format="json")
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "invalid" and field in response.json()["fields"]
    assert not Promotion.objects.exists()


def test_patch_that_breaks_the_kind_is_refused(admin_api_client):
    created = admin_api_client.post(URL, {"name": "F", "kind": "flat", "points": 5}, format="json").json()
    response = admin_api_client.patch(f"{URL}{created['id']}/", {"kind": "threshold"}, format="json")
    assert response.status_code == 422 and "min_total" in response.json()["fields"]
    assert Promotion.objects.get().kind == "flat"


def test_unknown_promotion_ids_are_404(admin_api_client):
    for bad in ("999", "abc", "9" * 30):
        assert admin_api_client.get(f"{URL}{bad}/").status_code == 404


def test_promotions_need_the_admin_scope(pos_api_client, client):
    assert pos_api_client.get(URL).status_code == 403
    assert pos_api_client.post(URL, {"name": "X", "kind": "flat", "points": 1}, format="json").status_code == 403
    assert client.get(URL).status_code == 401


def test_promotion_applies_to_api_purchases(admin_api_client, pos_api_client, member):
    admin_api_client.post(URL, {"name": "Welcome", "kind": "first_purchase", "points": 50}, format="json")
    response = pos_api_client.post(
        "/api/v1/purchases/",
        {
            "member": member.loyalty_id,
            "order_id": "1",
            "total": "20.00",
            "currency": "EUR",
        },
        format="json",
    )
    data = response.json()
    assert data["points"] == {"base": 20, "bonus": 50, "total": 70}
    assert data["breakdown"][1]["rule"].startswith("promotion:") and "Welcome" in data["breakdown"][1]["description"]
