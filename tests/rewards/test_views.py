import pytest
from django.urls import reverse

from members.models import User
from members.services import member_create
from rewards.models import Redemption
from rewards.services import points_redeem_for_discount
from tests.rewards.conftest import give
from tests.rewards.factories import RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal(client):
    user = User.objects.create_user(email="pat@example.com", password="correct horse battery")
    client.member = member_create(email="pat@example.com", user=user)
    client.force_login(user)
    return client


def test_catalogue_lists_rewards_with_redeem_buttons(portal):
    give(portal.member, 150)
    RewardFactory(name="Free coffee", code="coffee", cost_points=100)
    RewardFactory(name="Spa day", code="spa", cost_points=5000)
    response = portal.get(reverse("rewards:catalogue"))
    content = response.content.decode()
    assert response.status_code == 200
    assert "Free coffee" in content and "Spa day" in content
    assert reverse("rewards:redeem", args=["coffee"]) in content
    assert reverse("rewards:redeem", args=["spa"]) not in content  # not enough points: no button
    assert "Not enough points yet" in content


def test_redeem_from_the_portal(portal):
    give(portal.member, 150)
    RewardFactory(code="coffee", cost_points=100)
    response = portal.post(reverse("rewards:redeem", args=["coffee"]), {"form_token": "t1"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("rewards:my_coupons")
    redemption = Redemption.objects.get()
    assert redemption.member == portal.member and redemption.store is None
    assert redemption.code in response.content.decode()
    # the same form submitted twice (a double click) redeems once
    portal.post(reverse("rewards:redeem", args=["coffee"]), {"form_token": "t1"})
    assert Redemption.objects.count() == 1


def test_redeem_errors_are_shown_as_messages(portal):
    give(portal.member, 50)
    RewardFactory(code="coffee", cost_points=100)
    response = portal.post(reverse("rewards:redeem", args=["coffee"]), {"form_token": "t2"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("rewards:catalogue")
    assert "100 points needed, 50 available." in response.content.decode()
    assert not Redemption.objects.exists()


def test_redeem_needs_post_and_csrf(portal):
    RewardFactory(code="coffee")
    assert portal.get(reverse("rewards:redeem", args=["coffee"])).status_code == 405
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(portal.member.user)
    assert strict.post(reverse("rewards:redeem", args=["coffee"])).status_code == 403


def test_my_coupons_shows_only_mine(portal):
    give(portal.member, 500)
    mine = points_redeem_for_discount(member=portal.member, points=100)
    other = member_create(email="other@example.com")
    give(other, 500)
    theirs = points_redeem_for_discount(member=other, points=100)
    content = portal.get(reverse("rewards:my_coupons")).content.decode()
    assert mine.code in content and theirs.code not in content


def test_pages_need_a_login(client):
    response = client.get(reverse("rewards:catalogue"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_user_without_member_record(client):
    user = User.objects.create_user(email="staff@example.com", password="correct horse battery")
    client.force_login(user)
    assert client.get(reverse("rewards:catalogue")).status_code == 200
    assert client.get(reverse("rewards:my_coupons")).status_code == 200
