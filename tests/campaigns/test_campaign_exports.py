"""CSV exports of the campaigns' admin lists (referrals, badge awards, actions): streamed, filtered like the list,
members by loyalty ID only (no emails or IP addresses), formula-like cells escaped; for who may see the list."""

import pytest
from django.urls import reverse

from campaigns.models import ActionRule, Referral, ReferralStatus
from campaigns.services.actions import action_event_record
from campaigns.services.badges import badge_create, badge_grant
from members.services import member_create
from tests.factories import MemberFactory
from tests.loyalty.test_exports import rows

pytestmark = pytest.mark.django_db


def test_referrals_export_follows_the_filter_and_names_members_by_loyalty_id(admin_client):
    anna = MemberFactory(email="anna@example.com")
    bram = member_create(email="bram@example.com", referred_by=anna)
    alias = member_create(email="anna+1@example.com", referred_by=anna)  # blocked: the same email
    Referral.objects.filter(referee=bram).update(ip_address="203.0.113.9")
    url = reverse("admin:campaigns_referral_export_csv")
    everything = rows(admin_client.get(url))
    assert {(row["referrer"], row["referee"], row["status"]) for row in everything} == {
        (anna.loyalty_id, bram.loyalty_id, ReferralStatus.PENDING),
        (anna.loyalty_id, alias.loyalty_id, ReferralStatus.BLOCKED),
    }
    blocked = rows(admin_client.get(url, {"status__exact": "blocked"}))
    assert [(row["referee"], row["block_reason"]) for row in blocked] == [(alias.loyalty_id, "same_email")]
    text = admin_client.get(url).getvalue().decode()
    assert "@example.com" not in text and "203.0.113.9" not in text
    assert url in admin_client.get(reverse("admin:campaigns_referral_changelist")).content.decode()  # the button


def test_badge_awards_export_escapes_formulas(admin_client):
    member = MemberFactory()
    badge_grant(badge=badge_create(code="helper", name="Helper"), member=member, reason="=1+1 for the fair")
    badge_grant(badge=badge_create(code="star", name="Star"), member=MemberFactory(), reason="Star of the month")
    url = reverse("admin:campaigns_badgeaward_export_csv")
    helper = rows(admin_client.get(url, {"badge__id__exact": member.badge_awards.get().badge_id}))
    assert [(row["loyalty_id"], row["badge"], row["source"], row["reason"]) for row in helper] == [
        (member.loyalty_id, "helper", "staff", "'=1+1 for the fair")]
    assert len(rows(admin_client.get(url))) == 2


def test_actions_export(admin_client):
    ActionRule.objects.filter(type="review").update(active=True, points=40)
    member = MemberFactory()
    action_event_record(member=member, type="review", reference="KOF-1KG")
    url = reverse("admin:campaigns_actionevent_export_csv")
    assert [(row["loyalty_id"], row["type"], row["reference"], row["points"]) for row in
            rows(admin_client.get(url))] == [(member.loyalty_id, "review", "KOF-1KG", "40")]
    page = admin_client.get(reverse("admin:campaigns_actionevent_changelist")).content.decode()
    assert url in page and "Record an action" in page
