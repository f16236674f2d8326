"""Admin: purchases and refunds are read-only lists; recording goes through the services."""

from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.models import EarningRule, LedgerTransaction, Purchase, Refund, Store
from loyalty.selectors import member_points_get
from loyalty.services.purchases import purchase_record
from members.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser(email="boss@example.com", password="pw-for-tests-only"))
    return client


@pytest.fixture
def store():
    return Store.objects.create(slug="shop", name="Shop")


def form(store, who, **changes):
    data = {
        "store": store.pk,
        "member": who.loyalty_id,
        "order_id": "A-1",
        "total": "25.00",
        "currency": "EUR",
        "occurred_at_0": "",
        "occurred_at_1": "",
        "shipping": "0",
        "tax": "0",
        "lines": "",
    }
    data.update(changes)
    return data


def test_record_purchase_form_posts_through_the_pipeline(staff_client, store, member):
    url = reverse("admin:loyalty_purchase_add")
    assert staff_client.get(url).status_code == 200
    response = staff_client.post(url, form(store, member, lines="MUG, 2, 6.00\nTEE, 1, 12.00, shirts"))
    purchase = Purchase.objects.get()
    assert response.status_code == 302 and response.url == reverse("admin:loyalty_purchase_change", args=[purchase.pk])
    assert purchase.points_total == 18  # the lines, not the total, earn
    assert purchase.lines[1] == {"sku": "TEE", "quantity": 1, "amount": "12.00", "category": "shirts"}
    assert purchase.transaction.staff_user.email == "boss@example.com"
    assert member_points_get(member=member)["available"] == 18


def test_record_purchase_by_email_and_replay_changes_nothing(staff_client, store, member):
    url = reverse("admin:loyalty_purchase_add")
    staff_client.post(url, form(store, member, member=member.email.upper()))
    staff_client.post(url, form(store, member, member=member.email))
    assert Purchase.objects.count() == 1 and LedgerTransaction.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"currency": "USD"}, "EUR"),
        ({"member": "nobody@example.com"}, "No member"),
        ({"lines": "MUG, 2"}, "Row 1"),
        ({"lines": "MUG, 1, 30.00"}, "more than the total"),
        ({"total": "-1"}, "greater than or equal"),
    ],
)
def test_record_purchase_form_shows_errors(staff_client, store, member, changes, message):
    response = staff_client.post(reverse("admin:loyalty_purchase_add"), form(store, member, **changes))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Purchase.objects.exists()


def test_record_purchase_conflict_is_shown(staff_client, store, member):
    url = reverse("admin:loyalty_purchase_add")
    staff_client.post(url, form(store, member))
    response = staff_client.post(url, form(store, member, total="26.00"))
    assert response.status_code == 200 and "different details" in response.content.decode()


def test_purchase_pages_are_read_only(staff_client, store, member):
    purchase, _ = purchase_record(store=store, member=member, order_id="X", total="10.00", currency="EUR")
    assert staff_client.get(reverse("admin:loyalty_purchase_changelist")).status_code == 200
    page = staff_client.get(reverse("admin:loyalty_purchase_change", args=[purchase.pk]))
    assert page.status_code == 200 and "Record a refund" in page.content.decode()
    assert staff_client.post(reverse("admin:loyalty_purchase_delete", args=[purchase.pk])).status_code == 403
    assert staff_client.get(reverse("admin:loyalty_refund_changelist")).status_code == 200


def test_refund_view_reverses_points(staff_client, store, member):
    purchase, _ = purchase_record(store=store, member=member, order_id="X", total="10.00", currency="EUR")
    url = reverse("admin:loyalty_purchase_refund", args=[purchase.pk])
    assert staff_client.get(url).status_code == 200
    response = staff_client.post(url, {"refund_id": "R1", "amount": "5.00"})
    assert response.status_code == 302
    refund = Refund.objects.get()
    assert refund.points_reversed == 5 and refund.transaction.staff_user.email == "boss@example.com"
    too_much = staff_client.post(url, {"refund_id": "R2", "amount": "5.01"})
    assert too_much.status_code == 200 and "more than the purchase total" in too_much.content.decode()
    assert Refund.objects.count() == 1


def test_non_staff_cannot_record(client, store, member):
    user = User.objects.create_user(email="clerk@example.com", password="pw-for-tests-only", is_staff=True)
    client.force_login(user)
    assert client.post(reverse("admin:loyalty_purchase_add"), form(store, member)).status_code == 403
    assert not Purchase.objects.exists()


def test_earning_rule_admin_validates(staff_client):
    url = reverse("admin:loyalty_earningrule_add")
    both = staff_client.post(url, {"sku": "A", "category": "b", "active": "on"})
    assert both.status_code == 200 and not EarningRule.objects.exists()
    ok = staff_client.post(url, {"sku": "A", "multiplier": "2", "active": "on"})
    assert ok.status_code == 302
    assert EarningRule.objects.get().multiplier == Decimal("2")
    duplicate = staff_client.post(url, {"sku": "A", "excluded": "on", "active": "on"})
    assert duplicate.status_code == 200 and EarningRule.objects.count() == 1
