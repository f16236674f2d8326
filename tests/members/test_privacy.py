"""Download my data and close my membership: what the member gets, what is removed, what is kept, and that a
closed membership has no new activity anywhere (portal, API, jobs)."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from loyalty.models import AccountKind, IdempotencyRecord, LedgerTransaction, TransactionKind
from loyalty.services.jobs import birthday_bonuses_award, expiry_reminders_send
from loyalty.services.ledger import Audit, MemberInactive, points_adjust, points_credit
from loyalty.services.program import program_get
from loyalty.services.verify import ledger_verify
from members.models import Member, MemberStatus, User
from members.services import MemberCloseRefused, member_close, member_create
from rewards.models import Redemption
from rewards.services import coupon_use, reward_redeem
from tests.rewards.factories import RewardFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture
def member():
    user = User.objects.create_user(email="ana@example.com", password=PASSWORD, first_name="Ana")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    member = member_create(email=user.email, user=user, first_name="Ana", last_name="Kok", phone="+31 6 1111 2222",
                           marketing_consent=True)
    points_credit(member=member, points=500, audit=Audit(reason="Welcome points", idempotency_key="p-1"))
    points_credit(member=member, points=40, audit=Audit(reason="Pending order", idempotency_key="p-2"),
                  available_at=timezone.now() + timedelta(days=10))
    points_adjust(member=member, points=25, reason="Sorry Ana, from Piet at the Main Street shop")
    return member


@pytest.fixture
def signed_in(client, member):
    client.force_login(member.user)
    return client


def test_download_my_data_has_profile_transactions_redemptions_and_referrals(signed_in, member):
    reward = RewardFactory(code="cake", name="Cake", cost_points=100)
    reward_redeem(member=member, reward=reward)
    referee = member_create(email="bo@example.com", first_name="Bo", last_name="Bakker", referred_by=member)
    other = member_create(email="eve@example.com", first_name="Eve")
    points_credit(member=other, points=1, audit=Audit(reason="Eve's order", idempotency_key="o-1"))
    response = signed_in.get(reverse("portal:data_download"))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Disposition"] == f'attachment; filename="my-data-{member.loyalty_id}.json"'
    data = json.loads(response.content)
    assert data["profile"]["email"] == "ana@example.com" and data["profile"]["phone"] == "+31 6 1111 2222"
    assert data["profile"]["marketing_consent"] is True and data["profile"]["marketing_consent_at"]
    assert data["points"] == {"available": 425, "pending": 40, "lifetime_earned": 540}
    assert [t["reason"] for t in data["transactions"]] == [
        "Welcome points", "Pending order", "Sorry Ana, from Piet at the Main Street shop", "Reward redeemed: Cake",
    ]
    assert data["redemptions"][0]["reward"] == "Cake" and data["redemptions"][0]["status"] == "issued"
    referral = referee.referral  # the campaigns app's section (members.selectors.member_export_register)
    assert data["referrals"]["referred"] == [{"referee": "Bo B.", "joined_at": referral.created_at.isoformat(),
                                              "status": "pending", "points": 0, "rewarded_at": None}]
    assert "bo@example.com" not in response.content.decode() and "Eve" not in response.content.decode()


def test_data_download_reasons_are_in_the_members_language(signed_in, member):
    signed_in.cookies["django_language"] = "nl"
    data = json.loads(signed_in.get(reverse("portal:data_download")).content)
    assert "Punten gecorrigeerd door de klantenservice" not in json.dumps(data)  # typed text is kept as typed
    assert data["transactions"][0]["reason"] == "Welcome points"


def test_close_membership_asks_first_and_says_what_happens(signed_in, member):
    page = signed_in.get(reverse("portal:close_account")).content.decode()
    assert "Your 565 points are forfeited." in page
    assert 'name="password"' in page and 'name="understood"' in page
    assert Member.objects.get(pk=member.pk).status == MemberStatus.ACTIVE


@pytest.mark.parametrize(
    ("data", "field"),
    [({"password": "wrong", "understood": "on"}, "password"), ({"password": PASSWORD}, "understood")],
)
def test_close_membership_refuses_without_password_or_tick(signed_in, member, data, field):
    response = signed_in.post(reverse("portal:close_account"), data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    member.refresh_from_db()
    assert member.status == MemberStatus.ACTIVE and member.user is not None


def test_closing_anonymises_keeps_the_ledger_signs_out_and_removes_the_login(signed_in, member):
    reward = RewardFactory(code="cake", cost_points=100)
    coupon = reward_redeem(member=member, reward=reward)
    user_pk, session_key = member.user.pk, signed_in.session.session_key
    IdempotencyRecord.objects.create(
        scope=IdempotencyRecord.scope_for(f"user:{user_pk}"), key="k", request_hash="x",
        status_code=201, response_body=b'{"email": "ana@example.com"}',
    )
    transactions_before = LedgerTransaction.objects.filter(member=member).count()

    response = signed_in.post(reverse("portal:close_account"), {"password": PASSWORD, "understood": "on"})

    assert response.status_code == 302 and response["Location"] == reverse("account_closed")
    member.refresh_from_db()
    assert member.status == MemberStatus.CLOSED and member.closed_at is not None
    assert member.email == f"closed-{member.loyalty_id}@closed.invalid"
    assert (member.first_name, member.last_name, member.phone, member.nickname, member.birthday) == ("", "", "", "",
                                                                                                     None)
    assert not member.marketing_consent and member.marketing_consent_at is None and member.user is None
    assert not User.objects.filter(pk=user_pk).exists()
    assert not EmailAddress.objects.filter(email="ana@example.com").exists()
    assert not IdempotencyRecord.objects.filter(key="k").exists()
    # the ledger is kept, one posting forfeits what was left (available and pending), and it balances
    txns = LedgerTransaction.objects.filter(member=member).order_by("id")
    assert txns.count() == transactions_before + 1
    forfeit = txns.last()
    assert (forfeit.kind, forfeit.points, forfeit.reason) == (TransactionKind.EXPIRE, -465,
                                                                "Points forfeited: membership closed")
    balances = dict(member.ledger_accounts.values_list("kind", "balance"))
    assert balances == {AccountKind.AVAILABLE: 0, AccountKind.PENDING: 0}
    assert ledger_verify() == []
    # reasons name no one: the staff-typed one is replaced
    assert not txns.filter(reason__contains="Ana").exists() and not txns.filter(reason__contains="Piet").exists()
    assert txns.filter(kind=TransactionKind.ADJUST).get().reason == "Adjusted by customer service"
    # signed out everywhere: the old session no longer reaches the portal
    assert "_auth_user_id" not in signed_in.session
    stale = Client()
    stale.cookies["sessionid"] = session_key
    assert stale.get(reverse("portal:dashboard")).status_code == 302
    assert Client().post(reverse("account_login"), {"login": "ana@example.com", "password": PASSWORD}).status_code \
        == 200  # the login is gone: the form answers with an error
    # the coupon it held cannot be used any more
    with pytest.raises(MemberInactive):
        coupon_use(code=coupon.code, order_id="o-9")
    assert Redemption.objects.get(pk=coupon.pk).used_at is None


def test_a_closed_membership_gets_no_new_activity(member, pos_api_client, admin_api_client):
    member_close(member=member)
    member.refresh_from_db()
    loyalty_id = member.loyalty_id
    purchase = pos_api_client.post("/api/v1/purchases/", {"member": loyalty_id, "order_id": "A-1", "total": "10.00",
                                                          "currency": "EUR"}, format="json")
    assert purchase.status_code == 422 and purchase.json()["code"] == "member_inactive"
    RewardFactory(code="cake", cost_points=1)
    redeem = pos_api_client.post("/api/v1/redemptions/", {"member": loyalty_id, "reward": "cake"}, format="json")
    assert redeem.status_code == 422 and redeem.json()["code"] == "member_inactive"
    adjust = admin_api_client.post(f"/api/v1/members/{loyalty_id}/adjustments/", {"points": 5, "reason": "x"},
                                   format="json")
    assert adjust.status_code == 422 and adjust.json()["code"] == "member_inactive"
    found = pos_api_client.get("/api/v1/members/", {"email": "ana@example.com"}).json()
    assert found["results"] == []
    # jobs pass the member by
    program = program_get()
    program.birthday_bonus = 50
    program.save()
    Member.objects.filter(pk=member.pk).update(birthday=timezone.localdate())
    assert birthday_bonuses_award(as_of=timezone.now())["members"] == 0
    mail.outbox.clear()
    expiry_reminders_send(as_of=timezone.now())
    assert mail.outbox == []
    with pytest.raises(MemberInactive):
        points_adjust(member=member, points=5, reason="after closing")


def test_closing_twice_or_a_staff_login_is_refused(member):
    member_close(member=member)
    with pytest.raises(MemberCloseRefused):
        member_close(member=Member.objects.get(pk=member.pk))
    staff = User.objects.create_user(email="boss@example.com", password=PASSWORD, is_staff=True)
    staff_member = member_create(email=staff.email, user=staff)
    with pytest.raises(MemberCloseRefused):
        member_close(member=staff_member)
    staff_member.refresh_from_db()
    assert staff_member.status == MemberStatus.ACTIVE and User.objects.filter(pk=staff.pk).exists()


# -- closing by staff: the REST API and the admin go through the same member_close -------------------------


def _closed_like_the_portal(member_pk: int, user_pk: int) -> Member:
    """What closing in the portal leaves: anonymised, login gone, points forfeited, staff-typed reasons neutral."""
    closed = Member.objects.get(pk=member_pk)
    assert closed.status == MemberStatus.CLOSED and closed.closed_at is not None
    assert closed.email == f"closed-{closed.loyalty_id}@closed.invalid"
    assert (closed.first_name, closed.last_name, closed.phone, closed.marketing_consent, closed.user) == (
        "", "", "", False, None)
    assert not User.objects.filter(pk=user_pk).exists()
    assert dict(closed.ledger_accounts.values_list("kind", "balance")) == {AccountKind.AVAILABLE: 0,
                                                                           AccountKind.PENDING: 0}
    assert not LedgerTransaction.objects.filter(member=closed, reason__contains="Ana").exists()
    assert ledger_verify() == []
    return closed


def test_staff_closing_through_the_api_is_the_portals_closing_in_the_audit_log(member, admin_api_client):
    from loyalty.models import StaffAction, StaffActionKind

    url = f"/api/v1/members/{member.loyalty_id}/"
    response = admin_api_client.patch(url, {"status": "closed"}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["first_name"]) == ("closed", "")
    _closed_like_the_portal(member.pk, member.user.pk)
    entry = StaffAction.objects.get()
    assert (entry.kind, entry.source, entry.staff_user, entry.count) == (StaffActionKind.MEMBER_CLOSED, "api", None, 1)
    assert entry.details["api_key"].startswith(admin_api_client.api_key.prefix)
    assert entry.details["selection"] == {"member": member.loyalty_id} and entry.details["points_forfeited"] == 565
    assert "ana" not in json.dumps(entry.details).lower()  # the log names the loyalty ID only
    # Closing is final: closing again changes nothing; reopening or a profile change is a 422 with `fields`.
    assert admin_api_client.patch(url, {"status": "closed"}, format="json").status_code == 200
    assert StaffAction.objects.count() == 1
    for body, field in (({"status": "active"}, "status"), ({"status": "suspended"}, "status"),
                        ({"first_name": "Ana"}, "first_name")):
        refused = admin_api_client.patch(url, body, format="json")
        assert refused.status_code == 422, body
        assert refused.json()["code"] == "invalid" and refused.json()["detail"] and field in refused.json()["fields"]
    assert Member.objects.get(pk=member.pk).first_name == ""


def _change_form_data(admin_client, member) -> dict:
    form = admin_client.get(reverse("admin:members_member_change", args=[member.pk])).context["adminform"].form
    return {name: form.initial.get(name) or "" for name in form.fields if not form.fields[name].disabled}


def test_staff_closing_in_the_admin_is_the_portals_closing_in_the_audit_log(member, admin_client):
    from django.contrib.admin.models import LogEntry

    from loyalty.models import StaffAction, StaffActionKind

    change = reverse("admin:members_member_change", args=[member.pk])
    data = _change_form_data(admin_client, member)
    assert admin_client.post(change, {**data, "phone": "+31 6 3333 4444"}).status_code == 302
    assert LogEntry.objects.filter(object_id=str(member.pk), object_repr__contains="Ana").exists()

    response = admin_client.post(change, {**data, "status": "closed"})

    assert response.status_code == 302, response.content
    _closed_like_the_portal(member.pk, member.user.pk)
    entry = StaffAction.objects.get()
    assert (entry.kind, entry.source, entry.staff_user.email) == (StaffActionKind.MEMBER_CLOSED, "admin",
                                                                  "admin@example.com")
    assert entry.details["selection"] == {"member": member.loyalty_id}
    assert not LogEntry.objects.filter(object_repr__contains="Ana").exists()  # the admin's history names no one
    # Closing is final: the page keeps only the status, and setting it back is a form error.
    assert set(_change_form_data(admin_client, member)) == {"status"}
    again = admin_client.post(change, {"status": "active"})
    assert again.status_code == 200 and "closed membership is final" in again.content.decode()
    assert Member.objects.get(pk=member.pk).status == MemberStatus.CLOSED and StaffAction.objects.count() == 1


def test_staff_closing_a_staff_logins_membership_is_a_clear_error(admin_api_client, admin_client):
    staff = User.objects.create_user(email="boss@example.com", password=PASSWORD, is_staff=True)
    staff_member = member_create(email=staff.email, user=staff, first_name="Boss")
    api = admin_api_client.patch(f"/api/v1/members/{staff_member.loyalty_id}/", {"status": "closed"}, format="json")
    assert api.status_code == 422 and "staff account" in api.json()["fields"]["status"][0]
    change = reverse("admin:members_member_change", args=[staff_member.pk])
    form = admin_client.post(change, {**_change_form_data(admin_client, staff_member), "status": "closed"})
    assert form.status_code == 200 and "staff account" in form.content.decode()
    staff_member.refresh_from_db()
    assert (staff_member.status, staff_member.first_name) == (MemberStatus.ACTIVE, "Boss")
    assert User.objects.filter(pk=staff.pk).exists()


def test_finish_closings_closes_the_members_staff_set_to_closed_before(member):
    """Before every closing went through member_close, staff setting the status left the member named, with
    a login and points: `finish_closings` closes them as the portal does, once."""
    import io

    from django.core.management import call_command

    from loyalty.models import StaffAction, StaffActionKind

    Member.objects.filter(pk=member.pk).update(status=MemberStatus.CLOSED)  # what the admin and the API did
    out = io.StringIO()
    call_command("finish_closings", "--dry-run", stdout=out)
    assert "DRY RUN: 1 closings finished" in out.getvalue() and Member.objects.get(pk=member.pk).first_name == "Ana"

    call_command("finish_closings", stdout=out)

    _closed_like_the_portal(member.pk, member.user.pk)
    entry = StaffAction.objects.get()
    assert (entry.kind, entry.source, entry.count, entry.details["members"]) == (
        StaffActionKind.MEMBER_CLOSED, "command", 1, [member.loyalty_id])
    out = io.StringIO()
    call_command("finish_closings", stdout=out)
    assert "0 closings finished, 0 refused" in out.getvalue() and StaffAction.objects.count() == 1


def test_closed_page_is_public(client):
    assert "Your membership is closed" in client.get(reverse("account_closed")).content.decode()


def test_no_member_page_or_download_shows_a_staff_members_email(signed_in, member):
    staff = User.objects.create_superuser(email="admin.person@shop.example", password=PASSWORD)
    reward = RewardFactory(code="cake", name="Cake", cost_points=100)
    redemption = reward_redeem(member=member, reward=reward)
    admin = Client()
    admin.force_login(staff)
    admin.post(reverse("admin:rewards_redemption_changelist"),
               {"action": "cancel_redemptions", "_selected_action": [redemption.pk]})
    assert Redemption.objects.get(pk=redemption.pk).status == "cancelled"
    pages = [signed_in.get(reverse(name)) for name in
             ("portal:dashboard", "portal:history", "rewards:my_coupons", "portal:data_download")]
    pages.append(signed_in.get(reverse("rewards:coupon", args=[redemption.pk])))
    csv_response = signed_in.get(reverse("portal:history_csv"))
    bodies = [page.content.decode() for page in pages] + [b"".join(csv_response.streaming_content).decode()]
    assert "Cancelled by staff" in bodies[1]
    for body in bodies:
        assert "admin.person" not in body and "shop.example" not in body


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_closing_while_purchases_and_redemptions_race_leaves_a_sound_ledger_and_nothing_held():
    """A close racing a purchase and a redemption (PostgreSQL, separate connections): whatever commits first,
    the ledger balances, the member ends with nothing, and a redemption made before the close is unusable."""
    from loyalty.models import Store
    from loyalty.services.purchases import purchase_record
    from tests.concurrency import run_together

    user = User.objects.create_user(email="race@example.com", password=PASSWORD)
    member = member_create(email=user.email, user=user)
    points_credit(member=member, points=500, audit=Audit(reason="Start", idempotency_key="race-0"))
    reward = RewardFactory(code="cake", cost_points=100)
    store = Store.objects.create(slug="till", name="Till")

    def work(i):
        fresh = Member.objects.get(pk=member.pk)
        if i == 0:
            return member_close(member=fresh)
        if i % 2:
            return purchase_record(store=store, member=fresh, order_id=f"R-{i}", total=Decimal("20.00"),
                                   currency="EUR")
        return reward_redeem(member=fresh, reward=reward)

    results = run_together(work, n=7)
    assert not isinstance(results[0], Exception), results[0]
    for result in results[1:]:  # refused as closed, or (read as active just before) found nothing left to spend
        assert not isinstance(result, Exception) or result.code in ("member_inactive", "insufficient_points"), result
    member.refresh_from_db()
    assert member.status == MemberStatus.CLOSED
    assert dict(member.ledger_accounts.values_list("kind", "balance")) == {AccountKind.AVAILABLE: 0,
                                                                          AccountKind.PENDING: 0}
    assert ledger_verify() == []
    for redemption in Redemption.objects.filter(member=member):
        with pytest.raises(MemberInactive):
            coupon_use(code=redemption.code, order_id="after")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_staff_closing_the_same_member_at_once_closes_it_once():
    """Two staff (or a double submission) closing one member at the same moment (PostgreSQL, separate
    connections): no error, one forfeit, one audit log entry, a sound ledger."""
    from loyalty.models import StaffAction, StaffActionKind
    from members.services import member_update
    from tests.concurrency import run_together

    staff = User.objects.create_user(email="staff@example.com", password=PASSWORD, is_staff=True)
    user = User.objects.create_user(email="twice@example.com", password=PASSWORD)
    member = member_create(email=user.email, user=user, first_name="Twice")
    points_credit(member=member, points=300, audit=Audit(reason="Start", idempotency_key="twice-0"))

    results = run_together(lambda i: member_update(member=Member.objects.get(pk=member.pk), status="closed",
                                                   staff_user=staff), n=4)

    assert not any(isinstance(result, Exception) for result in results), results
    member.refresh_from_db()
    assert member.status == MemberStatus.CLOSED and member.first_name == "" and member.user is None
    assert LedgerTransaction.objects.filter(member=member, kind=TransactionKind.EXPIRE).count() == 1
    assert StaffAction.objects.filter(kind=StaffActionKind.MEMBER_CLOSED).count() == 1
    assert ledger_verify() == []
