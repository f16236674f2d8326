"""PATCH /api/v1/members/{loyalty_id}/ (admin scope) and PATCH /api/v1/me/: profile changes with validation."""

import pytest
from django.db import IntegrityError
from rest_framework.test import APIClient

from members.models import Member, MemberStatus, User
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def url(member) -> str:
    return f"/api/v1/members/{member.loyalty_id}/"


def test_admin_changes_a_members_profile(admin_api_client, member):
    response = admin_api_client.patch(url(member), {
        "first_name": "Mia", "last_name": "de Vries", "phone": "+31 6 1234 5678", "birthday": "1990-05-17",
        "nickname": "MiaV", "leaderboard_opt_in": True, "marketing_consent": True,
    }, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["first_name"], response.json()["last_name"]) == ("Mia", "de Vries")
    fresh = Member.objects.get(pk=member.pk)
    assert (fresh.phone, str(fresh.birthday), fresh.nickname, fresh.leaderboard_opt_in) == (
        "+31 6 1234 5678", "1990-05-17", "MiaV", True)
    assert fresh.marketing_consent and fresh.marketing_consent_at is not None


def test_only_the_fields_sent_change(admin_api_client, member):
    admin_api_client.patch(url(member), {"nickname": "first"}, format="json")
    admin_api_client.patch(url(member), {"phone": "0612345678"}, format="json")
    assert Member.objects.get(pk=member.pk).nickname == "first"


def test_a_pos_key_cannot_change_a_member(pos_api_client, member):
    assert pos_api_client.patch(url(member), {"first_name": "X"}, format="json").status_code == 403
    assert pos_api_client.get(url(member)).status_code == 200  # reading stays open to pos keys


@pytest.mark.parametrize(("nickname", "ok"), [("ab", False), ("abc", True), ("x" * 30, True), ("x" * 31, False),
                                              ("  abc  ", True)])
def test_a_nickname_is_3_to_30_characters(admin_api_client, member, nickname, ok):
    response = admin_api_client.patch(url(member), {"nickname": nickname}, format="json")
    assert response.status_code == (200 if ok else 422), response.content
    if not ok:
        assert "nickname" in response.json()["fields"]


def test_a_nickname_is_unique_whatever_its_case(admin_api_client, member):
    MemberFactory().__class__.objects.filter(pk=MemberFactory(email="o@example.com").pk).update(nickname="Speedy")
    response = admin_api_client.patch(url(member), {"nickname": "sPEEDY"}, format="json")
    assert response.status_code == 422 and response.json()["fields"]["nickname"]
    assert admin_api_client.patch(url(member), {"nickname": ""}, format="json").status_code == 200  # clears


def test_the_database_refuses_a_duplicate_nickname(member):
    other = MemberFactory()
    Member.objects.filter(pk=member.pk).update(nickname="Speedy")
    with pytest.raises(IntegrityError):
        Member.objects.filter(pk=other.pk).update(nickname="SPEEDY")


def test_the_leaderboard_needs_a_nickname(admin_api_client, member):
    response = admin_api_client.patch(url(member), {"leaderboard_opt_in": True}, format="json")
    assert response.status_code == 422 and "nickname" in response.json()["fields"]


def test_status_changes_and_closed_is_final(admin_api_client, member):
    assert admin_api_client.patch(url(member), {"status": "suspended"}, format="json").json()["status"] == "suspended"
    assert admin_api_client.patch(url(member), {"status": "active"}, format="json").json()["status"] == "active"
    assert admin_api_client.patch(url(member), {"status": "closed"}, format="json").status_code == 200
    for status in ("active", "suspended"):
        response = admin_api_client.patch(url(member), {"status": status, "first_name": "Again"}, format="json")
        assert response.status_code == 422 and "status" in response.json()["fields"]
    fresh = Member.objects.get(pk=member.pk)
    assert fresh.status == MemberStatus.CLOSED and fresh.first_name != "Again"  # all or nothing


def test_bad_input_is_422_and_changes_nothing(admin_api_client, member):
    for body in ({"status": "gone"}, {"phone": "call me"}, {"birthday": "2999-01-01"}, {"leaderboard_opt_in": "x"}):
        response = admin_api_client.patch(url(member), body, format="json")
        assert response.status_code == 422, body
    assert admin_api_client.patch("/api/v1/members/0000000000000000/", {}, format="json").status_code == 404


# -- /me/ ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def me():
    user = User.objects.create_user("me@example.com", "correct horse battery")
    return MemberFactory(email=user.email, user=user)


def test_a_member_changes_their_own_profile(me):
    client = APIClient()
    client.force_login(me.user)
    response = client.patch("/api/v1/me/", {"nickname": "mee", "language": "nl", "leaderboard_opt_in": True,
                                            "first_name": "Me"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["loyalty_id"] == me.loyalty_id
    fresh = Member.objects.get(pk=me.pk)
    assert (fresh.nickname, fresh.language, fresh.leaderboard_opt_in, fresh.first_name) == ("mee", "nl", True, "Me")


def test_a_member_cannot_change_their_status_or_birthday_through_me(me):
    client = APIClient()
    client.force_login(me.user)
    response = client.patch("/api/v1/me/", {"status": "closed", "birthday": "1990-01-01"}, format="json")
    assert response.status_code == 200
    fresh = Member.objects.get(pk=me.pk)
    assert fresh.status == MemberStatus.ACTIVE and fresh.birthday is None


def test_me_patch_validates(me):
    MemberFactory(email="x@example.com").__class__.objects.filter(email="x@example.com").update(nickname="taken")
    client = APIClient()
    client.force_login(me.user)
    for body in ({"nickname": "TAKEN"}, {"nickname": "no"}, {"language": "xx"}, {"leaderboard_opt_in": True}):
        assert client.patch("/api/v1/me/", body, format="json").status_code == 422, body


def test_me_patch_needs_the_csrf_token(me):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(me.user)
    assert client.patch("/api/v1/me/", {"first_name": "X"}, format="json").status_code == 403
    assert Member.objects.get(pk=me.pk).first_name != "X"
