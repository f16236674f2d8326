"""The member emails: welcome (with the card), tier upgrade, reward redeemed and the expiry reminder. Branded,
in the member's language, sent after the commit, each switchable by the programme and (but the welcome) by
the member."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from loyalty.services.jobs import expiry_reminders_send
from loyalty.services.ledger import Audit, points_credit
from loyalty.services.program import program_get
from loyalty.services.tiers import tier_create
from members.models import Member
from members.services import member_create
from rewards.services import reward_redeem
from tests.rewards.factories import RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run what the code queues for after its commit (the test's own transaction never commits)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def tiers(db):
    return (tier_create(code="bronze", name="Bronze", rank=1, threshold=0),
            tier_create(code="silver", name="Silver", rank=2, threshold=100, benefits="Free shipping on all orders."),
            tier_create(code="gold", name="Gold", rank=3, threshold=1000))


def subjects() -> list[str]:
    return [message.subject for message in mail.outbox]


def test_a_member_enrolled_at_the_till_is_welcomed_with_the_card(commit, settings):
    settings.DEFAULT_FROM_EMAIL = "Shop <shop@example.com>"
    program = program_get()
    program.name = "Koffie Club"
    program.save()
    with commit():
        member = member_create(email="till@example.com", first_name="Tilly", language="nl")
    assert subjects() == ["Welkom bij Koffie Club: uw klantenkaart"]
    message = mail.outbox[0]
    assert message.from_email == "Koffie Club <shop@example.com>" and message.to == ["till@example.com"]
    assert "Beste Tilly," in message.body and "/accounts/signup/" in message.body  # no login yet: how to get one
    html = message.alternatives[0][0]
    assert '<html lang="nl">' in html and "cid:loyalty-card-qr" in html
    member.refresh_from_db()
    assert member.welcome_sent_at is not None


def test_the_programme_can_switch_the_welcome_email_off(commit):
    program = program_get()
    program.welcome_email = False
    program.save()
    with commit():
        member_create(email="till@example.com")
    assert mail.outbox == []


def test_a_tier_upgrade_emails_the_member_after_the_commit(commit, tiers):
    member = member_create(email="up@example.com", first_name="Uma")
    mail.outbox.clear()
    with commit():
        points_credit(member=member, points=150, audit=Audit(reason="Order", idempotency_key="u-1"))
        assert mail.outbox == []  # not inside the transaction
    assert subjects() == ["You reached Silver!"]
    body = mail.outbox[0].body
    assert "you are now a Silver member" in body and "Free shipping on all orders." in body
    assert "Earn 850 more points to reach Gold." in body


def test_the_entry_tier_sends_no_upgrade_email(commit, tiers):
    with commit():
        member = member_create(email="new@example.com")
    assert member.tier == tiers[0]
    assert not any("reached" in subject for subject in subjects())


def test_a_member_can_switch_the_tier_upgrade_email_off(commit, tiers):
    member = member_create(email="quiet@example.com")
    Member.objects.filter(pk=member.pk).update(email_tier_upgrade=False)
    mail.outbox.clear()
    with commit():
        points_credit(member=member, points=150, audit=Audit(reason="Order", idempotency_key="q-1"))
    assert mail.outbox == []
    member.refresh_from_db()
    assert member.tier == tiers[1]


def test_redeeming_a_reward_emails_the_coupon(commit):
    member = member_create(email="cake@example.com", language="nl")
    points_credit(member=member, points=500, audit=Audit(reason="Order", idempotency_key="r-1"))
    mail.outbox.clear()
    reward = RewardFactory(code="cake", name="Taart", cost_points=200, how_to_use="Laat de code zien bij de bar.")
    with commit():
        redemption = reward_redeem(member=member, reward=reward)
    assert subjects() == ["Uw kortingscode: Taart"]
    message = mail.outbox[0]
    assert redemption.code in message.body and "Laat de code zien bij de bar." in message.body
    assert f"/rewards/coupons/{redemption.pk}/" in message.body
    assert "cid:coupon-qr" in message.alternatives[0][0]


def test_the_member_and_the_programme_can_switch_the_coupon_email_off(commit):
    member = member_create(email="cake@example.com")
    points_credit(member=member, points=500, audit=Audit(reason="Order", idempotency_key="r-1"))
    reward = RewardFactory(code="cake", cost_points=100)
    mail.outbox.clear()
    Member.objects.filter(pk=member.pk).update(email_reward_redeemed=False)
    with commit():
        reward_redeem(member=member, reward=reward)
    assert mail.outbox == []
    Member.objects.filter(pk=member.pk).update(email_reward_redeemed=True)
    program = program_get()
    program.reward_redeemed_email = False
    program.save()
    with commit():
        reward_redeem(member=member, reward=reward)
    assert mail.outbox == []


def test_expiry_reminders_respect_both_switches():
    member = member_create(email="exp@example.com")
    soon = timezone.now() + timedelta(days=5)
    points_credit(member=member, points=80, audit=Audit(reason="Order", idempotency_key="x-1"), expires_at=soon)
    mail.outbox.clear()
    Member.objects.filter(pk=member.pk).update(email_expiry_reminder=False)
    assert expiry_reminders_send(as_of=timezone.now())["sent"] == 0
    Member.objects.filter(pk=member.pk).update(email_expiry_reminder=True)
    program = program_get()
    program.expiry_reminder_email = False
    program.save()
    assert expiry_reminders_send(as_of=timezone.now())["sent"] == 0
    program.expiry_reminder_email = True
    program.save()
    assert expiry_reminders_send(as_of=timezone.now())["sent"] == 1
    assert "worth €0.80" in mail.outbox[0].body


def test_a_failed_delivery_never_breaks_the_request_that_queued_it(commit, monkeypatch, caplog):
    def broken(self, fail_silently=False):
        raise OSError("smtp down")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", broken)
    with commit():
        member = member_create(email="till@example.com")
    member.refresh_from_db()
    assert member.welcome_sent_at is None  # taken back: the next try sends it
    assert "send_welcome_email failed" in caplog.text
