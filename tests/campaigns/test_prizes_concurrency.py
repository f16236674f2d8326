"""PostgreSQL only: prizes are paid exactly once when the events that earn them commit at the same moment."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import BadgeAward, ChallengeProgress, LeaderboardAward, LeaderboardPrize, ProgressStatus
from campaigns.services.badges import badge_create
from campaigns.services.challenges import challenge_complete, challenge_create
from campaigns.services.leaderboards import leaderboard_prizes_award, period_get
from loyalty.models import LedgerTransaction, Store
from loyalty.services.ledger import Audit, points_credit
from loyalty.services.purchases import purchase_record
from loyalty.services.verify import ledger_verify
from tests.concurrency import run_together
from tests.factories import MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 12


def test_parallel_purchases_of_one_member_pay_the_challenge_prize_once():
    store = Store.objects.create(slug="shop", name="Shop")
    member = MemberFactory()
    badge = badge_create(code="fast", name="Fast")
    goal = challenge_create(code="rush", name="Rush", goal="purchases", target=3, prize_points=100, prize_badge=badge,
                            starts_at=timezone.now() - timedelta(days=1))
    at = timezone.now() - timedelta(minutes=5)
    purchase_record(store=store, member=MemberFactory(), order_id="warm-up", total="1.00", currency="EUR",
                    occurred_at=at)  # the system accounts exist, as in any live program

    # Each purchase commits on its own connection; its after-commit recount runs in that thread, so several
    # threads see the target reached at once and race to complete the challenge.
    results = run_together(lambda i: purchase_record(store=store, member=member, order_id=f"P{i}", total="5.00",
                                                     currency="EUR", occurred_at=at), n=THREADS)

    assert [r for r in results if isinstance(r, Exception)] == []
    row = ChallengeProgress.objects.get(challenge=goal, member=member)
    assert row.status == ProgressStatus.COMPLETED
    prizes = LedgerTransaction.objects.filter(idempotency_key=f"challenge:{goal.pk}:{member.pk}")
    assert prizes.count() == 1 and row.prize_transaction_id == prizes.get().pk
    assert BadgeAward.objects.filter(member=member, badge=badge).count() == 1
    assert ledger_verify() == []


def test_racing_completions_of_one_member_pay_once():
    member = MemberFactory()
    goal = challenge_create(code="race", name="Race", goal="purchases", target=1, prize_points=40,
                            starts_at=timezone.now() - timedelta(days=1))
    ChallengeProgress.objects.create(challenge=goal, member=member, value=1)
    points_credit(member=MemberFactory(), points=1, audit=Audit(reason="warm-up"))  # the system accounts exist

    results = run_together(lambda i: challenge_complete(challenge=goal, member_id=member.pk, value=1), n=THREADS)

    assert [r for r in results if isinstance(r, Exception)] == []
    assert sum(1 for r in results if r is not None) == 1
    assert LedgerTransaction.objects.filter(job="challenge_prize", member=member).count() == 1


def test_concurrent_prize_jobs_pay_each_place_once():
    last_month = period_get("month", period_get("month").starts_at - timedelta(days=1))
    members = [MemberFactory() for _ in range(3)]
    for points, member in zip([300, 200, 100], members, strict=True):
        member.__class__.objects.filter(pk=member.pk).update(nickname=f"n{points}", leaderboard_opt_in=True)
        points_credit(member=member, points=points, kind="bonus",
                      audit=Audit(reason="t", occurred_at=last_month.starts_at + timedelta(days=3)))
    for rank, points in [(1, 50), (2, 30), (3, 10)]:
        LeaderboardPrize.objects.create(rank=rank, points=points)
    as_of = timezone.now()

    results = run_together(lambda i: leaderboard_prizes_award(as_of=as_of), n=6)

    assert [r for r in results if isinstance(r, Exception)] == []
    assert sum(r["paid"] for r in results) == 3
    assert LeaderboardAward.objects.filter(period_key=last_month.key).count() == 3
    assert LedgerTransaction.objects.filter(job="award_leaderboard_prizes").count() == 3
    assert ledger_verify() == []
