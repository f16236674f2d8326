"""What campaigns keeps about a member in the member's privacy: the "Download my data" file has their referrals
(both ways), badges, challenge progress, leaderboard entries and prizes, and actions, and nobody else's; closing
the membership takes them off every leaderboard (past periods too), erases their sign-up address and the badge
reasons staff typed, and leaves referrals that name no one."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import (
    ActionRule,
    BadgeAward,
    LeaderboardPrize,
    LeaderboardScore,
    Referral,
    ReferralStatus,
)
from campaigns.services.actions import action_event_record
from campaigns.services.badges import badge_create, badge_grant
from campaigns.services.leaderboards import (
    leaderboard_member_refresh,
    leaderboard_prizes_award,
    leaderboard_rank_get,
    leaderboard_tally_problems,
    leaderboard_top_get,
    period_get,
    previous_month,
)
from campaigns.services.member_data import CLOSED_BADGE_REASON
from loyalty.services.ledger import Audit, points_credit
from members.models import Member
from members.services import member_close, member_create
from tests.campaigns.conftest import buy, challenge, signed_in
from tests.campaigns.support import program_set
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _on_board(member, nickname):
    Member.objects.filter(pk=member.pk).update(nickname=nickname, leaderboard_opt_in=True)


def _earn(member, points, at):
    points_credit(member=member, points=points, kind="bonus", audit=Audit(reason="test", occurred_at=at))
    leaderboard_member_refresh(member_id=member.pk, at=at)


@pytest.fixture
def anna():
    """A member with a bit of everything campaigns keeps."""
    return signed_in("anna@example.com", first_name="Anna", last_name="Jansen")


def _download(client) -> dict:
    response = client.get(reverse("portal:data_download"))
    assert response.status_code == 200
    return json.loads(response.content)


def test_download_my_data_has_referrals_badges_challenges_leaderboard_and_actions(anna, store, committed):
    program_set(referral_referee_bonus=100, referral_referrer_bonus=200)
    member = anna.member
    fay = member_create(email="fay@example.com", first_name="Fay", last_name="Visser")
    Member.objects.filter(pk=member.pk).update(referred_by=fay)
    Referral.objects.create(referrer=fay, referee=member, referee_points=100, ip_address="203.0.113.9",
                            channel="portal")
    bram = member_create(email="bram@example.com", first_name="Bram", last_name="Bakker", referred_by=member)
    Referral.objects.filter(referee=bram).update(status=ReferralStatus.REWARDED, rewarded_at=timezone.now(),
                                                 referrer_points=200)
    helper = badge_create(code="helper", name="Helping hand")
    badge_grant(badge=helper, member=member, reason="Helped at the fair")
    star = badge_create(code="star", name="Star")
    challenge(code="one", name="First visit", target=1, prize_points=25, prize_badge=star)
    challenge(code="three", name="Three visits", target=3, prize_points=50)
    ActionRule.objects.filter(type="review").update(active=True, points=40)
    action_event_record(member=member, type="review", reference="KOF-1KG")
    _on_board(member, "AnnaJ")
    with committed():
        buy(store, member, "12.00")  # also Fay's referral's qualifying purchase: it is rewarded
    last_month = previous_month(timezone.now())
    _earn(member, 70, last_month.starts_at + timedelta(days=2))
    LeaderboardPrize.objects.create(rank=1, points=300)
    leaderboard_prizes_award(as_of=timezone.now())
    other = signed_in("eve@example.com", first_name="Eve")  # nothing of Eve's is in Anna's file
    badge_grant(badge=helper, member=other.member, reason="Eve's grant")

    data = _download(anna)

    referrals = data["referrals"]
    assert referrals["referral_code"] == member.referral_code and referrals["referred_by"] == fay.referral_code
    assert referrals["my_referral"] == {"status": "rewarded", "blocked_because": None, "points": 100,
                                        "joined_at": referrals["my_referral"]["joined_at"],
                                        "ip_address": "203.0.113.9"}
    assert [(r["referee"], r["status"], r["points"]) for r in referrals["referred"]] == [("Bram B.", "rewarded", 200)]
    assert {(b["badge"], b["source"], b["reason"], b["challenge"]) for b in data["badges"]} == {
        ("Helping hand", "staff", "Helped at the fair", None), ("Star", "challenge", None, "First visit")}
    assert {(c["code"], c["progress"], c["status"], c["prize_points"]) for c in data["challenges"]} == {
        ("one", "1.00", "completed", 25), ("three", "1.00", "in_progress", 0)}
    entries = {entry["period"]: entry["points"] for entry in data["leaderboard"]["entries"]}
    assert entries[last_month.key] == 70 and entries["all"] == 70 + 12 + 40  # the bonus, the purchase, the review
    assert data["leaderboard"]["prizes"] == [{"month": last_month.key, "place": 1, "points": 300, "paid": True}]
    assert [(a["type"], a["reference"], a["points"]) for a in data["actions"]] == [("review", "KOF-1KG", 40)]
    text = json.dumps(data)
    assert "Eve" not in text and "bram@example.com" not in text and "fay@example.com" not in text


def test_closing_a_membership_forgets_what_names_the_member(anna, django_capture_on_commit_callbacks):
    member = anna.member
    rob = signed_in("rob@example.com", first_name="Rob")
    _on_board(member, "AnnaJ")
    rival, third = MemberFactory(), MemberFactory()
    _on_board(rival, "Rival")
    _on_board(third, "Third")
    now = timezone.now()
    earlier = previous_month(now).starts_at + timedelta(days=3)
    for who, points in ((member, 90), (rival, 60), (third, 30)):
        _earn(who, points, max(period_get("week").starts_at, now - timedelta(minutes=5)))  # this week, even at 00:01
        _earn(who, points, earlier)
    Referral.objects.create(referrer=rob.member, referee=member, ip_address="203.0.113.9", channel="portal")
    bram = member_create(email="bram@example.com", first_name="Bram", last_name="Bakker", referred_by=member)
    badge_grant(badge=badge_create(code="helper", name="Helping hand"), member=member, reason="Thanks Anna Jansen!")
    periods = [period_get("week"), period_get("month"), period_get("all"), previous_month(now),
               period_get("week", earlier)]
    assert set(LeaderboardScore.objects.filter(member=member).values_list("period_key", flat=True)) == {
        period.key for period in periods}  # this week and month, all time, and last month with its week
    assert [row["nickname"] for row in leaderboard_top_get(period=periods[0])] == ["AnnaJ", "Rival", "Third"]

    with django_capture_on_commit_callbacks(execute=True):
        member_close(member=member)

    assert not LeaderboardScore.objects.filter(member=member).exists()
    for period in periods:  # gone from every board kept, past ones too, and the others move up
        assert [row["nickname"] for row in leaderboard_top_get(period=period)] == ["Rival", "Third"], period.key
        assert leaderboard_rank_get(member=Member.objects.get(pk=rival.pk), period=period)["rank"] == 1
    assert leaderboard_tally_problems() == []
    assert Referral.objects.get(referee=member).ip_address is None
    assert BadgeAward.objects.get(member=member).reason == CLOSED_BADGE_REASON
    # Anna's referrer sees "A friend"; Bram, whom she referred, keeps his referral, which names no one.
    page = rob.get(reverse("campaigns:referrals")).content.decode()
    assert "A friend" in page and "Anna" not in page and "anna@example.com" not in page
    assert "Anna" not in json.dumps(rob.get("/api/v1/me/referrals/").json())
    assert Referral.objects.get(referee=bram).referrer_id == member.pk


def test_forgetting_a_closed_member_twice_changes_nothing_more(anna):
    from campaigns.services.member_data import member_campaign_data_forget

    member = anna.member
    Referral.objects.create(referrer=MemberFactory(), referee=member, ip_address="203.0.113.9", channel="portal")
    badge_grant(badge=badge_create(code="helper", name="Helping hand"), member=member, reason="Thanks Anna!")
    member_close(member=member)
    assert member_campaign_data_forget(member_id=member.pk) == {"leaderboard": 0, "ip_addresses": 1,
                                                                 "badge_reasons": 1, "challenges_cancelled": 0}
    assert member_campaign_data_forget(member_id=member.pk) == {"leaderboard": 0, "ip_addresses": 0,
                                                                 "badge_reasons": 0, "challenges_cancelled": 0}
