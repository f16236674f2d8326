"""Referrals: the referee's bonus on joining, the referrer's once the referee's first purchase with points is
released, the fraud refusals, the cap per referrer, and staff review (unblock, cancel)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import BlockReason, Referral, ReferralChannel, ReferralStatus
from campaigns.services.referrals import (
    ReferralError,
    email_canonical,
    referral_cancel,
    referral_unblock,
)
from loyalty.models import LedgerTransaction, Store
from loyalty.selectors import member_points_get
from loyalty.services.jobs import pending_points_release
from loyalty.services.purchases import purchase_record, refund_record
from loyalty.services.verify import ledger_verify
from members.models import MemberStatus
from members.services import member_create, member_status_set
from tests.campaigns.support import program_set
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

REFERRER_BONUS, REFEREE_BONUS = 500, 200


@pytest.fixture
def store(db):
    return Store.objects.create(slug="shop", name="Shop")


@pytest.fixture(autouse=True)
def _bonuses(db):
    program_set(referral_referrer_bonus=REFERRER_BONUS, referral_referee_bonus=REFEREE_BONUS, pending_days=0)


@pytest.fixture
def referrer(db):
    return MemberFactory(email="anna.jansen@example.com", first_name="Anna", last_name="Jansen")


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what waits for the commit (the points_posted receivers) as the block ends."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def join(referrer, email="bram.bakker@example.com", **kwargs):
    kwargs.setdefault("first_name", "Bram")
    kwargs.setdefault("last_name", "Bakker")
    return member_create(email=email, referred_by=referrer, **kwargs)


def buy(store, member, order_id="A1", total="30.00", **kwargs):
    kwargs.setdefault("occurred_at", timezone.now() - timedelta(minutes=1))
    return purchase_record(store=store, member=member, order_id=order_id, total=total, currency="EUR", **kwargs)[0]


def available(member) -> int:
    return member_points_get(member=member)["available"]


def test_the_happy_path(store, referrer, committed):
    referee = join(referrer)
    referral = Referral.objects.get(referee=referee)
    assert (referral.referrer, referral.status, referral.channel) == (referrer, ReferralStatus.PENDING, "api")
    assert available(referee) == REFEREE_BONUS
    assert referral.referee_transaction.reason_text == "Welcome bonus: referred by Anna J."
    assert available(referrer) == 0

    with committed():
        purchase = buy(store, referee)
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.REWARDED and referral.rewarded_at is not None
    assert (referral.purchase, referral.referrer_points) == (purchase, REFERRER_BONUS)
    assert available(referrer) == REFERRER_BONUS
    assert referral.referrer_transaction.reason_text == "Referral bonus: Bram B. made a first purchase"

    with committed():
        buy(store, referee, order_id="A2")  # a second purchase pays nothing more
    assert available(referrer) == REFERRER_BONUS
    assert LedgerTransaction.objects.filter(member=referrer).count() == 1
    assert ledger_verify() == []


def test_nothing_for_the_referrer_before_the_release_then_the_release_job_pays(store, referrer, committed):
    program_set(pending_days=14)
    referee = join(referrer)
    with committed():
        buy(store, referee)
    referral = Referral.objects.get(referee=referee)
    assert referral.status == ReferralStatus.PENDING and available(referrer) == 0

    as_of = timezone.now() + timedelta(days=15)
    with committed():
        pending_points_release(as_of=as_of)
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.REWARDED and referral.rewarded_at == as_of
    assert available(referrer) == REFERRER_BONUS


def test_a_full_refund_before_the_release_pays_no_referrer(store, referrer, committed):
    program_set(pending_days=14)
    referee = join(referrer)
    with committed():
        purchase = buy(store, referee)
        refund_record(store=store, purchase=purchase, refund_id="R1", amount="30.00")
        pending_points_release(as_of=timezone.now() + timedelta(days=15))
    referral = Referral.objects.get(referee=referee)
    assert referral.status == ReferralStatus.PENDING and referral.purchase is None
    assert available(referrer) == 0

    with committed():  # a later purchase that is kept qualifies
        buy(store, referee, order_id="A2")
        pending_points_release(as_of=timezone.now() + timedelta(days=30))
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.REWARDED and referral.purchase.order_id == "A2"


def test_a_partial_refund_before_the_release_still_qualifies(store, referrer, committed):
    program_set(pending_days=14)
    referee = join(referrer)
    with committed():
        purchase = buy(store, referee)
        refund_record(store=store, purchase=purchase, refund_id="R1", amount="10.00")
        pending_points_release(as_of=timezone.now() + timedelta(days=15))
    assert Referral.objects.get(referee=referee).status == ReferralStatus.REWARDED


def test_a_purchase_without_points_does_not_qualify(store, referrer, committed):
    referee = join(referrer)
    with committed():
        buy(store, referee, total="0.40")  # rounds to 0 points
    assert Referral.objects.get(referee=referee).status == ReferralStatus.PENDING


# -- fraud ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("referrer_email", "referee_email"), [
    ("anna.jansen@example.com", "annajansen@example.com"),
    ("anna.jansen@example.com", "Anna.Jansen+free@Example.com"),
    ("annajansen+shop@example.com", "a.n.n.a.jansen+other@example.com"),
])
def test_an_alias_of_the_referrers_own_email_is_blocked(store, referrer_email, referee_email, committed):
    referrer = MemberFactory(email=referrer_email)
    referee = join(referrer, email=referee_email)
    referral = Referral.objects.get(referee=referee)
    assert (referral.status, referral.block_reason) == (ReferralStatus.BLOCKED, BlockReason.SAME_EMAIL)
    assert available(referee) == 0
    with committed():
        buy(store, referee)
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.BLOCKED and available(referrer) == 0


def test_email_canonical():
    assert email_canonical(" J.Doe+X@Example.COM ") == "jdoe@example.com"
    assert email_canonical("jdoe@ex.ample.com") == "jdoe@ex.ample.com"  # dots in the domain stay
    assert email_canonical("jdoe@example.com") != email_canonical("jdoe@example.org")


@pytest.mark.parametrize("status", [MemberStatus.SUSPENDED, MemberStatus.CLOSED])
def test_an_inactive_referrer_is_blocked(referrer, status):
    member_status_set(member=referrer, status=status)
    referee = join(referrer)
    referral = Referral.objects.get(referee=referee)
    assert (referral.status, referral.block_reason) == (ReferralStatus.BLOCKED, BlockReason.REFERRER_INACTIVE)
    assert available(referee) == 0


def test_a_referrer_suspended_before_the_purchase_is_not_paid(store, referrer, committed):
    referee = join(referrer)
    member_status_set(member=referrer, status=MemberStatus.SUSPENDED)
    with committed():
        buy(store, referee)
    referral = Referral.objects.get(referee=referee)
    assert (referral.status, referral.block_reason) == (ReferralStatus.BLOCKED, BlockReason.REFERRER_INACTIVE)
    assert available(referrer) == 0


def portal_join(referrer, n, ip):
    return member_create(email=f"friend{n}@example.net", referred_by=referrer, referral_channel=ReferralChannel.PORTAL,
                         ip_address=ip)


def test_more_than_ten_portal_referrals_a_week_from_one_ip_are_blocked(referrer):
    other_referrer = MemberFactory()
    for n in range(10):
        portal_join(referrer if n % 2 else other_referrer, n, "203.0.113.7")
    assert not Referral.objects.filter(status=ReferralStatus.BLOCKED).exists()
    eleventh = Referral.objects.get(referee=portal_join(referrer, 10, "203.0.113.7"))
    assert (eleventh.status, eleventh.block_reason) == (ReferralStatus.BLOCKED, BlockReason.IP_LIMIT)
    assert available(eleventh.referee) == 0
    assert Referral.objects.get(referee=portal_join(referrer, 11, "198.51.100.1")).status == ReferralStatus.PENDING
    # the till and the API are not counted: they enrol many members from one address
    assert Referral.objects.get(referee=join(referrer, email="till@example.net")).status == ReferralStatus.PENDING


def test_the_ip_rule_counts_only_the_last_seven_days(referrer):
    for n in range(10):
        portal_join(referrer, n, "203.0.113.7")
    Referral.objects.update(created_at=timezone.now() - timedelta(days=7, minutes=1))
    assert Referral.objects.get(referee=portal_join(referrer, 10, "203.0.113.7")).status == ReferralStatus.PENDING


# -- the cap -----------------------------------------------------------------------------------------------------


def test_at_most_referral_cap_referrals_are_rewarded(store, referrer, committed):
    program_set(referral_cap=2)
    referees = [join(referrer, email=f"friend{n}@example.net") for n in range(3)]
    for n, referee in enumerate(referees):
        with committed():
            buy(store, referee, order_id=f"A{n}")
    statuses = [Referral.objects.get(referee=r).status for r in referees]
    assert statuses == [ReferralStatus.REWARDED, ReferralStatus.REWARDED, ReferralStatus.CAPPED]
    assert available(referrer) == 2 * REFERRER_BONUS
    assert all(available(r) == REFEREE_BONUS + 30 for r in referees)  # referees are paid regardless of the cap


def test_no_cap_rewards_every_referral(store, referrer, committed):
    referees = [join(referrer, email=f"friend{n}@example.net") for n in range(4)]
    for n, referee in enumerate(referees):
        with committed():
            buy(store, referee, order_id=f"A{n}")
    assert Referral.objects.filter(status=ReferralStatus.REWARDED).count() == 4


# -- staff review ----------------------------------------------------------------------------------------------


def test_unblock_pays_as_if_never_blocked(store, committed):
    referrer = MemberFactory(email="anna@example.com")
    referee = join(referrer, email="anna+2@example.com")
    with committed():
        buy(store, referee)  # released while blocked: nothing paid
    referral = Referral.objects.get(referee=referee)
    assert referral.status == ReferralStatus.BLOCKED and available(referrer) == 0

    referral = referral_unblock(referral=referral)
    assert referral.status == ReferralStatus.REWARDED and referral.block_reason == ""
    assert available(referee) == REFEREE_BONUS + 30
    assert available(referrer) == REFERRER_BONUS
    with pytest.raises(ReferralError):
        referral_unblock(referral=referral)  # only blocked ones


def test_unblock_before_any_purchase_leaves_it_pending(store, committed):
    referrer = MemberFactory(email="anna@example.com")
    referee = join(referrer, email="anna+2@example.com")
    referral = referral_unblock(referral=Referral.objects.get(referee=referee))
    assert referral.status == ReferralStatus.PENDING and available(referee) == REFEREE_BONUS
    with committed():
        buy(store, referee)
    assert Referral.objects.get(pk=referral.pk).status == ReferralStatus.REWARDED


def test_unblock_refuses_while_the_referrer_is_inactive(referrer):
    member_status_set(member=referrer, status=MemberStatus.SUSPENDED)
    referral = Referral.objects.get(referee=join(referrer))
    with pytest.raises(ReferralError):
        referral_unblock(referral=referral)
    assert Referral.objects.get(pk=referral.pk).status == ReferralStatus.BLOCKED


def test_cancel_ends_a_referral(store, referrer, committed):
    referee = join(referrer)
    referral = referral_cancel(referral=Referral.objects.get(referee=referee))
    assert referral.status == ReferralStatus.CANCELLED
    with committed():
        buy(store, referee)
    assert Referral.objects.get(pk=referral.pk).status == ReferralStatus.CANCELLED
    assert available(referrer) == 0
    assert available(referee) == REFEREE_BONUS + 30  # what was paid stays
    with pytest.raises(ReferralError):
        referral_cancel(referral=referral)


def test_a_blocked_referral_can_be_cancelled(referrer):
    member_status_set(member=referrer, status=MemberStatus.SUSPENDED)
    referral = referral_cancel(referral=Referral.objects.get(referee=join(referrer)))
    assert (referral.status, referral.block_reason) == (ReferralStatus.CANCELLED, "")


# -- the catch-up job ---------------------------------------------------------------------------------------------


def test_the_reward_referrals_job_catches_up_what_the_live_reward_missed(store, referrer):
    import io

    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    from campaigns import tasks
    from campaigns.services.referrals import referrals_reward_due

    program_set(referral_cap=1)
    first, second = join(referrer), join(referrer, email="chloe@example.com")
    buy(store, first)  # no commit callbacks here: as if the process died before the live reward ran
    buy(store, second, order_id="A2")
    assert not Referral.objects.exclude(status=ReferralStatus.PENDING).exists()

    out = io.StringIO()
    call_command("reward_referrals", "--dry-run", stdout=out)
    assert "2 referrals due" in out.getvalue()
    assert not Referral.objects.exclude(status=ReferralStatus.PENDING).exists()

    assert tasks.reward_referrals.delay().get() == {
        "referrals": 2, "rewarded": 1, "capped": 1, "blocked": 0, "failed": 0, "dry_run": False}
    assert available(referrer) == REFERRER_BONUS
    assert referrals_reward_due(as_of=timezone.now())["referrals"] == 0  # twice: nothing more
    assert PeriodicTask.objects.filter(task="campaigns.tasks.reward_referrals", enabled=True).exists()


def test_the_job_leaves_purchases_not_yet_released(store, referrer):
    from campaigns.services.referrals import referrals_reward_due

    program_set(pending_days=14)
    buy(store, join(referrer))
    assert referrals_reward_due(as_of=timezone.now())["referrals"] == 0
