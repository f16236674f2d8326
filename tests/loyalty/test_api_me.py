import pytest
from django.middleware.csrf import get_token
from django.test import RequestFactory
from django.urls import include, path
from rest_framework.response import Response
from rest_framework.test import APIClient

from loyalty.api.base import MemberSessionApi
from loyalty.models import LedgerTransaction
from loyalty.services.ledger import Audit, points_credit
from members.models import User
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


class CsrfProbeApi(MemberSessionApi):
    """An unsafe /me-style endpoint: the base class must check the CSRF token before it runs."""

    calls: list = []

    def post(self, request):
        CsrfProbeApi.calls.append(self.member().pk)
        return Response({"ok": True})


# This module doubles as a URLconf for the CSRF tests: the real routes plus the probe.
urlpatterns = [
    path("probe/", CsrfProbeApi.as_view()),
    path("", include("loyalty.urls")),
]


@pytest.fixture
def me():
    user = User.objects.create_user("me@example.com", "correct horse battery")
    return MemberFactory(email=user.email, user=user)


@pytest.fixture
def other():
    return MemberFactory(email="other@example.com")


@pytest.fixture
def session_client(me):
    client = APIClient()
    client.force_login(me.user)
    return client


def credit(member, points, key):
    return points_credit(member=member, points=points, audit=Audit(reason="test", idempotency_key=key))


def test_me_is_the_signed_in_member(session_client, me, other):
    credit(me, 40, "me")
    credit(other, 900, "other")
    response = session_client.get("/api/v1/me/")
    assert response.status_code == 200
    body = response.json()
    assert body["loyalty_id"] == me.loyalty_id and body["email"] == "me@example.com"
    assert body["points"]["available"] == 40
    assert {"tier", "next_tier", "referral_code", "status", "joined_at"} <= set(body)


def test_me_transactions_are_only_mine(session_client, me, other):
    mine = credit(me, 40, "me")
    credit(other, 900, "other")
    response = session_client.get("/api/v1/me/transactions/")
    assert response.status_code == 200
    body = response.json()
    assert [t["id"] for t in body["results"]] == [mine.pk]
    assert set(body) == {"next", "previous", "results"}


def test_query_parameters_cannot_point_me_at_another_member(session_client, other):
    credit(other, 900, "other")
    for url in (f"/api/v1/me/?loyalty_id={other.loyalty_id}", f"/api/v1/me/transactions/?member={other.loyalty_id}"):
        assert other.loyalty_id.encode() not in session_client.get(url).content


def test_me_without_a_session_is_401(me):
    response = APIClient().get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert APIClient().get("/api/v1/me/transactions/").status_code == 401


def test_me_ignores_api_keys(pos_api_client):
    response = pos_api_client.get("/api/v1/me/")
    assert response.status_code == 401


def test_a_login_without_a_member_is_403():
    client = APIClient()
    client.force_login(User.objects.create_user("staff@example.com", "correct horse battery"))
    response = client.get("/api/v1/me/")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_a_session_cannot_use_the_api_key_endpoints(session_client, me, other):
    for url in (
        f"/api/v1/members/{other.loyalty_id}/",
        f"/api/v1/members/{me.loyalty_id}/",
        f"/api/v1/members/{other.loyalty_id}/transactions/",
        f"/api/v1/members/?email={other.email}",
        "/api/v1/program/",
        "/api/v1/stores/",
    ):
        response = session_client.get(url)
        assert response.status_code == 401, url
        assert response.json()["code"] == "unauthorized"
    response = session_client.post(f"/api/v1/members/{other.loyalty_id}/adjustments/",
                                   {"points": 5, "reason": "x"}, format="json")
    assert response.status_code == 401
    response = session_client.post("/api/v1/members/", {"email": "new@example.com"}, format="json")
    assert response.status_code == 401
    assert not LedgerTransaction.objects.exists()


def _csrf_client(me):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(me.user)
    return client


@pytest.mark.urls(__name__)
def test_unsafe_methods_need_the_csrf_token(me):
    CsrfProbeApi.calls.clear()
    client = _csrf_client(me)
    response = client.post("/probe/", {}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert "CSRF" in response.json()["detail"]
    assert CsrfProbeApi.calls == []


@pytest.mark.urls(__name__)
def test_unsafe_methods_pass_with_the_csrf_token(me):
    CsrfProbeApi.calls.clear()
    client = _csrf_client(me)
    token = get_token(RequestFactory().get("/"))
    client.cookies["csrftoken"] = token
    response = client.post("/probe/", {}, format="json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    assert CsrfProbeApi.calls == [me.pk]


@pytest.mark.urls(__name__)
def test_safe_methods_need_no_csrf_token(me):
    assert _csrf_client(me).get("/api/v1/me/").status_code == 200


def test_me_redemptions_refuse_a_post_without_the_csrf_token(me):
    credit(me, 1000, "me")
    response = _csrf_client(me).post("/api/v1/me/redemptions/", {"reward": "anything"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
