"""The OpenAPI schema is valid, describes this area's endpoints truthfully, and the docs need no CDN."""

import copy
import re
from pathlib import Path

import jsonschema
import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

import loyalty.api
from loyalty.services.ledger import Audit, points_credit
from tests.factories import MemberFactory

MY_PATHS = {
    "/api/v1/members/": {"get", "post"},
    "/api/v1/members/{loyalty_id}/": {"get"},
    "/api/v1/members/{loyalty_id}/transactions/": {"get"},
    "/api/v1/members/{loyalty_id}/adjustments/": {"post"},
    "/api/v1/me/": {"get"},
    "/api/v1/me/transactions/": {"get"},
    "/api/v1/program/": {"get", "patch"},
    "/api/v1/stores/": {"get", "post"},
    "/api/v1/stores/{slug}/": {"get", "patch"},
}
MY_MODULES = [str(Path(loyalty.api.__file__).parent / name) for name in
              ("members.py", "config.py", "me.py", "serializers.py", "base.py", "errors.py")]


@pytest.fixture(scope="module")
def schema():
    GENERATOR_STATS.reset()
    GENERATOR_STATS.silent = True
    try:
        generated = SchemaGenerator().get_schema(request=None, public=True)
        warnings = list(GENERATOR_STATS._warn_cache) + list(GENERATOR_STATS._error_cache)
    finally:
        GENERATOR_STATS.silent = False
    return {"schema": generated, "warnings": warnings}


def test_schema_is_valid_openapi(schema):
    validate_schema(schema["schema"])


def test_this_areas_views_generate_without_warnings(schema):
    mine = [w for w in schema["warnings"] if any(module in w for module in MY_MODULES)]
    assert mine == []


def test_spectacular_command_validates(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--file", str(target))
    assert "/api/v1/members/{loyalty_id}/adjustments/" in target.read_text()


def test_every_operation_is_documented_with_security_and_error_shape(schema):
    paths = schema["schema"]["paths"]
    for path, methods in MY_PATHS.items():
        assert set(paths[path]) >= methods, path
        for method in methods:
            operation = paths[path][method]
            scheme = "cookieAuth" if path.startswith("/api/v1/me/") else "ApiKey"
            assert operation["security"] == [{scheme: []}], (path, method)
            responses = operation["responses"]
            assert any(code.startswith("2") for code in responses)
            assert "401" in responses, (path, method)
            for code, response in responses.items():
                if code.startswith("4"):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.rsplit("/", 1)[1] in ("Error", "MemberExistsError"), (path, method, code)
            if method in ("post", "patch"):
                assert {"400", "422"} <= set(responses), (path, method)
            if method == "post":
                names = [p["name"] for p in operation.get("parameters", [])]
                assert "Idempotency-Key" in names and "409" in responses


def test_admin_operations_document_403(schema):
    paths = schema["schema"]["paths"]
    for path in ("/api/v1/program/", "/api/v1/stores/", "/api/v1/stores/{slug}/",
                 "/api/v1/members/{loyalty_id}/adjustments/"):
        for operation in paths[path].values():
            assert "403" in operation["responses"]


def test_security_schemes(schema):
    schemes = schema["schema"]["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": schemes["ApiKey"]["description"],
    }
    assert schemes["cookieAuth"]["in"] == "cookie"


def test_member_component_has_the_contract_fields(schema):
    components = schema["schema"]["components"]["schemas"]
    member = components["Member"]
    contract = {"loyalty_id", "email", "first_name", "last_name", "status", "joined_at", "tier", "points",
                "next_tier", "referral_code"}
    assert set(member["properties"]) == contract
    assert set(member["required"]) == contract
    assert set(components["MemberPoints"]["properties"]) == {"available", "pending", "lifetime_earned", "expiring"}
    assert components["MemberStatusEnum"]["enum"] == ["active", "suspended", "closed"]
    assert set(components["Transaction"]["properties"]) == {
        "id", "kind", "points", "balance_after", "occurred_at", "reason", "reference"}
    assert set(components["PaginatedTransactionList"]["properties"]) == {"next", "previous", "results"}


# -- real responses match the schema -----------------------------------------------------------------


def _to_json_schema(node, components):
    """OpenAPI 3.0 schema -> JSON Schema: inline $refs, turn `nullable` into a null alternative."""
    if isinstance(node, list):
        return [_to_json_schema(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _to_json_schema(components[node["$ref"].rsplit("/", 1)[1]], components)
    node = {key: _to_json_schema(value, components) for key, value in node.items()
            if key not in ("readOnly", "writeOnly", "format")}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


def response_schema(schema, path, method, status):
    spec = copy.deepcopy(schema["schema"])
    content = spec["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    return _to_json_schema(content, spec["components"]["schemas"])


@pytest.mark.django_db
def test_responses_conform_to_the_schema(schema, pos_api_client, admin_api_client):
    member = MemberFactory()
    points_credit(member=member, points=100,
                  audit=Audit(reason="x", idempotency_key="a"), expires_at=timezone.now() + timezone.timedelta(days=9))
    checks = [
        (pos_api_client.get(f"/api/v1/members/{member.loyalty_id}/"), "/api/v1/members/{loyalty_id}/", "get"),
        (pos_api_client.get("/api/v1/members/", {"email": member.email}), "/api/v1/members/", "get"),
        (pos_api_client.get("/api/v1/members/"), "/api/v1/members/", "get"),
        (pos_api_client.post("/api/v1/members/", {"email": member.email}, format="json"), "/api/v1/members/", "post"),
        (pos_api_client.post("/api/v1/members/", {"email": "n@example.com"}, format="json"),
         "/api/v1/members/", "post"),
        (pos_api_client.get(f"/api/v1/members/{member.loyalty_id}/transactions/"),
         "/api/v1/members/{loyalty_id}/transactions/", "get"),
        (admin_api_client.post(f"/api/v1/members/{member.loyalty_id}/adjustments/",
                               {"points": -500, "reason": "x"}, format="json"),
         "/api/v1/members/{loyalty_id}/adjustments/", "post"),
        (admin_api_client.post(f"/api/v1/members/{member.loyalty_id}/adjustments/",
                               {"points": 5, "reason": "x"}, format="json"),
         "/api/v1/members/{loyalty_id}/adjustments/", "post"),
        (admin_api_client.get("/api/v1/program/"), "/api/v1/program/", "get"),
        (admin_api_client.patch("/api/v1/program/", {"earn_rate": "-1"}, format="json"), "/api/v1/program/", "patch"),
        (admin_api_client.get("/api/v1/stores/"), "/api/v1/stores/", "get"),
        (admin_api_client.post("/api/v1/stores/", {"slug": "w", "name": "W", "woocommerce_secret": "s"},
                               format="json"), "/api/v1/stores/", "post"),
        (admin_api_client.get("/api/v1/stores/w/"), "/api/v1/stores/{slug}/", "get"),
        (pos_api_client.get("/api/v1/program/"), "/api/v1/program/", "get"),
    ]
    statuses = set()
    for response, path, method in checks:
        statuses.add(response.status_code)
        jsonschema.validate(response.json(), response_schema(schema, path, method, response.status_code))
    assert statuses == {200, 201, 403, 409, 422}


# -- docs page ---------------------------------------------------------------------------------------


def test_schema_endpoint_serves_openapi(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


def test_docs_page_loads_swagger_ui_from_our_static_files(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert [a for a in assets if a.startswith(("http:", "https:", "//"))] == []
    bundle = "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    assert f"/static/{bundle}" in assets
    scripts = [asset for asset in assets if asset.startswith("/api/docs/")]  # its own script: no inline code
    assert len(scripts) == 1 and "<script>" not in html
    for asset in set(assets) - set(scripts):
        assert finders.find(asset.removeprefix("/static/")) is not None, asset
    assert "/api/schema/" in client.get(scripts[0].replace("&amp;", "&")).content.decode()
