"""The tiers admin: tier list, the staff tier floor page, and the paid membership record form."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from loyalty.models import Tier, TierChangeKind, TierHistory, TierMembership
from members.models import Member

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser(email="boss@example.com", password="pw")


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def tiers(db):
    return {
        "silver": Tier.objects.create(code="silver", name="Silver", rank=2, threshold=100, colour="#c0c0c0"),
        "gold": Tier.objects.create(code="gold", name="Gold", rank=3, threshold=500),
        "vip": Tier.objects.create(code="vip", name="VIP", rank=5, price=Decimal("49.00"), period_months=12),
    }


def test_tier_list_shows_colour_member_counts_and_tools(admin_client, tiers, member):
    Member.objects.filter(pk=member.pk).update(tier=tiers["gold"])
    response = admin_client.get(reverse("admin:loyalty_tier_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "#c0c0c0" in html
    assert reverse("admin:loyalty_tier_set_floor") in html
    assert reverse("admin:loyalty_tiermembership_add") + f"?tier={tiers['vip'].pk}" in html
    gold = response.context["cl"].result_list.get(pk=tiers["gold"].pk)
    assert gold.member_total == 1


def test_add_tier_in_the_admin_needs_a_period_for_a_price(admin_client, tiers):
    url = reverse("admin:loyalty_tier_add")
    fields = {"code": "bronze", "name": "Bronze", "rank": 1, "threshold": 10, "multiplier": "1.00", "benefits": "",
              "colour": "#8c6d3f", "price": "5.00", "period_months": ""}
    response = admin_client.post(url, fields)
    assert response.status_code == 200
    assert not Tier.objects.filter(code="bronze").exists()
    response = admin_client.post(url, {**fields, "period_months": 6})
    assert response.status_code == 302
    assert Tier.objects.get(code="bronze").period_months == 6


def test_a_tier_in_use_cannot_be_deleted_in_the_admin(admin_client, tiers, member):
    Member.objects.filter(pk=member.pk).update(tier=tiers["gold"])
    response = admin_client.post(reverse("admin:loyalty_tier_delete", args=[tiers["gold"].pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Tier.objects.filter(pk=tiers["gold"].pk).exists()


def test_set_floor_page(admin_client, staff, tiers, member):
    url = reverse("admin:loyalty_tier_set_floor")
    assert admin_client.get(url, {"tier": tiers["gold"].pk}).status_code == 200
    response = admin_client.post(url, {"member": member.pk, "tier": tiers["gold"].pk, "reason": "Won a contest"})
    assert response.status_code == 302
    member = Member.objects.get(pk=member.pk)
    assert (member.tier_id, member.tier_floor_id, member.tier_floor_reason) == (
        tiers["gold"].pk, tiers["gold"].pk, "Won a contest"
    )
    history = TierHistory.objects.get(member=member)
    assert (history.kind, history.staff_user) == (TierChangeKind.FLOOR, staff)


def test_set_floor_needs_a_reason_and_changes_nothing_without(admin_client, tiers, member):
    response = admin_client.post(
        reverse("admin:loyalty_tier_set_floor"), {"member": member.pk, "tier": tiers["gold"].pk, "reason": ""}
    )
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert Member.objects.get(pk=member.pk).tier_floor_id is None


def test_set_floor_needs_permission_to_change_members(client, tiers, member):
    clerk = get_user_model().objects.create_user(email="clerk@example.com", password="pw", is_staff=True)
    client.force_login(clerk)
    response = client.post(
        reverse("admin:loyalty_tier_set_floor"), {"member": member.pk, "tier": tiers["gold"].pk, "reason": "x"}
    )
    assert response.status_code == 403
    assert Member.objects.get(pk=member.pk).tier_floor_id is None


def test_record_paid_membership_in_the_admin(admin_client, staff, tiers, member):
    url = reverse("admin:loyalty_tiermembership_add")
    page = admin_client.get(url, {"tier": tiers["vip"].pk})
    assert page.status_code == 200
    assert page.context["form"].initial["price"] == Decimal("49.00")
    assert list(page.context["form"].fields["tier"].queryset) == [tiers["vip"]]
    response = admin_client.post(
        url, {"member": member.pk, "tier": tiers["vip"].pk, "order_id": "SHOP-9", "price": "49.00",
              "currency": "EUR", "starts_at_0": "", "starts_at_1": "", "store": ""},
    )
    assert response.status_code == 302
    membership = TierMembership.objects.get()
    assert (membership.order_id, membership.staff_user, membership.store) == ("SHOP-9", staff, None)
    assert Member.objects.get(pk=member.pk).tier_id == tiers["vip"].pk
    assert admin_client.get(reverse("admin:loyalty_tiermembership_change", args=[membership.pk])).status_code == 200


def test_record_paid_membership_shows_service_errors(admin_client, tiers, member):
    response = admin_client.post(
        reverse("admin:loyalty_tiermembership_add"),
        {"member": member.pk, "tier": tiers["vip"].pk, "order_id": "SHOP-9", "price": "49.00", "currency": "USD",
         "starts_at_0": "", "starts_at_1": "", "store": ""},
    )
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert not TierMembership.objects.exists()


def test_tier_history_is_read_only(admin_client, tiers, member):
    assert admin_client.get(reverse("admin:loyalty_tierhistory_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:loyalty_tierhistory_add")).status_code == 403
