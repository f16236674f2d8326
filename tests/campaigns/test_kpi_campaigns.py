"""The KPI dashboard's campaign tables (registered by campaigns with loyalty.kpi.kpi_table_register): challenge
completion and referral conversion equal the figures computed by hand on a small fixture, follow the range
(cohorts: started or referred in the range, completed or converted by its end), and download as CSV."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from campaigns.models import ChallengeProgress, Referral, ReferralChannel, ReferralStatus
from campaigns.services.challenges import challenge_create, challenge_progress_member_refresh
from loyalty.kpi import KpiRange, kpi_tables, kpis_get
from loyalty.models import Purchase, Store
from loyalty.services.purchases import purchase_record
from tests.factories import MemberFactory
from tests.loyalty.test_kpi import Q1, URL, at

pytestmark = pytest.mark.django_db

JAN_FEB = KpiRange(start=date(2024, 1, 1), end=date(2024, 2, 29))


@pytest.fixture
def challenges(db):
    """Two milestones since December 2023 and five members' purchases (the hand computation is in the tests)."""
    store = Store.objects.create(slug="till", name="Till")
    visits = challenge_create(code="visits", name="Three visits", goal="purchases", target=3, prize_points=50,
                              starts_at=at("2023-12-01"))
    spend = challenge_create(code="spend", name="Spend 100", goal="amount_spent", target=100, prize_points=80,
                             starts_at=at("2023-12-01"))
    people = {name: MemberFactory(email=f"{name}@example.com") for name in "abcdf"}
    purchases = [
        ("a", "2023-12-20", "10.00"), ("a", "2024-01-10", "10.00"), ("a", "2024-01-20", "10.00"),  # started in Dec
        ("b", "2024-01-05", "30.00"), ("b", "2024-02-01", "30.00"), ("b", "2024-03-30", "30.00"),
        ("c", "2024-03-15", "120.00"),
        ("f", "2024-02-15", "150.00"),
        ("d", "2024-04-05", "20.00"),  # after the range
    ]
    for number, (name, day, total) in enumerate(purchases):
        purchase_record(store=store, member=people[name], order_id=f"P{number}", total=Decimal(total),
                        currency="EUR", occurred_at=at(day), now=at(day))
        # what the receiver does after the purchase's commit, at the time of the purchase
        challenge_progress_member_refresh(member_id=people[name].pk, now=at(day, 13))
    return {"visits": visits, "spend": spend, "people": people}


def test_challenge_completion_equals_the_hand_computation(challenges):
    visits, people = challenges["visits"], challenges["people"]
    progress = {row.member_id: row for row in ChallengeProgress.objects.filter(challenge=visits)}
    assert progress[people["b"].pk].started_at == at("2024-01-05", 13)  # the first count with progress
    assert progress[people["b"].pk].completed_at == at("2024-03-30", 13)  # the third purchase
    # Q1: a started in December (left out). Three visits: b, c and f started; b completed (30 March): 1 of 3.
    # Spend 100: b (90, not done), c (120 on 15 March) and f (150 on 15 February): 2 of 3 completed.
    assert kpis_get(period=Q1)["tables"]["challenge_completion"] == [
        ("Spend 100", 3, 2, Decimal("66.7")), ("Three visits", 3, 1, Decimal("33.3")),
    ]
    # January and February: b and f started; by 29 February f completed Spend 100, nobody Three visits.
    assert kpis_get(period=JAN_FEB)["tables"]["challenge_completion"] == [
        ("Spend 100", 2, 1, Decimal("50.0")), ("Three visits", 2, 0, Decimal("0.0")),
    ]
    assert kpis_get(period=KpiRange(start=date(2020, 1, 1), end=date(2020, 12, 31)))["tables"][
        "challenge_completion"] == []


def test_progress_taken_back_to_nothing_is_not_a_start(challenges):
    row = ChallengeProgress.objects.get(challenge=challenges["visits"], member=challenges["people"]["c"])
    ChallengeProgress.objects.filter(pk=row.pk).update(value=0)  # a refund took c's only purchase back
    assert ("Three visits", 2, 1, Decimal("50.0")) in kpis_get(period=Q1, fresh=True)["tables"]["challenge_completion"]


def test_a_member_who_closed_stays_in_the_cohort_started_not_completed(challenges):
    from campaigns.services.challenges import challenge_progress_backfill
    from members.services import member_close

    b = challenges["people"]["b"]
    member_close(member=b, now=at("2024-04-02"))
    from campaigns.services.member_data import member_campaign_data_forget

    member_campaign_data_forget(member_id=b.pk)  # what members.signals.member_closed does after the commit
    # b completed Three visits on 30 March (kept) and had 90 of Spend 100 (cancelled, not completed).
    expected = [("Spend 100", 3, 2, Decimal("66.7")), ("Three visits", 3, 1, Decimal("33.3"))]
    assert kpis_get(period=Q1, fresh=True)["tables"]["challenge_completion"] == expected
    # A recount of everyone (a changed target, a late close-out) leaves the cancelled progress as it was.
    challenge_progress_backfill(challenge=challenges["spend"], now=at("2024-04-03"))
    assert kpis_get(period=Q1, fresh=True)["tables"]["challenge_completion"] == expected


def _referral(channel, created, status=ReferralStatus.PENDING, *, rewarded=None, block_reason="", released=None):
    referral = Referral.objects.create(referrer=MemberFactory(), referee=MemberFactory(), channel=channel,
                                       status=status, block_reason=block_reason,
                                       rewarded_at=at(rewarded) if rewarded else None)
    if released:  # the referee's qualifying purchase, released then
        purchase, _created = purchase_record(store=Store.objects.get_or_create(slug="web", name="Web")[0],
                                             member=referral.referee, order_id=f"Q{referral.pk}",
                                             total=Decimal("20.00"), currency="EUR", occurred_at=at(created))
        Purchase.objects.filter(pk=purchase.pk).update(available_at=at(released))
        Referral.objects.filter(pk=referral.pk).update(purchase=purchase)
    Referral.objects.filter(pk=referral.pk).update(created_at=at(created))
    return referral


@pytest.fixture
def referrals(db):
    portal, api = ReferralChannel.PORTAL, ReferralChannel.API
    _referral(portal, "2024-01-10", ReferralStatus.REWARDED, rewarded="2024-02-01")
    _referral(portal, "2024-02-05", ReferralStatus.REWARDED, rewarded="2024-04-10")  # paid after the range
    _referral(portal, "2024-03-01", ReferralStatus.BLOCKED, block_reason="ip_limit")
    _referral(api, "2024-01-20", ReferralStatus.CAPPED, released="2024-03-01")  # converted, over the cap
    _referral(api, "2024-03-20")  # waiting for a purchase
    _referral(api, "2023-12-20", ReferralStatus.REWARDED, rewarded="2024-01-05")  # referred before the range


def test_referral_conversion_equals_the_hand_computation(referrals):
    # Q1: portal 3 referrals, 1 rewarded by 31 March, 1 blocked: 1 of 3 converted. API: 2 referrals, 1 over the
    # cap (its friend's purchase released on 1 March): 1 of 2. In all: 5, 1 rewarded, 1 capped: 2 of 5.
    assert kpis_get(period=Q1)["tables"]["referral_conversion"] == [
        ("Portal sign-up", 3, 1, 0, 1, Decimal("33.3")),
        ("API or till", 2, 0, 1, 0, Decimal("50.0")),
        ("All referrals", 5, 1, 1, 1, Decimal("40.0")),
    ]
    # January and February: portal 2 (one rewarded on 1 February), API 1 (its purchase released in March).
    assert kpis_get(period=JAN_FEB)["tables"]["referral_conversion"] == [
        ("Portal sign-up", 2, 1, 0, 0, Decimal("50.0")),
        ("API or till", 1, 0, 0, 0, Decimal("0.0")),
        ("All referrals", 3, 1, 0, 0, Decimal("33.3")),
    ]
    assert kpis_get(period=KpiRange(start=date(2020, 1, 1), end=date(2020, 1, 31)))["tables"][
        "referral_conversion"] == []


def test_the_tables_are_on_the_dashboard_and_download_as_csv(admin_client, challenges, referrals):
    assert {"challenge_completion", "referral_conversion"} <= {table.key for table in kpi_tables()}
    period = {"start": "2024-01-01", "end": "2024-03-31"}
    page = admin_client.get(URL, period).content.decode()
    assert 'id="kpi-table-challenge_completion"' in page and 'id="kpi-table-referral_conversion"' in page
    assert "Challenge completion" in page and "Referral conversion" in page

    def download(key):
        response = admin_client.get(URL, {**period, "csv": key})
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode().lstrip("\ufeff"))))

    assert download("challenge_completion") == [
        ["Challenge", "Started", "Completed", "Completion rate (%)"],
        ["Spend 100", "3", "2", "66.7"], ["Three visits", "3", "1", "33.3"],
    ]
    assert download("referral_conversion") == [
        ["Channel", "Referrals", "Rewarded", "Over the cap", "Blocked", "Conversion rate (%)"],
        ["Portal sign-up", "3", "1", "0", "1", "33.3"], ["API or till", "2", "0", "1", "0", "50.0"],
        ["All referrals", "5", "1", "1", "1", "40.0"],
    ]
