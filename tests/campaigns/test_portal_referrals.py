"""The portal's Refer a friend page and the admin's referral review and Record an action form."""

import pytest
from django.urls import reverse

from campaigns.models import ActionEvent, ActionRule, Referral, ReferralStatus
from loyalty.models import StaffAction, StaffActionKind
from loyalty.selectors import member_points_get
from members.models import User
from members.services import member_create
from tests.campaigns.support import program_set
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def anna():
    user = User.objects.create_user("anna@example.com", "correct horse battery")
    return MemberFactory(email=user.email, user=user, first_name="Anna", last_name="Jansen")


def test_the_refer_a_friend_page_shows_my_link_and_only_my_referrals(client, anna):
    program_set(referral_referrer_bonus=300, referral_referee_bonus=100, referral_cap=3)
    other = MemberFactory(email="other@example.com")
    member_create(email="bram@example.com", first_name="Bram", last_name="Bakker", referred_by=anna)
    member_create(email="zed@example.com", first_name="Zed", last_name="Zorro", referred_by=other)
    client.force_login(anna.user)
    page = client.get(reverse("campaigns:referrals"))
    assert page.status_code == 200
    html = page.content.decode()
    link = f"http://testserver/r/{anna.referral_code}"
    assert f'value="{link}"' in html
    assert "Bram B." in html and "Zed" not in html and "bram@example.com" not in html
    assert "https://wa.me/?text=" in html and "mailto:?subject=" in html
    assert "Your friend gets 100 points on joining." in html and "up to 3 friends" in html
    assert 'src="/static/js/referrals.js"' in html
    assert "<script>" not in html and "style=" not in html and "onclick" not in html
    assert reverse("campaigns:referrals") in client.get(reverse("portal:dashboard")).content.decode()  # in the nav


def test_the_page_counts_every_referral_and_lists_the_newest(client, anna, monkeypatch):
    from django.utils import timezone

    from campaigns.services import referrals as referral_services

    for n in range(3):
        member_create(email=f"f{n}@example.com", first_name=f"F{n}", last_name="Friend", referred_by=anna)
    Referral.objects.filter(referee__email__in=["f0@example.com", "f1@example.com"]).update(
        status=ReferralStatus.REWARDED, rewarded_at=timezone.now(), referrer_points=200)
    original = referral_services.member_referrals_get
    monkeypatch.setattr("campaigns.views.referrals.member_referrals_get",
                        lambda *, member: original(member=member, limit=2))
    client.force_login(anna.user)
    html = client.get(reverse("campaigns:referrals")).content.decode()
    # the figures count all three referrals, though the page lists the newest two
    assert '<dd id="referrals-count">3</dd>' in html and '<dd id="referrals-rewarded">2</dd>' in html
    assert '<dd id="referrals-points">400</dd>' in html
    assert html.count('<li id="referral-') == 2 and "The newest 2 referrals are listed." in html
    assert "F2 F." in html and "F0 F." not in html
    assert 'class="status status-pending">Waiting for the first purchase' in html
    assert 'class="points plus">+200' in html


def test_the_page_needs_a_member(client):
    response = client.get(reverse("campaigns:referrals"))
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_the_page_in_dutch(client, anna):
    client.force_login(anna.user)
    html = client.get(reverse("campaigns:referrals"), HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    assert "Een vriend aanbrengen" in html and "Uw uitnodigingslink" in html


# -- admin ------------------------------------------------------------------------------------------------------


def test_staff_unblock_and_cancel_referrals(admin_client):
    program_set(referral_referee_bonus=100)
    referrer = MemberFactory(email="anna@example.com")
    blocked = member_create(email="anna+1@example.com", referred_by=referrer)
    pending = member_create(email="bram@example.com", referred_by=referrer)
    changelist = reverse("admin:campaigns_referral_changelist")
    assert admin_client.get(changelist, {"status__exact": "blocked"}).status_code == 200
    blocked_referral = Referral.objects.get(referee=blocked)
    response = admin_client.post(changelist, {"action": "unblock", "_selected_action": [blocked_referral.pk]})
    assert response.status_code == 302
    assert Referral.objects.get(pk=blocked_referral.pk).status == ReferralStatus.PENDING
    assert member_points_get(member=blocked)["available"] == 100
    pending_referral = Referral.objects.get(referee=pending)
    admin_client.post(changelist, {"action": "cancel", "_selected_action": [pending_referral.pk]})
    assert Referral.objects.get(pk=pending_referral.pk).status == ReferralStatus.CANCELLED
    # each review is in the audit log: who, what, how many
    unblocked, cancelled = (StaffAction.objects.get(kind=kind) for kind in ("referrals_unblocked",
                                                                            "referrals_cancelled"))
    assert (unblocked.staff_user.email, unblocked.count, unblocked.details["referrals"]) == (
        "admin@example.com", 1, [blocked_referral.pk])
    assert (cancelled.count, cancelled.details["selection"], cancelled.details["refused"]) == (1, {"selected": 1}, 0)
    assert admin_client.get(reverse("admin:campaigns_referral_change", args=[pending_referral.pk])).status_code == 200


def test_staff_record_an_action(admin_client, member):
    ActionRule.objects.filter(type="review").update(active=True, points=40)
    add = reverse("admin:campaigns_actionevent_add")
    assert "Record an action" in admin_client.get(reverse("admin:campaigns_actionevent_changelist")).content.decode()
    assert admin_client.get(add).status_code == 200
    response = admin_client.post(add, {"member": member.loyalty_id, "type": "review", "reference": "KOF-1KG"})
    assert response.status_code == 302
    event = ActionEvent.objects.get()
    assert (event.points, event.staff_user.email, event.reference) == (40, "admin@example.com", "KOF-1KG")
    again = admin_client.post(add, {"member": member.email, "type": "review", "reference": "KOF-1KG"}, follow=True)
    assert "already recorded" in again.content.decode()
    bad = admin_client.post(add, {"member": "nobody", "type": "review"})
    assert bad.status_code == 200 and ActionEvent.objects.count() == 1


def test_an_action_recorded_by_staff_is_in_the_audit_log(admin_client, member, pos_api_client):
    ActionRule.objects.filter(type="review").update(active=True, points=40, per_day=1)
    add = reverse("admin:campaigns_actionevent_add")
    admin_client.post(add, {"member": member.loyalty_id, "type": "review", "reference": "KOF-1KG"})
    entry = StaffAction.objects.get()
    event = ActionEvent.objects.get()
    assert (entry.kind, entry.source, entry.staff_user.email, entry.count) == (
        StaffActionKind.ACTION_RECORDED, "admin", "admin@example.com", 1)
    assert entry.details["selection"] == {"member": member.loyalty_id}
    assert (entry.details["action"], entry.details["reference"], entry.details["points"], entry.details["event"]) \
        == ("review", "KOF-1KG", 40, event.pk)
    admin_client.post(add, {"member": member.loyalty_id, "type": "review", "reference": "KOF-1KG"})  # a repeat
    assert StaffAction.objects.count() == 1  # changed nothing, so nothing to record
    admin_client.post(add, {"member": member.loyalty_id, "type": "review", "reference": "TEA-1"})  # over the cap
    capped = StaffAction.objects.order_by("-pk").first()
    assert (capped.details["points"], capped.details["capped"]) == (0, "day")
    pos_api_client.post("/api/v1/events/", {"member": member.loyalty_id, "type": "review", "reference": "X"},
                        format="json")  # a till or webshop event is not a staff action
    assert ActionEvent.objects.count() == 3 and StaffAction.objects.count() == 2
    page = admin_client.get(reverse("admin:loyalty_staffaction_changelist")).content.decode()
    assert "Action recorded" in page and "+40" in page and "review" in page


def test_staff_edit_action_rules(admin_client):
    add = reverse("admin:campaigns_actionrule_add")
    response = admin_client.post(add, {"type": "quiz", "name": "Quiz", "points": 5, "active": "on",
                                       "once_per_reference": "on", "per_day": "", "per_week": "2", "per_month": "",
                                       "lifetime": ""})
    assert response.status_code == 302, response.content
    assert ActionRule.objects.get(type="quiz").per_week == 2
    duplicate = admin_client.post(add, {"type": "quiz", "name": "Quiz", "points": 5})
    assert duplicate.status_code == 200 and ActionRule.objects.filter(type="quiz").count() == 1
    rule = ActionRule.objects.get(type="quiz")
    change = reverse("admin:campaigns_actionrule_change", args=[rule.pk])
    assert admin_client.post(change, {"name": "Quiz!", "points": 6, "per_week": ""}).status_code == 302
    rule.refresh_from_db()
    assert (rule.type, rule.name, rule.points, rule.per_week, rule.active) == ("quiz", "Quiz!", 6, None, False)


def test_staff_cannot_reopen_a_closed_member_or_reuse_a_nickname(admin_client):
    from members.models import Member, MemberStatus
    from members.services import member_status_set

    taken = MemberFactory(email="t@example.com")
    Member.objects.filter(pk=taken.pk).update(nickname="Speedy")
    member = MemberFactory(email="c@example.com")
    member_status_set(member=member, status=MemberStatus.CLOSED)
    change = reverse("admin:members_member_change", args=[member.pk])
    form = admin_client.get(change).context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields if not form.fields[name].disabled}
    data.update({"status": "active", "language": "en"})
    response = admin_client.post(change, data)
    assert response.status_code == 200 and "closed membership is final" in response.content.decode()
    assert Member.objects.get(pk=member.pk).status == MemberStatus.CLOSED
    assert set(form.fields) == {"status"}  # a closed member's profile stays as closing left it (anonymised)
    active = MemberFactory(email="a@example.com")
    change = reverse("admin:members_member_change", args=[active.pk])
    form = admin_client.get(change).context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields if not form.fields[name].disabled}
    data.update({"language": "en", "nickname": "speedy"})
    response = admin_client.post(change, data)
    assert response.status_code == 200 and "nickname is taken" in response.content.decode()
