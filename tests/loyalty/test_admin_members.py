"""Members admin: the member page, manual adjustments, no deletion, CSV import/export; the user admin."""

import uuid

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from loyalty.models import LedgerAccount, LedgerTransaction, Tier, TransactionKind
from loyalty.selectors import member_points_get
from loyalty.services.ledger import Audit, points_credit
from members.models import Member, MemberStatus, User
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser():
    return User.objects.create_superuser(email="boss@example.com", password="pw-for-tests-only")


@pytest.fixture
def staff_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def rich_member(member):
    points_credit(member=member, points=100, audit=Audit(reason="Order 1001", idempotency_key="o-1001"))
    member.refresh_from_db()
    return member


def adjust_url(member):
    return reverse("admin:members_member_adjust_points", args=[member.pk])


def adjust(client, member, points, reason, token=None):
    return client.post(adjust_url(member), {"points": points, "reason": reason, "token": token or uuid.uuid4()})


def test_member_changelist_search_and_filters(staff_client, rich_member):
    other = MemberFactory(first_name="Zelda", email="zelda@example.com")
    url = reverse("admin:members_member_changelist")
    response = staff_client.get(url)
    assert response.status_code == 200
    for query, expected in [(rich_member.loyalty_id, [rich_member]), ("ZELDA@", [other]), ("zelda", [other])]:
        assert list(staff_client.get(url, {"q": query}).context["cl"].result_list) == expected
    rows = {m.pk: m for m in response.context["cl"].result_list}
    assert rows[rich_member.pk].available_points == 100
    other.status = MemberStatus.CLOSED
    other.save()
    assert list(staff_client.get(url, {"status__exact": "closed"}).context["cl"].result_list) == [other]
    tier = Tier.objects.create(code="gold", name="Gold", rank=3, threshold=1000)
    Member.objects.filter(pk=rich_member.pk).update(tier=tier)
    assert list(staff_client.get(url, {"tier__id__exact": tier.pk}).context["cl"].result_list) == [rich_member]


def test_member_change_page_shows_balances_lots_and_history(staff_client, rich_member):
    response = staff_client.get(reverse("admin:members_member_change", args=[rich_member.pk]))
    assert response.status_code == 200
    assert response.context["points"] == {"available": 100, "pending": 0, "lifetime_earned": 100}
    assert [lot.remaining for lot in response.context["open_lots"]] == [100]
    assert [txn.reason for txn in response.context["history"]] == ["Order 1001"]
    content = response.content.decode()
    assert "Order 1001" in content
    assert adjust_url(rich_member) in content
    assert reverse("admin:loyalty_tier_set_floor") + f"?member={rich_member.pk}" in content


def test_member_change_page_does_not_allow_editing_points_or_loyalty_id(staff_client, rich_member):
    url = reverse("admin:members_member_change", args=[rich_member.pk])
    form = staff_client.get(url).context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields}
    data.update({"first_name": "Renamed", "status": "suspended", "lifetime_earned": "99999",
                 "loyalty_id": "9000000000000000", "language": "en"})
    response = staff_client.post(url, data)
    assert response.status_code == 302
    rich_member.refresh_from_db()
    assert (rich_member.first_name, rich_member.status, rich_member.lifetime_earned) == ("Renamed", "suspended", 100)
    assert rich_member.loyalty_id != "9000000000000000"


def test_adjustment_posts_through_the_ledger_and_records_the_staff_user(staff_client, superuser, rich_member):
    assert staff_client.get(adjust_url(rich_member)).status_code == 200
    response = adjust(staff_client, rich_member, 50, "Goodwill after late delivery")
    assert response.status_code == 302
    txn = LedgerTransaction.objects.get(kind=TransactionKind.ADJUST)
    assert (txn.member, txn.points, txn.reason, txn.staff_user) == (
        rich_member, 50, "Goodwill after late delivery", superuser,
    )
    assert member_points_get(member=rich_member)["available"] == 150
    adjust(staff_client, rich_member, -30, "Duplicate order")
    assert member_points_get(member=rich_member)["available"] == 120
    assert LedgerTransaction.objects.filter(kind=TransactionKind.ADJUST, staff_user=superuser).count() == 2


def test_a_resubmitted_adjustment_posts_once(staff_client, rich_member):
    token = uuid.uuid4()
    adjust(staff_client, rich_member, 25, "Goodwill", token=token)
    adjust(staff_client, rich_member, 25, "Goodwill", token=token)
    assert LedgerTransaction.objects.filter(kind=TransactionKind.ADJUST).count() == 1
    assert member_points_get(member=rich_member)["available"] == 125


@pytest.mark.parametrize(
    ("points", "reason", "field"),
    [
        (0, "Nothing", "points"),
        (10, "", "reason"),
        (10, "   ", "reason"),
        ("ten", "Typo", "points"),
        (-101, "Too much", "points"),
        (10**12, "Huge", "points"),
    ],
)
def test_bad_adjustments_show_a_form_error_and_change_nothing(staff_client, rich_member, points, reason, field):
    response = adjust(staff_client, rich_member, points, reason)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not LedgerTransaction.objects.filter(kind=TransactionKind.ADJUST).exists()
    assert member_points_get(member=rich_member) == {"available": 100, "pending": 0, "lifetime_earned": 100}


def test_overdraw_error_names_the_shortfall(staff_client, rich_member):
    response = adjust(staff_client, rich_member, -101, "Too much")
    assert "101 points needed, 100 available." in response.content.decode()


def test_adjustment_needs_view_and_ledger_permissions(client, rich_member):
    staff = User.objects.create_user(email="clerk@example.com", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_member"))
    client.force_login(staff)
    assert client.get(reverse("admin:members_member_change", args=[rich_member.pk])).status_code == 200
    assert adjust(client, rich_member, 10, "Not allowed").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="add_ledgertransaction"))
    staff = User.objects.get(pk=staff.pk)  # drop the permission cache
    client.force_login(staff)
    assert adjust(client, rich_member, 10, "Allowed").status_code == 302
    assert LedgerTransaction.objects.get(kind=TransactionKind.ADJUST).staff_user == staff


def test_adjustment_form_is_csrf_protected(superuser, rich_member):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    assert adjust(client, rich_member, 10, "No token").status_code == 403
    assert not LedgerTransaction.objects.filter(kind=TransactionKind.ADJUST).exists()


def test_members_are_never_deleted(staff_client, rich_member):
    response = staff_client.post(reverse("admin:members_member_delete", args=[rich_member.pk]), {"post": "yes"})
    assert response.status_code == 403
    changelist = staff_client.get(reverse("admin:members_member_changelist"))
    assert b"delete_selected" not in changelist.content
    assert Member.objects.filter(pk=rich_member.pk).exists()


def test_member_added_in_the_admin_is_enrolled_through_the_service(staff_client):
    response = staff_client.post(
        reverse("admin:members_member_add"),
        {"email": "new@example.com", "first_name": "Nia", "last_name": "", "birthday": "", "phone": "",
         "language": "nl", "marketing_consent": "on"},
    )
    assert response.status_code == 302
    member = Member.objects.get(email="new@example.com")
    assert len(member.loyalty_id) == 16 and member.referral_code
    assert LedgerAccount.objects.filter(member=member).count() == 2
    assert member.marketing_consent_at is not None
    duplicate = staff_client.post(
        reverse("admin:members_member_add"), {"email": "NEW@example.com", "language": "en"}
    )
    assert duplicate.status_code == 200
    assert Member.objects.count() == 1


# -- CSV -------------------------------------------------------------------------------------------


# -- users -----------------------------------------------------------------------------------------


def test_user_admin_creates_email_only_logins(staff_client):
    assert staff_client.get(reverse("admin:members_user_changelist")).status_code == 200
    response = staff_client.post(
        reverse("admin:members_user_add"),
        {"email": "clerk@example.com", "usable_password": "true", "password1": "a-long-enough-pw-42",
         "password2": "a-long-enough-pw-42"},
    )
    assert response.status_code == 302
    user = User.objects.get(email="clerk@example.com")
    assert user.check_password("a-long-enough-pw-42")
    assert staff_client.get(reverse("admin:members_user_change", args=[user.pk])).status_code == 200
