"""Member portal: dashboard, history, profile and QR code, each showing only the signed-in member's data."""

import datetime

import pytest
import qrcode
import qrcode.image.svg
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from loyalty.services.ledger import Audit, points_credit, points_debit
from members.models import Member
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

PORTAL_URLS = ["portal:dashboard", "portal:history", "portal:profile", "portal:qr"]


def login(**kwargs):
    user = UserFactory(**kwargs)
    user.save()  # the factory sets the password without saving it; a session needs the stored hash
    return user


def grouped(loyalty_id):
    return " ".join(loyalty_id[i : i + 4] for i in range(0, 16, 4))


@pytest.fixture
def me():
    user = login(email="me@example.com")
    return MemberFactory(email=user.email, user=user, first_name="Mia")


@pytest.fixture
def stranger():
    user = login(email="stranger@example.com")
    member = MemberFactory(email=user.email, user=user, first_name="Sam")
    points_credit(member=member, points=777, audit=Audit(reason="Stranger's secret order", idempotency_key="s-1"))
    return member


@pytest.fixture
def my_client(client, me):
    client.force_login(me.user)
    return client


PROFILE = {"first_name": "Mia", "last_name": "Jansen", "nickname": "", "birthday": "", "phone": "",
           "language": "en", "marketing_consent": "", "leaderboard_opt_in": ""}


@pytest.mark.parametrize("url_name", PORTAL_URLS)
def test_anonymous_visitors_are_sent_to_sign_in(client, url_name):
    response = client.get(reverse(url_name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_dashboard_shows_my_points_and_not_anyone_elses(my_client, me, stranger):
    points_credit(member=me, points=120, audit=Audit(reason="Order 42", idempotency_key="m-1"))
    expires = timezone.now() + datetime.timedelta(days=30)
    points_credit(member=me, points=30, audit=Audit(reason="Review bonus", idempotency_key="m-2"), kind="bonus",
                  expires_at=expires)
    points_credit(member=me, points=5, audit=Audit(reason="Later", idempotency_key="m-3"),
                  available_at=timezone.now() + datetime.timedelta(days=14))
    response = my_client.get(reverse("portal:dashboard"))
    assert response.status_code == 200
    assert response.context["points"] == {"available": 150, "pending": 5, "lifetime_earned": 155}
    assert response.context["expiring"][0]["points"] == 30
    content = response.content.decode()
    assert "Order 42" in content and "Review bonus" in content
    assert grouped(me.loyalty_id) in content
    assert grouped(stranger.loyalty_id) not in content
    assert "Stranger's secret order" not in content


def test_history_is_paginated_and_only_mine(my_client, me, stranger):
    for n in range(30):
        points_credit(member=me, points=10, audit=Audit(reason=f"Order {n}", idempotency_key=f"h-{n}"))
    points_debit(member=me, points=15, audit=Audit(reason="Coffee voucher", idempotency_key="h-d"))
    first = my_client.get(reverse("portal:history"))
    assert first.status_code == 200
    page = first.context["page"]
    assert page.paginator.count == 31 and len(page.object_list) == 25
    assert page.object_list[0].reason == "Coffee voucher"
    assert all(txn.member_id == me.pk for txn in page.object_list)
    assert "-15" in first.content.decode()
    second = my_client.get(reverse("portal:history"), {"page": 2})
    assert len(second.context["page"].object_list) == 6
    assert my_client.get(reverse("portal:history"), {"page": "999"}).status_code == 200
    assert my_client.get(reverse("portal:history"), {"page": "x"}).status_code == 200
    assert "Stranger's secret order" not in (first.content + second.content).decode()


def test_portal_ignores_attempts_to_name_another_member(my_client, me, stranger):
    for url in [reverse("portal:dashboard") + f"?member={stranger.pk}",
                reverse("portal:history") + f"?member={stranger.pk}&loyalty_id={stranger.loyalty_id}"]:
        assert b"Stranger's secret order" not in my_client.get(url).content


def test_qr_code_is_the_members_own_loyalty_id(my_client, me, stranger):
    response = my_client.get(reverse("portal:qr"))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert "private" in response["Cache-Control"]

    def svg(value):
        image = qrcode.make(value, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
        return image.to_string(encoding="unicode")

    assert response.content.decode() == svg(me.loyalty_id)
    assert response.content.decode() != svg(stranger.loyalty_id)


def test_a_login_without_a_member_sees_a_notice_and_no_qr(client):
    client.force_login(login())
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 200
    assert "portal/no_member.html" in [t.name for t in response.templates]
    assert client.get(reverse("portal:qr")).status_code == 404
    assert client.get(reverse("portal:history")).status_code == 302


def test_profile_saves_and_records_consent(my_client, me):
    assert my_client.get(reverse("portal:profile")).status_code == 200
    response = my_client.post(
        reverse("portal:profile"),
        {**PROFILE, "last_name": "de Vries", "nickname": "  mia_v ", "birthday": "1990-05-17",
         "phone": "+31 6 1234 5678", "language": "nl", "marketing_consent": "on", "leaderboard_opt_in": "on"},
    )
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "nl"
    me.refresh_from_db()
    assert (me.last_name, me.nickname, me.birthday, me.phone, me.language) == (
        "de Vries", "mia_v", datetime.date(1990, 5, 17), "+31 6 1234 5678", "nl",
    )
    assert me.marketing_consent and me.leaderboard_opt_in and me.marketing_consent_at is not None
    my_client.post(reverse("portal:profile"), {**PROFILE, "nickname": "mia_v"})
    me.refresh_from_db()
    assert not me.marketing_consent and me.marketing_consent_at is None


def test_birthday_can_be_set_once_only(my_client, me):
    my_client.post(reverse("portal:profile"), {**PROFILE, "birthday": "1990-05-17"})
    my_client.post(reverse("portal:profile"), {**PROFILE, "birthday": "1991-01-01"})
    me.refresh_from_db()
    assert me.birthday == datetime.date(1990, 5, 17)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"birthday": "2999-01-01"}, "birthday"),
        ({"birthday": "1800-01-01"}, "birthday"),
        ({"birthday": "17/05/1990x"}, "birthday"),
        ({"phone": "call me maybe"}, "phone"),
        ({"leaderboard_opt_in": "on", "nickname": ""}, "nickname"),
        ({"language": "xx"}, "language"),
        ({"first_name": "x" * 101}, "first_name"),
    ],
)
def test_profile_rejects_bad_input_and_changes_nothing(my_client, me, changes, field):
    response = my_client.post(reverse("portal:profile"), {**PROFILE, "last_name": "Changed", **changes})
    assert response.status_code == 200
    assert field in response.context["form"].errors
    me.refresh_from_db()
    assert me.last_name != "Changed"


def test_profile_form_needs_a_csrf_token(me):
    client = Client(enforce_csrf_checks=True)
    client.force_login(me.user)
    response = client.post(reverse("portal:profile"), {**PROFILE, "last_name": "Forged"})
    assert response.status_code == 403
    assert Member.objects.get(pk=me.pk).last_name != "Forged"
    page = client.get(reverse("portal:profile")).content.decode()
    assert 'name="csrfmiddlewaretoken"' in page


def test_sign_in_page_uses_the_portal_layout(client):
    response = client.get(reverse("account_login"))
    assert response.status_code == 200
    assert "base.html" in [t.name for t in response.templates]
    assert b"css/portal.css" in response.content


def test_history_explains_released_points_and_expiry_is_shown_as_last_valid_day(my_client, me):
    earned = timezone.make_aware(datetime.datetime(2026, 1, 10, 12, 0))
    expires = timezone.make_aware(datetime.datetime(2099, 2, 1, 0, 0))  # midnight starting 1 February
    points_credit(member=me, points=40, audit=Audit(reason="Order 7", idempotency_key="r-1", occurred_at=earned),
                  available_at=earned + datetime.timedelta(days=14), now=earned, expires_at=expires)
    from loyalty.services.ledger import points_release

    points_release(member=me, as_of=earned + datetime.timedelta(days=15))
    history = my_client.get(reverse("portal:history")).content.decode()
    assert "40 points are now available" in history
    assert "&ndash;" in history  # a release does not change the total
    dashboard = my_client.get(reverse("portal:dashboard"))
    assert dashboard.context["expiring"] == [{"points": 40, "valid_until": datetime.date(2099, 1, 31)}]
