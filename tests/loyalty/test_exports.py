"""CSV exports of members, transactions, purchases and redemptions: streamed, filtered like the list,
formula-like cells escaped."""

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.http import StreamingHttpResponse
from django.urls import reverse

from loyalty.exports import csv_safe
from loyalty.models import Store
from loyalty.services.ledger import Audit, points_adjust, points_credit
from loyalty.services.purchases import purchase_record
from members.models import MemberStatus, User
from rewards.services import reward_redeem
from tests.factories import MemberFactory
from tests.rewards.factories import RewardFactory

pytestmark = pytest.mark.django_db


def rows(response):
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


@pytest.fixture
def data(db):
    store = Store.objects.create(slug="till", name="Till")
    ann = MemberFactory(email="ann@example.com", first_name="=HYPERLINK(\"x\")", phone="+31 6 1234 5678")
    bob = MemberFactory(email="bob@example.com", first_name="Bob")
    bob.status = MemberStatus.SUSPENDED
    bob.save()
    purchase_record(store=store, member=ann, order_id="T-1", total=Decimal("12.50"), currency="EUR")
    points_adjust(member=ann, points=-2, reason="-2 for a typo")
    points_credit(member=ann, points=500, audit=Audit(reason="Gift", idempotency_key="gift"))
    reward = RewardFactory(code="mug", name="Reward 0", cost_points=100)
    reward_redeem(member=ann, reward=reward)
    return {"ann": ann, "bob": bob}


def test_members_export_follows_the_list_filters_and_escapes_formulas(admin_client, data):
    url = reverse("admin:members_member_export_csv")
    everyone = rows(admin_client.get(url))
    assert [row["email"] for row in everyone] == ["bob@example.com", "ann@example.com"]
    ann = everyone[1]
    assert ann["first_name"] == "'=HYPERLINK(\"x\")"
    assert ann["phone"] == "+31 6 1234 5678"
    assert (ann["available_points"], ann["pending_points"], ann["status"]) == ("411", "0", "active")
    suspended = rows(admin_client.get(url, {"status__exact": "suspended"}))
    assert [row["email"] for row in suspended] == ["bob@example.com"]
    searched = rows(admin_client.get(url, {"q": "ann@"}))
    assert [row["loyalty_id"] for row in searched] == [data["ann"].loyalty_id]


def test_the_list_links_to_the_export_with_its_filters(admin_client, data):
    page = admin_client.get(reverse("admin:members_member_changelist"), {"status__exact": "active"})
    assert page.context["csv_export_url"] == reverse("admin:members_member_export_csv") + "?status__exact=active"
    assert "Export CSV" in page.content.decode()


def test_transactions_export_renders_reasons_and_escapes_typed_ones(admin_client, data):
    exported = rows(admin_client.get(reverse("admin:loyalty_ledgertransaction_export_csv")))
    reasons = {row["kind"]: row["reason"] for row in exported}
    assert reasons["adjust"] == "'-2 for a typo"
    assert reasons["redeem"] == "Reward redeemed: Reward 0"
    assert {row["points"] for row in exported} >= {"-2", "500", "-100"}
    assert all(row["loyalty_id"] == data["ann"].loyalty_id for row in exported)


def test_purchases_and_redemptions_export(admin_client, data):
    purchases = rows(admin_client.get(reverse("admin:loyalty_purchase_export_csv")))
    assert [(row["order_id"], row["total"], row["store"]) for row in purchases] == [("T-1", "12.50", "till")]
    redemptions = rows(admin_client.get(reverse("admin:rewards_redemption_export_csv")))
    assert [(row["reward"], row["points"], row["status"]) for row in redemptions] == [("mug", "100", "issued")]
    assert "code" not in redemptions[0]


def test_export_needs_view_permission(client, data):
    staff = User.objects.create_user(email="clerk@example.com", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("admin:loyalty_purchase_export_csv")).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_purchase"))
    client.force_login(User.objects.get(pk=staff.pk))
    assert client.get(reverse("admin:loyalty_purchase_export_csv")).status_code == 200


def test_export_reads_rows_lazily(admin_client, data, django_assert_num_queries):
    response = admin_client.get(reverse("admin:members_member_export_csv"))
    with django_assert_num_queries(1):  # the rows are read while the response streams, in chunks
        lines = list(response.streaming_content)
    assert len(lines) == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [("=1+1", "'=1+1"), ("@SUM(A1)", "'@SUM(A1)"), ("+31 6 1234", "+31 6 1234"), ("+1+1", "'+1+1"),
     ("\tx", "'\tx"), ("plain", "plain"), (-5, -5), (None, "")],
)
def test_csv_safe(value, expected):
    assert csv_safe(value) == expected
