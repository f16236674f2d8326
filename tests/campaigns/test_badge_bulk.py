"""The members list's "Grant a badge" follows the admin's bulk-action pattern (members.bulk): the selected members
or every member matching the filter, at most BULK_LIMIT, the right award rows, closed members and holders left
alone, one audit log entry with who, when, what and how many; only for roles that may run bulk actions and
grant badges. Also: a grant on the Badge awards form is in the audit log, and racing grants give one award each
(PostgreSQL)."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse

from campaigns.models import BadgeAward, BadgeSource
from campaigns.services.badges import badge_create, badge_grant, members_badge_grant
from campaigns.services.common import CampaignInvalid
from loyalty.models import StaffAction, StaffActionKind
from members import bulk
from members.models import Member, MemberStatus, User
from tests.concurrency import run_together
from tests.factories import MemberFactory
from tests.test_roles import staff as staff_client

URL = "/admin/members/member/"


def staff(role: str = "superuser") -> tuple[Client, User]:
    client = staff_client(role)
    return client, User.objects.get(pk=client.session["_auth_user_id"])


@pytest.fixture
def badge(db):
    return badge_create(code="fair", name="Fair helper")


def _awarded(badge) -> dict[int, BadgeAward]:
    return {award.member_id: award for award in BadgeAward.objects.filter(badge=badge)}


@pytest.mark.django_db
def test_the_selected_members_get_the_badge_and_the_audit_log_says_so(badge):
    client, boss = staff()
    fresh, other, holder, closed, unselected = (MemberFactory() for _n in range(5))
    earlier = badge_grant(badge=badge, member=holder, reason="Earlier")[0]
    Member.objects.filter(pk=closed.pk).update(status=MemberStatus.CLOSED)
    data = {"action": "grant_badge", "index": "0", ACTION_CHECKBOX_NAME: [fresh.pk, other.pk, holder.pk, closed.pk]}

    form = client.post(URL, data)
    assert form.status_code == 200 and "Grant a badge" in form.content.decode()
    assert "The badge goes to each of 4 members." in form.content.decode()
    missing = client.post(URL, {**data, "apply": "Grant badge", "badge": badge.pk, "reason": " "})
    assert missing.status_code == 200 and set(_awarded(badge)) == {holder.pk}  # a form error, nothing given

    done = client.post(URL, {**data, "apply": "Grant badge", "badge": badge.pk, "reason": "Summer fair"}, follow=True)

    awards = _awarded(badge)
    assert set(awards) == {fresh.pk, other.pk, holder.pk}  # not the closed one, not the unselected one
    for member in (fresh, other):
        assert (awards[member.pk].source, awards[member.pk].reason, awards[member.pk].staff_user_id) == (
            BadgeSource.STAFF, "Summer fair", boss.pk)
    assert awards[holder.pk].pk == earlier.pk and awards[holder.pk].reason == "Earlier"  # kept as it was
    action = StaffAction.objects.get(kind=StaffActionKind.BADGE_GRANTED)
    assert (action.staff_user_id, action.count, action.source) == (boss.pk, 2, "admin")
    assert action.details == {
        "badge": "fair", "reason": "Summer fair", "selection": {"selected": 4}, "done": 2, "already_done": 1,
        "refused": 1, "refused_members": [f"{closed.loyalty_id}: This member's account is closed."],
    }
    page = done.content.decode()
    assert "Fair helper granted to 2 members." in page and "1 member was already done" in page
    assert f"{closed.loyalty_id}: This member" in page
    assert unselected.pk not in awards


@pytest.mark.django_db
def test_every_member_matching_the_filter(badge):
    client, _boss = staff()
    active = [MemberFactory() for _n in range(3)]
    suspended = MemberFactory()
    Member.objects.filter(pk=suspended.pk).update(status=MemberStatus.SUSPENDED)
    response = client.post(f"{URL}?status__exact=active", {
        "action": "grant_badge", "index": "0", "select_across": "1", ACTION_CHECKBOX_NAME: [active[0].pk],
        "apply": "Grant badge", "badge": badge.pk, "reason": "Thank you",
    })
    assert response.status_code == 302
    assert set(_awarded(badge)) == {member.pk for member in active}
    action = StaffAction.objects.get(kind=StaffActionKind.BADGE_GRANTED)
    assert action.count == 3 and action.details["selection"] == {"filter": "status__exact=active"}


@pytest.mark.django_db
def test_too_many_members_change_nothing(badge, monkeypatch):
    monkeypatch.setattr(bulk, "BULK_LIMIT", 2)
    client, _boss = staff()
    members = [MemberFactory() for _n in range(3)]
    response = client.post(URL, {
        "action": "grant_badge", "index": "0", "select_across": "1", ACTION_CHECKBOX_NAME: [members[0].pk],
        "apply": "Grant badge", "badge": badge.pk, "reason": "Thank you",
    }, follow=True)
    assert "3 members selected: a bulk action takes at most 2" in response.content.decode()
    assert not BadgeAward.objects.exists() and not StaffAction.objects.exists()


@pytest.mark.django_db
def test_the_service_refuses_without_a_reason_or_for_an_inactive_badge(badge):
    _client, boss = staff()
    members = Member.objects.filter(pk=MemberFactory().pk)
    with pytest.raises(CampaignInvalid):
        members_badge_grant(members=members, badge=badge, reason="  ", staff_user=boss, selection={})
    badge.active = False
    badge.save()
    with pytest.raises(CampaignInvalid):
        members_badge_grant(members=members, badge=badge, reason="Thanks", staff_user=boss, selection={})
    assert not BadgeAward.objects.exists() and not StaffAction.objects.exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("staff_roles")
def test_only_staff_who_run_bulk_actions_and_grant_badges_see_the_action(badge):
    member = MemberFactory()
    post = {"action": "grant_badge", "index": "0", ACTION_CHECKBOX_NAME: [member.pk], "apply": "Grant badge",
            "badge": badge.pk, "reason": "Thanks"}
    support, _user = staff("Support")
    assert 'value="grant_badge"' not in support.get(URL).content.decode()
    support.post(URL, post)
    assert not BadgeAward.objects.exists()
    manager, user = staff("Program manager")
    assert 'value="grant_badge"' in manager.get(URL).content.decode()
    assert manager.post(URL, post).status_code == 302
    assert BadgeAward.objects.get().staff_user == user


@pytest.mark.django_db
def test_a_grant_on_the_badge_awards_form_is_in_the_audit_log(badge):
    client, boss = staff()
    member = MemberFactory()
    add = reverse("admin:campaigns_badgeaward_add")
    assert client.post(add, {"badge": badge.pk, "member": member.pk, "reason": "Great help"}).status_code == 302
    action = StaffAction.objects.get(kind=StaffActionKind.BADGE_GRANTED)
    assert (action.staff_user_id, action.count) == (boss.pk, 1)
    assert action.details == {"selection": {"member": member.loyalty_id}, "badge": "fair", "reason": "Great help",
                              "done": 1}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_bulk_grants_give_each_member_the_badge_once(badge):
    _client, boss = staff()
    members = [MemberFactory() for _n in range(30)]
    selection = Member.objects.filter(pk__in=[member.pk for member in members])

    results = run_together(lambda i: members_badge_grant(members=selection, badge=badge, reason=f"Run {i}",
                                                         staff_user=boss, selection={"selected": 30}), n=6)

    assert [result for result in results if isinstance(result, Exception)] == []
    assert BadgeAward.objects.filter(badge=badge).count() == 30
    assert sum(result.done for result in results) == 30  # each award counted by the run that wrote it
    assert all(result.done + result.already == 30 for result in results)
    assert StaffAction.objects.filter(kind=StaffActionKind.BADGE_GRANTED).count() == 6
