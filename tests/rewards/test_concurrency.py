"""Parallel redemptions on PostgreSQL: stock, per-member limits and voucher pools never oversell."""

import threading
from collections import Counter

import pytest
from django.db import connection, connections, transaction

from loyalty.selectors import member_points_get
from loyalty.services.ledger import system_shard
from loyalty.services.verify import ledger_verify
from rewards.models import Redemption, RewardKind, VoucherCode
from rewards.services import (
    coupon_use,
    points_redeem_for_discount,
    redemption_cancel,
    reward_redeem,
    voucher_codes_import,
)
from tests.concurrency import held_open, lock_wait_limit
from tests.factories import MemberFactory
from tests.rewards.conftest import give
from tests.rewards.factories import RewardFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_parallel(calls):
    """Run each zero-argument callable in its own thread (own connection), all released at once.
    Returns a Counter of outcomes: "ok" or the error code."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(call):
        try:
            barrier.wait(timeout=30)
            call()
            outcome = "ok"
        except Exception as error:  # noqa: BLE001 - the outcome is what the test counts
            outcome = getattr(error, "code", repr(error))
        finally:
            connections.close_all()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=worker, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcomes) == len(calls), "a worker hung"
    return Counter(outcomes)


def test_thirty_parallel_redemptions_of_stock_five_give_exactly_five():
    assert connection.vendor == "postgresql"
    reward = RewardFactory(cost_points=100, stock=5)
    members = [MemberFactory() for _ in range(30)]
    for member in members:
        give(member, 100)

    outcomes = run_parallel([lambda m=m: reward_redeem(member=m, reward=reward) for m in members])

    assert outcomes == Counter({"ok": 5, "out_of_stock": 25})
    reward.refresh_from_db()
    assert reward.stock == 0
    assert Redemption.objects.filter(reward=reward).count() == 5
    spent = sorted(member_points_get(member=m)["available"] for m in members)
    assert spent == [0] * 5 + [100] * 25
    assert ledger_verify() == []


def test_per_member_limit_holds_under_concurrency():
    reward = RewardFactory(cost_points=10, per_member_limit=2)
    member = MemberFactory()
    give(member, 1000)

    outcomes = run_parallel([lambda: reward_redeem(member=member, reward=reward) for _ in range(12)])

    assert outcomes == Counter({"ok": 2, "limit_reached": 10})
    assert Redemption.objects.filter(member=member).count() == 2
    assert member_points_get(member=member)["available"] == 980
    assert ledger_verify() == []


def test_voucher_pool_hands_each_code_out_once():
    reward = RewardFactory(kind=RewardKind.PARTNER_VOUCHER, cost_points=10)
    voucher_codes_import(reward=reward, codes=[f"P-{i}" for i in range(4)])
    members = [MemberFactory() for _ in range(10)]
    for member in members:
        give(member, 10)

    outcomes = run_parallel([lambda m=m: reward_redeem(member=m, reward=reward) for m in members])

    assert outcomes == Counter({"ok": 4, "out_of_stock": 6})
    assert VoucherCode.objects.filter(redemption__isnull=False).count() == 4
    assert ledger_verify() == []


def test_cancel_and_use_race_lets_exactly_one_win():
    member = MemberFactory()
    give(member, 1000)
    redemptions = [points_redeem_for_discount(member=member, points=100) for _ in range(6)]
    calls = []
    for redemption in redemptions:
        calls.append(lambda r=redemption: redemption_cancel(redemption=r))
        calls.append(lambda r=redemption: coupon_use(code=r.code, order_id="X"))

    outcomes = run_parallel(calls)

    assert outcomes["ok"] == 6  # per coupon: either cancelled or used, never both
    assert set(outcomes) <= {"ok", "coupon_used", "already_cancelled"}
    cancelled = Redemption.objects.filter(member=member, status="cancelled").count()
    assert member_points_get(member=member)["available"] == 1000 - 600 + 100 * cancelled
    assert ledger_verify() == []


def test_redemptions_of_an_unlimited_reward_do_not_wait_for_each_other():
    """No stock and no per-member limit: nothing to take under the reward's lock, so one redemption held open
    does not hold up another member's (each locked the reward row until it committed)."""
    reward = RewardFactory(cost_points=100, stock=None, per_member_limit=None)
    first = MemberFactory()
    second = next(m for m in (MemberFactory() for _ in range(50)) if system_shard(m.pk) != system_shard(first.pk))
    give(first, 100)
    give(second, 100)
    with held_open(lambda: reward_redeem(member=first, reward=reward)), transaction.atomic():
        lock_wait_limit(3)
        reward_redeem(member=second, reward=reward)
    assert Redemption.objects.filter(reward=reward).count() == 2
    assert ledger_verify() == []
