"""Referrals over the API: enrolment with a code, the referral lists (member isolation on /me/referrals/)."""

import pytest
from rest_framework.test import APIClient

from campaigns.models import Referral, ReferralStatus
from loyalty.models import Store
from loyalty.services.purchases import purchase_record
from members.models import Member, User
from members.services import member_create
from tests.campaigns.support import program_set
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _bonuses(db):
    program_set(referral_referrer_bonus=300, referral_referee_bonus=100, referral_cap=5)


@pytest.fixture
def anna():
    user = User.objects.create_user("anna@example.com", "correct horse battery")
    return MemberFactory(email=user.email, user=user, first_name="Anna", last_name="Jansen")


def test_a_till_enrols_with_a_referral_code(pos_api_client, anna):
    body = {"email": "bram@example.com", "first_name": "Bram", "last_name": "Bakker",
            "referral_code": anna.referral_code.lower()}
    response = pos_api_client.post("/api/v1/members/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["points"]["available"] == 100
    referee = Member.objects.get(email="bram@example.com")
    assert referee.referred_by == anna
    assert Referral.objects.get(referee=referee).status == ReferralStatus.PENDING


def test_an_unknown_referral_code_is_422_with_the_field(pos_api_client):
    response = pos_api_client.post("/api/v1/members/", {"email": "bram@example.com", "referral_code": "NOPE1234"},
                                   format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid" and "referral_code" in response.json()["fields"]
    assert not Member.objects.filter(email="bram@example.com").exists()


def test_the_members_referrals(pos_api_client, anna, django_capture_on_commit_callbacks):
    store = Store.objects.create(slug="shop", name="Shop")
    bram = member_create(email="bram@example.com", first_name="Bram", last_name="Bakker", referred_by=anna)
    member_create(email="anna+alias@example.com", first_name="Ann", referred_by=anna)  # blocked: same mailbox
    with django_capture_on_commit_callbacks(execute=True):
        purchase_record(store=store, member=bram, order_id="1", total="20.00", currency="EUR")
    response = pos_api_client.get(f"/api/v1/members/{anna.loyalty_id}/referrals/")
    assert response.status_code == 200
    body = response.json()
    assert body["referral_code"] == anna.referral_code
    assert body["referral_url"] == f"http://testserver/r/{anna.referral_code}"
    assert (body["rewarded_count"], body["count"]) == (1, 2)
    results = {r["referee"]: r for r in body["results"]}
    assert set(results) == {"Bram B.", "Ann"}
    assert (results["Bram B."]["status"], results["Bram B."]["points"]) == ("rewarded", 300)
    assert results["Bram B."]["rewarded_at"] is not None
    assert (results["Ann"]["status"], results["Ann"]["reason"], results["Ann"]["points"]) == (
        "blocked", "same_email", 0)
    assert "bram@example.com" not in response.content.decode()
    assert pos_api_client.get("/api/v1/members/0000000000000000/referrals/").status_code == 404


def test_me_referrals_show_only_my_own(anna):
    other = MemberFactory(email="other@example.com")
    member_create(email="mine@example.com", first_name="Mine", referred_by=anna)
    member_create(email="theirs@example.com", first_name="Theirs", referred_by=other)
    client = APIClient()
    client.force_login(anna.user)
    body = client.get("/api/v1/me/referrals/").json()
    assert body["referral_code"] == anna.referral_code
    assert [r["referee"] for r in body["results"]] == ["Mine"]
    assert body["count"] == 1


def test_me_referrals_need_a_signed_in_member(client):
    assert client.get("/api/v1/me/referrals/").status_code in (401, 403)
