"""Portal pages for rewards: the catalogue, the confirmation step, the member's coupons (QR code, how to use,
cancelling), every refusal, and member isolation on every URL that takes an id."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from loyalty.services.tiers import tier_create
from members.models import User
from members.services import member_create
from rewards.models import Redemption, RedemptionStatus, RewardKind
from rewards.services import coupon_use, points_redeem_for_discount, reward_redeem, voucher_codes_import
from tests.rewards.conftest import give
from tests.rewards.factories import RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal(client):
    user = User.objects.create_user(email="pat@example.com", password="correct horse battery")
    client.member = member_create(email="pat@example.com", user=user)
    client.force_login(user)
    return client


@pytest.fixture
def other():
    user = User.objects.create_user(email="other@example.com", password="correct horse battery")
    member = member_create(email="other@example.com", user=user)
    give(member, 1000)
    return member


def test_catalogue_shows_cost_points_to_go_and_a_way_to_redeem(portal):
    give(portal.member, 150)
    RewardFactory(name="Free coffee", code="coffee", cost_points=100)
    RewardFactory(name="Spa day", code="spa", cost_points=5000)
    response = portal.get(reverse("rewards:catalogue"))
    content = response.content.decode()
    assert response.status_code == 200
    assert "Free coffee" in content and "Spa day" in content
    assert "4,850 points to go" in content
    assert '<progress max="5000" value="150"' in content
    assert reverse("rewards:reward", args=["coffee"]) in content
    assert "worth €1.50" in content


def test_catalogue_says_out_of_stock_without_a_count_and_warns_when_stock_is_low(portal):
    give(portal.member, 1000)
    RewardFactory(name="Gone", code="gone", stock=0)
    RewardFactory(name="Few", code="few", stock=3)
    RewardFactory(name="Plenty", code="plenty", stock=500)
    content = portal.get(reverse("rewards:catalogue")).content.decode()
    assert "Out of stock" in content and "0 left" not in content
    assert "Only 3 left" in content and "Only 500 left" not in content


def test_catalogue_shows_tier_locks(portal):
    give(portal.member, 1000)
    tier_create(code="bronze", name="Bronze", rank=1, threshold=0)
    gold = tier_create(code="gold", name="Gold", rank=2, threshold=5000)
    RewardFactory(name="Lounge", code="lounge", min_tier=gold)
    content = portal.get(reverse("rewards:catalogue")).content.decode()
    assert "For Gold members and above" in content


def test_redeeming_takes_a_confirmation_step(portal):
    give(portal.member, 150)
    RewardFactory(code="coffee", name="Free coffee", cost_points=100)
    page = portal.get(reverse("rewards:reward", args=["coffee"]))
    content = page.content.decode()
    assert "Redeem this reward?" in content and "Yes, redeem for 100 points" in content
    assert page.context["after"] == 50
    assert not Redemption.objects.exists()  # looking is not redeeming
    assert portal.get(reverse("rewards:redeem", args=["coffee"])).status_code == 405


def test_redeem_after_confirming_shows_the_coupon(portal):
    give(portal.member, 150)
    RewardFactory(code="coffee", cost_points=100)
    response = portal.post(reverse("rewards:redeem", args=["coffee"]), {"form_token": "t1"}, follow=True)
    redemption = Redemption.objects.get()
    assert response.redirect_chain[-1][0] == reverse("rewards:coupon", args=[redemption.pk])
    assert redemption.member == portal.member and redemption.store is None
    content = response.content.decode()
    assert redemption.code in content and reverse("rewards:coupon_qr", args=[redemption.pk]) in content
    assert "How to use it" in content
    # the same form submitted twice (a double click) redeems once
    portal.post(reverse("rewards:redeem", args=["coffee"]), {"form_token": "t1"})
    assert Redemption.objects.count() == 1


def test_redeem_refusals_are_explained_on_the_reward(portal):
    give(portal.member, 50)
    RewardFactory(code="coffee", cost_points=100)
    page = portal.get(reverse("rewards:reward", args=["coffee"])).content.decode()
    assert "You need 50 more points for this reward." in page and "Yes, redeem" not in page
    response = portal.post(reverse("rewards:redeem", args=["coffee"]), {"form_token": "t2"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("rewards:reward", args=["coffee"])
    assert "100 points needed, 50 available." in response.content.decode()
    assert not Redemption.objects.exists()


def test_unknown_or_inactive_rewards_answer_404(portal):
    RewardFactory(code="old", active=False)
    assert portal.get(reverse("rewards:reward", args=["old"])).status_code == 404
    assert portal.get(reverse("rewards:reward", args=["nothing"])).status_code == 404
    assert portal.post(reverse("rewards:redeem", args=["nothing"])).status_code == 404


def test_redeem_needs_post_and_csrf(portal):
    RewardFactory(code="coffee")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(portal.member.user)
    assert strict.post(reverse("rewards:redeem", args=["coffee"])).status_code == 403
    assert strict.post(reverse("rewards:coupon_cancel", args=[1])).status_code == 403


def test_my_coupons_lists_usable_ones_first_with_how_to_use(portal):
    give(portal.member, 1000)
    reward = RewardFactory(code="coffee", name="Free coffee", cost_points=100, kind=RewardKind.FREE_PRODUCT)
    used = reward_redeem(member=portal.member, reward=reward)
    coupon_use(code=used.code, order_id="o-1")
    fresh = reward_redeem(member=portal.member, reward=reward)
    response = portal.get(reverse("rewards:my_coupons"))
    assert response.context["usable"] == [fresh]
    assert list(response.context["page"].object_list) == [used]
    content = response.content.decode()
    assert "Show the code at the till to collect your product." in content
    assert reverse("rewards:coupon_cancel", args=[fresh.pk]) in content
    assert reverse("rewards:coupon_cancel", args=[used.pk]) not in content


def test_cancelling_an_unused_coupon_gives_the_points_back(portal):
    give(portal.member, 300)
    reward = RewardFactory(code="coffee", cost_points=100, stock=5)
    redemption = reward_redeem(member=portal.member, reward=reward)
    page = portal.get(reverse("rewards:coupon_cancel", args=[redemption.pk]))
    assert "Cancel this coupon?" in page.content.decode()
    assert Redemption.objects.get(pk=redemption.pk).status == RedemptionStatus.ISSUED  # the page asks first
    response = portal.post(reverse("rewards:coupon_cancel", args=[redemption.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("rewards:my_coupons")
    assert "Coupon cancelled: 100 points are back in your account." in response.content.decode()
    redemption.refresh_from_db()
    assert redemption.status == RedemptionStatus.CANCELLED
    assert portal.member.ledger_accounts.get(kind="available").balance == 300
    reward.refresh_from_db()
    assert reward.stock == 5


@pytest.mark.parametrize("case", ["used", "expired", "cancelled", "partner_voucher", "pay_with_points"])
def test_coupons_that_cannot_be_cancelled_are_refused(portal, case):
    give(portal.member, 1000)
    if case == "partner_voucher":
        reward = RewardFactory(code="cinema", kind=RewardKind.PARTNER_VOUCHER, partner_name="Cinema")
        voucher_codes_import(reward=reward, codes=["CINE-1"])
        redemption = reward_redeem(member=portal.member, reward=reward)
    elif case == "pay_with_points":
        redemption = points_redeem_for_discount(member=portal.member, points=100)
    else:
        redemption = reward_redeem(member=portal.member, reward=RewardFactory(code="coffee", cost_points=100))
    if case == "used":
        coupon_use(code=redemption.code, order_id="o-1")
    elif case == "expired":
        past = timezone.now() - timedelta(days=100)
        Redemption.objects.filter(pk=redemption.pk).update(issued_at=past, expires_at=past + timedelta(days=90))
    elif case == "cancelled":
        portal.post(reverse("rewards:coupon_cancel", args=[redemption.pk]))
    status_before = Redemption.objects.get(pk=redemption.pk).status
    balance_before = portal.member.ledger_accounts.get(kind="available").balance
    page = portal.get(reverse("rewards:coupon_cancel", args=[redemption.pk]))
    assert page.status_code == 302  # no confirmation page for what cannot be cancelled
    response = portal.post(reverse("rewards:coupon_cancel", args=[redemption.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("rewards:coupon", args=[redemption.pk])
    assert "cannot be cancelled" in response.content.decode() or "already" in response.content.decode()
    assert Redemption.objects.get(pk=redemption.pk).status == status_before
    assert portal.member.ledger_accounts.get(kind="available").balance == balance_before


@pytest.mark.parametrize("url_name", ["rewards:coupon", "rewards:coupon_qr", "rewards:coupon_cancel"])
def test_another_members_coupon_is_not_found(portal, other, url_name):
    theirs = reward_redeem(member=other, reward=RewardFactory(code="coffee", cost_points=100))
    assert portal.get(reverse(url_name, args=[theirs.pk])).status_code == 404
    if url_name == "rewards:coupon_cancel":
        assert portal.post(reverse(url_name, args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == RedemptionStatus.ISSUED
    assert portal.get(reverse(url_name, args=[999_999])).status_code == 404


def test_coupon_qr_code_is_the_coupons_code(portal):
    give(portal.member, 500)
    redemption = reward_redeem(member=portal.member, reward=RewardFactory(code="coffee", cost_points=100))
    response = portal.get(reverse("rewards:coupon_qr", args=[redemption.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    import qrcode
    import qrcode.image.svg

    expected = qrcode.make(redemption.code, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    assert response.content.decode() == expected.to_string(encoding="unicode")


def test_my_coupons_shows_only_mine(portal, other):
    give(portal.member, 500)
    mine = points_redeem_for_discount(member=portal.member, points=100)
    theirs = points_redeem_for_discount(member=other, points=100)
    content = portal.get(reverse("rewards:my_coupons")).content.decode()
    assert mine.code in content and theirs.code not in content


@pytest.mark.parametrize("url_name", ["rewards:catalogue", "rewards:my_coupons"])
def test_pages_need_a_login(client, url_name):
    response = client.get(reverse(url_name))
    assert response.status_code == 302 and "login" in response["Location"]


def test_user_without_member_record(client):
    user = User.objects.create_user(email="staff@example.com", password="correct horse battery")
    client.force_login(user)
    assert client.get(reverse("rewards:catalogue")).status_code == 200
    assert client.get(reverse("rewards:my_coupons")).status_code == 200
    assert client.get(reverse("rewards:coupon", args=[1])).status_code == 404
    RewardFactory(code="coffee")
    assert client.get(reverse("rewards:reward", args=["coffee"])).status_code == 302
