from datetime import timedelta

import pytest
from django.urls import include, path
from django.utils import timezone
from rest_framework.test import APIClient

from loyalty.api.base import PosApi
from loyalty.models import ApiKey, ApiKeyScope, LedgerTransaction
from loyalty.services.api_keys import api_key_authenticate, api_key_create, api_key_revoke
from loyalty.urls import handler404, handler500  # noqa: F401  (the project's handlers, for this URLconf)
from members.models import Member

pytestmark = pytest.mark.django_db


class CrashProbeApi(PosApi):
    def get(self, request):
        raise RuntimeError("boom")


# This module doubles as a URLconf for the crash test: the real routes plus a view that fails.
urlpatterns = [
    path("api/v1/crash/", CrashProbeApi.as_view()),
    path("", include("loyalty.urls")),
]


def client_with(header: str | None) -> APIClient:
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code and isinstance(body["detail"], str) and body["detail"]
    assert set(body) <= {"code", "detail", "fields", "loyalty_id"}
    return body


# -- 401 / 403 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "", "Api-Key", "Api-Key not-a-key", "Bearer abc", "Api-Key a b", "Token abc", "api-key abc"],
)
def test_missing_or_bad_key_is_401(member, header):
    response = client_with(header).get(f"/api/v1/members/{member.loyalty_id}/")
    body = assert_error(response, 401, "unauthorized")
    assert "fields" not in body
    assert response["WWW-Authenticate"] == "Api-Key"


def test_revoked_key_is_401(pos_api_client, member):
    assert pos_api_client.get(f"/api/v1/members/{member.loyalty_id}/").status_code == 200
    api_key_revoke(api_key=pos_api_client.api_key)
    assert_error(pos_api_client.get(f"/api/v1/members/{member.loyalty_id}/"), 401, "unauthorized")


def test_a_key_works_only_whole(pos_api_client, member):
    prefix = pos_api_client.raw_key.split(".")[0]
    assert_error(client_with(f"Api-Key {prefix}").get(f"/api/v1/members/{member.loyalty_id}/"), 401, "unauthorized")


def test_401_comes_before_validation_and_changes_nothing(member):
    response = client_with("Api-Key nope").post("/api/v1/members/", {"email": "x@example.com"}, format="json")
    assert_error(response, 401, "unauthorized")
    assert Member.objects.count() == 1


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/program/"),
        ("patch", "/api/v1/program/"),
        ("get", "/api/v1/stores/"),
        ("post", "/api/v1/stores/"),
        ("get", "/api/v1/stores/till-1/"),
        ("patch", "/api/v1/stores/till-1/"),
        ("post", "/api/v1/members/{loyalty_id}/adjustments/"),
    ],
)
def test_pos_key_on_admin_endpoints_is_403(pos_api_client, member, method, url):
    response = getattr(pos_api_client, method)(url.format(loyalty_id=member.loyalty_id), {}, format="json")
    assert_error(response, 403, "forbidden")


def test_the_scheme_name_is_case_insensitive(pos_api_client, member):
    response = client_with(f"api-key {pos_api_client.raw_key}").get(f"/api/v1/members/{member.loyalty_id}/")
    assert response.status_code == 200


def test_admin_key_may_call_pos_endpoints(admin_api_client, member):
    assert admin_api_client.get(f"/api/v1/members/{member.loyalty_id}/").status_code == 200


def test_each_scope_of_key_from_the_service(api_store, member):
    for scope, status in ((ApiKeyScope.POS, 403), (ApiKeyScope.ADMIN, 200)):
        _key, raw = api_key_create(store=api_store, scope=scope)
        assert client_with(f"Api-Key {raw}").get("/api/v1/program/").status_code == status


# -- bad input never gives a 5xx ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [b"{", b'{"email": }', b"\xff\xfe", b'{"email": NaN}', b'{"points": Infinity, "reason": "x"}', b"nul\x00"]
)
def test_malformed_json_is_400_invalid(admin_api_client, member, body):
    for url in ("/api/v1/members/", f"/api/v1/members/{member.loyalty_id}/adjustments/"):
        response = admin_api_client.generic("POST", url, body, content_type="application/json")
        assert_error(response, 400, "invalid")
    response = admin_api_client.generic("PATCH", "/api/v1/program/", body, content_type="application/json")
    assert_error(response, 400, "invalid")
    assert not LedgerTransaction.objects.exists()


@pytest.mark.parametrize("body", [b"[]", b"[1, 2]", b'"text"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object_is_422(admin_api_client, member, body):
    response = admin_api_client.generic("POST", "/api/v1/members/", body, content_type="application/json")
    assert_error(response, 422, "invalid")
    response = admin_api_client.generic(
        "POST", f"/api/v1/members/{member.loyalty_id}/adjustments/", body, content_type="application/json"
    )
    assert_error(response, 422, "invalid")


def test_empty_body_is_422(admin_api_client):
    response = admin_api_client.generic("POST", "/api/v1/members/", b"", content_type="application/json")
    assert_error(response, 422, "invalid")


def test_other_content_types_are_415(admin_api_client):
    response = admin_api_client.generic("POST", "/api/v1/members/", b"email=x@example.com",
                                        content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type")
    assert not Member.objects.exists()


def test_wrong_method_is_405_in_the_error_shape(pos_api_client, member):
    assert_error(pos_api_client.delete(f"/api/v1/members/{member.loyalty_id}/"), 405, "method_not_allowed")
    assert_error(pos_api_client.put("/api/v1/members/", {}, format="json"), 405, "method_not_allowed")


def test_unknown_fields_are_ignored(pos_api_client):
    response = pos_api_client.post(
        "/api/v1/members/", {"email": "x@example.com", "loyalty_id": "1234", "status": "closed", "extra": [1]},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["status"] == "active" and response.json()["loyalty_id"] != "1234"


def test_unknown_api_url_is_a_json_404(pos_api_client):
    for url in ("/api/v1/nothing-here/", "/api/v1/members//", "/api/v2/members/"):
        assert_error(pos_api_client.get(url), 404, "not_found")


@pytest.mark.urls(__name__)
def test_an_unexpected_crash_is_a_json_500_under_the_api(pos_api_client):
    pos_api_client.raise_request_exception = False
    response = pos_api_client.get("/api/v1/crash/")
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"
    assert "boom" not in response.content.decode()


def test_the_key_look_up_loads_the_key_and_its_store_as_the_orm_does(api_store):
    """The look-up is SQL written from the models' fields (it runs on every request): every field, with the
    ORM's conversions (JSON, dates), and the key's store, with no further query."""
    api_key, raw = api_key_create(store=api_store, scope="admin", name="Till 3")
    ApiKey.objects.filter(pk=api_key.pk).update(
        lookups_limited_until={"coupon": "2026-12-06T10:00:00+00:00"},
        last_used_at=timezone.now() - timedelta(seconds=5),
    )
    found = api_key_authenticate(raw=raw)
    expected = ApiKey.objects.select_related("store").get(pk=api_key.pk)
    for model_field in ApiKey._meta.concrete_fields:
        assert getattr(found, model_field.attname) == getattr(expected, model_field.attname), model_field.name
    for model_field in type(api_store)._meta.concrete_fields:
        assert getattr(found.store, model_field.attname) == getattr(expected.store, model_field.attname)
    assert found._state.adding is False and found.store == api_store
    api_key_revoke(api_key=api_key)
    assert api_key_authenticate(raw=raw) is None
