"""Bulk actions on members (selected, or all matching the list's filter) and on redemptions, each recorded
in the audit log (StaffAction) that the admin shows read-only."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from loyalty.models import (
    AccountKind,
    ExpiryReminder,
    LedgerTransaction,
    StaffAction,
    StaffActionKind,
    TransactionKind,
)
from loyalty.selectors import member_points_get
from loyalty.services.ledger import Audit, points_credit
from members.models import Member, MemberStatus, User
from rewards.models import RedemptionStatus
from rewards.services import coupon_use, reward_redeem
from tests.factories import MemberFactory
from tests.rewards.factories import RewardFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:members_member_changelist"


@pytest.fixture
def members(db):
    rich, poor, closed = (MemberFactory(email=f"{name}@example.com") for name in ("rich", "poor", "closed"))
    points_credit(member=rich, points=300, audit=Audit(reason="Order", idempotency_key="o-rich"))
    points_credit(member=poor, points=20, audit=Audit(reason="Order", idempotency_key="o-poor"))
    closed.status = MemberStatus.CLOSED
    closed.save()
    return {"rich": rich, "poor": poor, "closed": closed}


def act(client, action, selected=(), *, query="", select_across=False, **data):
    url = reverse(CHANGELIST) + (f"?{query}" if query else "")
    return client.post(url, {"action": action, "_selected_action": [m.pk for m in selected],
                             "select_across": "1" if select_across else "0", "index": "0", **data}, follow=False)


def test_add_points_to_selected_members_posts_one_adjustment_each(admin_client, members):
    selected = [members["rich"], members["poor"]]
    form = act(admin_client, "bulk_adjust_points", selected)
    assert form.status_code == 200 and form.context["count"] == 2
    token = form.context["form"].initial["token"]
    done = act(admin_client, "bulk_adjust_points", selected, apply="1", points="50", reason="Store anniversary",
               token=token)
    assert done.status_code == 302
    posted = LedgerTransaction.objects.filter(kind=TransactionKind.ADJUST).order_by("member_id")
    assert [(t.member_id, t.points, t.reason_text, t.staff_user.email) for t in posted] == [
        (members["rich"].pk, 50, "Store anniversary", "admin@example.com"),
        (members["poor"].pk, 50, "Store anniversary", "admin@example.com"),
    ]
    assert all(t.entries.get(account__member=None).account.kind == AccountKind.ADJUSTMENTS for t in posted)
    action = StaffAction.objects.get()
    assert (action.kind, action.count, action.staff_user.email) == (StaffActionKind.POINTS_ADJUSTED, 2,
                                                                     "admin@example.com")
    assert action.details["selection"] == {"selected": 2} and action.details["points"] == 50
    # The same form submitted again posts nothing.
    act(admin_client, "bulk_adjust_points", selected, apply="1", points="50", reason="Store anniversary",
        token=token)
    assert LedgerTransaction.objects.filter(kind=TransactionKind.ADJUST).count() == 2
    assert StaffAction.objects.count() == 1


def test_removing_points_leaves_out_members_without_enough_and_closed_ones(admin_client, members):
    selected = list(members.values())
    response = act(admin_client, "bulk_adjust_points", selected, apply="1", points="-100", reason="Correction",
                   token=uuid.uuid4(), follow=True)
    assert member_points_get(member=members["rich"])["available"] == 200
    assert member_points_get(member=members["poor"])["available"] == 20
    assert LedgerTransaction.objects.filter(kind=TransactionKind.ADJUST).count() == 1
    action = StaffAction.objects.get()
    assert action.count == 1 and action.details["refused"] == 2
    assert f"{members['poor'].loyalty_id}: 100 points needed, 20 available." in action.details["refused_members"]
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("2 members were left out" in m for m in messages)


def test_every_member_matching_the_filter(admin_client, members):
    members["poor"].status = MemberStatus.SUSPENDED
    members["poor"].save()
    act(admin_client, "bulk_adjust_points", [members["rich"]], query="status__exact=active", select_across=True,
        apply="1", points="10", reason="Active members bonus", token=uuid.uuid4())
    assert list(LedgerTransaction.objects.filter(kind=TransactionKind.ADJUST).values_list("member_id", flat=True)) \
        == [members["rich"].pk]
    assert StaffAction.objects.get().details["selection"] == {"filter": "status__exact=active"}


def test_bad_points_or_missing_reason_show_the_form_again(admin_client, members):
    response = act(admin_client, "bulk_adjust_points", [members["rich"]], apply="1", points="0", reason="",
                   token=uuid.uuid4())
    assert response.status_code == 200 and response.context["form"].errors.keys() == {"points", "reason"}
    assert not LedgerTransaction.objects.filter(kind=TransactionKind.ADJUST).exists()


def test_suspend_and_reactivate(admin_client, members):
    act(admin_client, "bulk_suspend", list(members.values()))
    statuses = dict(Member.objects.values_list("email", "status"))
    assert statuses == {"rich@example.com": "suspended", "poor@example.com": "suspended",
                        "closed@example.com": "closed"}
    act(admin_client, "bulk_reactivate", [members["rich"], members["closed"]])
    statuses = dict(Member.objects.values_list("email", "status"))
    assert statuses == {"rich@example.com": "active", "poor@example.com": "suspended",
                        "closed@example.com": "closed"}
    kinds = list(StaffAction.objects.order_by("pk").values_list("kind", "count"))
    assert kinds == [(StaffActionKind.MEMBERS_SUSPENDED, 2), (StaffActionKind.MEMBERS_REACTIVATED, 1)]
    # The closed member is left out and listed (closing is final), not counted as "already done".
    reactivated = StaffAction.objects.get(kind=StaffActionKind.MEMBERS_REACTIVATED)
    assert (reactivated.details["already_done"], reactivated.details["refused_members"]) == (
        0, [f"{members['closed'].loyalty_id}: A closed membership is final: it cannot be reopened."])


def test_resend_expiry_reminder(admin_client, members):
    expires_at = timezone.now() + timedelta(days=200)
    points_credit(member=members["rich"], points=40, audit=Audit(reason="x", idempotency_key="soon"),
                  expires_at=expires_at)
    # The reminder's day is the lot's expiry in local time (late in the UTC day that can be a day later).
    ExpiryReminder.objects.create(member=members["rich"], expires_on=timezone.localdate(expires_at),
                                  points=40, sent_at=timezone.now() - timedelta(days=3))
    act(admin_client, "bulk_resend_expiry_reminder", [members["rich"], members["poor"]])
    assert [message.to for message in mail.outbox] == [["rich@example.com"]]
    reminder = ExpiryReminder.objects.get()
    assert reminder.sent_at > timezone.now() - timedelta(minutes=1)
    action = StaffAction.objects.get()
    assert (action.kind, action.count, action.details["refused"]) == (StaffActionKind.EXPIRY_REMINDERS_RESENT, 1, 1)


def test_bulk_actions_need_the_bulk_permission(client, members, staff_roles):
    support = User.objects.create_user(email="support@example.com", is_staff=True)
    support.groups.add(Group.objects.get(name="Support"))
    client.force_login(support)
    page = client.get(reverse(CHANGELIST))
    assert "bulk_adjust_points" not in page.content.decode()
    act(client, "bulk_suspend", [members["rich"]])
    assert Member.objects.get(pk=members["rich"].pk).status == MemberStatus.ACTIVE
    manager = User.objects.create_user(email="manager@example.com", is_staff=True)
    manager.groups.add(Group.objects.get(name="Program manager"))
    client.force_login(manager)
    assert "bulk_adjust_points" in client.get(reverse(CHANGELIST)).content.decode()


def test_cancel_redemptions_in_bulk(admin_client, members):
    reward = RewardFactory(cost_points=100)
    first, second = (reward_redeem(member=members["rich"], reward=reward) for _ in range(2))
    coupon_use(code=second.code, order_id="T-9")
    response = admin_client.post(reverse("admin:rewards_redemption_changelist"), {
        "action": "cancel_redemptions", "_selected_action": [first.pk, second.pk], "index": "0"}, follow=True)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (RedemptionStatus.CANCELLED, RedemptionStatus.USED)
    assert member_points_get(member=members["rich"])["available"] == 200
    assert first.cancel_transaction.reason_text == "Cancelled by staff"
    action = StaffAction.objects.get()
    assert (action.kind, action.count, action.details["refused"]) == (StaffActionKind.REDEMPTIONS_CANCELLED, 1, 1)
    assert any(second.code in str(m) for m in response.wsgi_request._messages)


def test_single_adjustment_is_in_the_audit_log_too(admin_client, members):
    admin_client.post(reverse("admin:members_member_adjust_points", args=[members["poor"].pk]),
                      {"points": "5", "reason": "Sorry", "token": uuid.uuid4()})
    action = StaffAction.objects.get()
    assert action.count == 1 and action.details["selection"] == {"member": members["poor"].loyalty_id}


def test_audit_log_is_shown_read_only(admin_client, members):
    act(admin_client, "bulk_suspend", [members["rich"]])
    action = StaffAction.objects.get()
    listing = admin_client.get(reverse("admin:loyalty_staffaction_changelist"))
    assert listing.status_code == 200 and "Members suspended" in listing.content.decode()
    page = admin_client.get(reverse("admin:loyalty_staffaction_change", args=[action.pk]))
    assert page.status_code == 200 and "admin@example.com" in page.content.decode()
    admin_client.post(reverse("admin:loyalty_staffaction_change", args=[action.pk]), {"count": "99"})
    assert StaffAction.objects.get().count == 1
    assert admin_client.post(reverse("admin:loyalty_staffaction_delete", args=[action.pk]),
                             {"post": "yes"}).status_code == 403
