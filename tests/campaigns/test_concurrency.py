"""PostgreSQL only: actions, referrals and the sign-up bonus under real concurrency (threads on their own
connections, released together; the tests commit for real so the after-commit receivers run)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import ActionEvent, ActionRule, Referral, ReferralStatus
from campaigns.services.actions import action_event_record
from loyalty.models import LedgerTransaction, Store
from loyalty.selectors import member_points_get
from loyalty.services.ledger import points_release
from loyalty.services.purchases import purchase_record
from loyalty.services.verify import ledger_verify
from members.services import member_confirm, member_create, signup_bonus_key
from tests.campaigns.support import local, program_set
from tests.concurrency import run_together
from tests.factories import MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_identical_events_at_once_count_once():
    # (transaction=True tests may start from an emptied database, without the built-in rules)
    ActionRule.objects.update_or_create(type="review", defaults={"name": "Review", "points": 50, "active": True})
    member = MemberFactory()
    results = run_together(lambda i: action_event_record(member=member, type="review", reference="KOF-1KG"), n=10)
    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(not r.replayed for r in results) == 1
    assert len({r.event.pk for r in results}) == 1
    assert ActionEvent.objects.count() == 1
    assert member_points_get(member=member)["available"] == 50
    assert ledger_verify() == []


def test_events_racing_for_the_last_places_under_a_cap_never_exceed_it():
    ActionRule.objects.update_or_create(type="social_share", defaults={
        "name": "Share", "points": 10, "per_day": 3, "active": True, "once_per_reference": False})
    member = MemberFactory()
    at = local(2025, 6, 2, 12, 0)
    action_event_record(member=member, type="social_share", occurred_at=at)
    results = run_together(
        lambda i: action_event_record(member=member, type="social_share", reference=f"p{i}", occurred_at=at), n=12
    )
    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(not r.event.capped for r in results) == 2
    assert ActionEvent.objects.filter(capped=False).count() == 3
    assert member_points_get(member=member)["available"] == 30


def test_ten_referees_released_at_once_reward_exactly_referral_cap():
    program_set(referral_referrer_bonus=500, referral_referee_bonus=100, referral_cap=3, pending_days=14)
    store = Store.objects.create(slug="shop", name="Shop")
    referrer = MemberFactory()
    referees = [member_create(email=f"friend{n}@example.net", referred_by=referrer) for n in range(10)]
    for n, referee in enumerate(referees):
        purchase_record(store=store, member=referee, order_id=f"A{n}", total="25.00", currency="EUR")
    assert not Referral.objects.exclude(status=ReferralStatus.PENDING).exists()
    as_of = timezone.now() + timedelta(days=15)

    results = run_together(lambda i: points_release(member=referees[i], as_of=as_of), n=10)

    assert not [r for r in results if isinstance(r, Exception)]
    statuses = list(Referral.objects.values_list("status", flat=True))
    assert statuses.count(ReferralStatus.REWARDED) == 3
    assert statuses.count(ReferralStatus.CAPPED) == 7
    assert member_points_get(member=referrer)["available"] == 3 * 500
    assert LedgerTransaction.objects.filter(member=referrer).count() == 3
    assert ledger_verify() == []


def test_the_sign_up_bonus_is_paid_once_when_confirmations_race():
    program_set(signup_bonus=150)
    member = member_create(email="race@example.com", confirmed=False)
    results = run_together(lambda i: member_confirm(member=member), n=8)
    assert not [r for r in results if isinstance(r, Exception)]
    assert LedgerTransaction.objects.filter(idempotency_key=signup_bonus_key(member_id=member.pk)).count() == 1
    assert member_points_get(member=member)["available"] == 150
