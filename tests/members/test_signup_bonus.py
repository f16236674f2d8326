"""The sign-up bonus: exactly once per member, however the member was made; a portal sign-up only once its
email address is confirmed; a till member who claims the account online never a second time. And the portal
sign-up with a friend's referral code from /r/<code>."""

import pytest
import tablib
from django.urls import reverse

from campaigns.models import Referral, ReferralChannel, ReferralStatus
from loyalty.models import LedgerTransaction, Store, TransactionKind
from loyalty.selectors import member_points_get
from loyalty.services.woocommerce import woocommerce_order_process
from members.admin import MemberResource
from members.models import Member, MemberStatus, User
from members.services import member_confirm, member_create, member_status_set, signup_bonus_key
from tests.campaigns.support import program_set
from tests.factories import MemberFactory
from tests.loyalty.test_api_webhooks import ORDER
from tests.members.test_signup import confirmation_path, sign_up

pytestmark = pytest.mark.django_db
BONUS = 150


@pytest.fixture(autouse=True)
def _signup_bonus(db):
    program_set(signup_bonus=BONUS)


def bonuses(member) -> list[LedgerTransaction]:
    return list(LedgerTransaction.objects.filter(member=member, idempotency_key=signup_bonus_key(member_id=member.pk)))


def assert_paid_once(member) -> None:
    paid = bonuses(member)
    assert len(paid) == 1
    assert (paid[0].kind, paid[0].points, paid[0].reason_text) == (TransactionKind.BONUS, BONUS, "Sign-up bonus")
    assert member_points_get(member=member)["available"] == BONUS


def test_api_enrolment_pays_once(pos_api_client):
    response = pos_api_client.post("/api/v1/members/", {"email": "api@example.com"}, format="json")
    assert response.status_code == 201
    assert response.json()["points"]["available"] == BONUS
    member = Member.objects.get(email="api@example.com")
    assert_paid_once(member)
    again = pos_api_client.post("/api/v1/members/", {"email": "api@example.com"}, format="json")
    assert again.status_code == 409
    assert_paid_once(member)


def test_admin_enrolment_pays_once(admin_client):
    response = admin_client.post(reverse("admin:members_member_add"), {
        "email": "desk@example.com", "first_name": "Desk", "last_name": "", "birthday": "", "phone": "",
        "language": "en",
    })
    assert response.status_code == 302, response.content
    assert_paid_once(Member.objects.get(email="desk@example.com"))


def test_csv_import_pays_once_and_a_second_import_pays_nothing():
    dataset = tablib.Dataset(headers=["email", "first_name"])
    dataset.append(["csv@example.com", "Cees"])
    assert not MemberResource().import_data(dataset, dry_run=False).has_errors()
    assert not MemberResource().import_data(dataset, dry_run=False).has_errors()
    assert_paid_once(Member.objects.get(email="csv@example.com"))


def test_woocommerce_auto_enrolment_pays_once():
    store = Store.objects.create(slug="web", name="Web", auto_enroll=True)
    woocommerce_order_process(store=store, order=ORDER)
    member = Member.objects.get(email__iexact=ORDER["billing"]["email"])
    paid = bonuses(member)
    assert len(paid) == 1 and paid[0].points == BONUS


def test_no_bonus_when_the_program_has_none():
    program_set(signup_bonus=0)
    member = MemberFactory()
    assert bonuses(member) == [] and member_points_get(member=member)["available"] == 0


def test_the_bonus_is_dated_when_the_member_joined():
    from datetime import timedelta

    from django.utils import timezone

    joined = timezone.now() - timedelta(days=30)
    member = member_create(email="old@example.com", joined_at=joined)
    assert bonuses(member)[0].occurred_at == joined


def test_member_confirm_twice_pays_once():
    member = member_create(email="twice@example.com", confirmed=False)
    assert bonuses(member) == []
    member_confirm(member=member)
    member_confirm(member=member)
    assert_paid_once(member)


def test_a_member_closed_before_confirming_is_not_paid():
    member = member_create(email="closed@example.com", confirmed=False)
    member_status_set(member=member, status=MemberStatus.CLOSED)
    member_confirm(member=Member.objects.get(pk=member.pk))
    assert bonuses(member) == []


# -- the portal -----------------------------------------------------------------------------------------------


def test_portal_sign_up_is_paid_only_when_the_email_is_confirmed(client):
    assert sign_up(client, "portal@example.com").status_code == 302
    member = Member.objects.get(email="portal@example.com")
    assert bonuses(member) == [] and member_points_get(member=member)["available"] == 0
    path = confirmation_path("portal@example.com")
    assert client.post(path).status_code == 302
    assert_paid_once(member)
    client.post(path)  # the link again
    assert_paid_once(member)


def test_a_till_member_who_claims_the_account_online_is_not_paid_twice(client):
    till = member_create(email="till@example.com")
    assert_paid_once(till)
    sign_up(client, "till@example.com")
    client.post(confirmation_path("till@example.com"))
    till.refresh_from_db()
    assert till.user is not None
    assert_paid_once(till)


def test_a_till_member_enrolled_before_the_bonus_existed_gets_none_on_claiming(client):
    program_set(signup_bonus=0)
    till = member_create(email="till@example.com")
    program_set(signup_bonus=BONUS)
    sign_up(client, "till@example.com")
    client.post(confirmation_path("till@example.com"))
    assert bonuses(till) == []


# -- /r/<code> and the sign-up form's referral code -----------------------------------------------------------------


@pytest.fixture
def friend(db):
    return MemberFactory(email="friend@example.com", first_name="Fenna", last_name="Smit")


def test_the_referral_link_fills_in_the_code_and_the_referee_is_paid_on_confirmation(client, friend):
    program_set(referral_referee_bonus=75)
    response = client.get(f"/r/{friend.referral_code.lower()}")
    assert response.status_code == 302 and response.url == reverse("account_signup")
    form = client.get(response.url)
    assert f'value="{friend.referral_code}"' in form.content.decode()

    response = client.post("/accounts/signup/", {
        "email": "new@example.com", "password1": "Tulips-in-Leiden-2025", "password2": "Tulips-in-Leiden-2025",
        "referral_code": friend.referral_code,
    }, REMOTE_ADDR="192.0.2.44")
    assert response.status_code == 302
    member = Member.objects.get(email="new@example.com")
    referral = Referral.objects.get(referee=member)
    assert (referral.referrer, referral.status, referral.channel, referral.ip_address) == (
        friend, ReferralStatus.PENDING, ReferralChannel.PORTAL, "192.0.2.44")
    assert member.referred_by == friend
    assert member_points_get(member=member)["available"] == 0  # not before the email is confirmed

    fresh = client.__class__()  # the confirmation link opened in another browser: the code is in the database
    assert fresh.post(confirmation_path("new@example.com")).status_code == 302
    assert member_points_get(member=member)["available"] == BONUS + 75
    assert Referral.objects.get(pk=referral.pk).referee_transaction is not None


def test_an_unknown_referral_code_is_a_form_error(client):
    response = client.post("/accounts/signup/", {
        "email": "new@example.com", "password1": "Tulips-in-Leiden-2025", "password2": "Tulips-in-Leiden-2025",
        "referral_code": "NOSUCH99",
    })
    assert response.status_code == 200
    assert "No member has this referral code" in response.content.decode()
    assert not User.objects.exists()


def test_the_referral_link_reveals_nothing_about_the_code(client):
    assert client.get("/r/NOSUCH99/").status_code == 302
    assert client.get("/r/NOSUCH99").url == reverse("account_signup")
