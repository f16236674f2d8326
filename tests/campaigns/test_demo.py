"""The demo loads the campaigns through the real services: action rules, actions, referral chains (one blocked)
and sign-up bonuses."""

import io

import pytest
from django.core.management import call_command

from campaigns.models import ActionEvent, ActionRule, BlockReason, Referral, ReferralStatus
from loyalty.models import LedgerTransaction
from loyalty.services.verify import ledger_verify
from members.models import Member

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_demo_has_actions_referrals_and_sign_up_bonuses():
    call_command("demo", "--no-serve", "--force", "--members", "60", "--days", "200", stdout=io.StringIO())
    assert ledger_verify() == []
    assert ActionRule.objects.filter(active=True).count() >= 4
    assert ActionEvent.objects.filter(type="review", capped=False).exists()
    assert LedgerTransaction.objects.filter(idempotency_key__startswith="signup:").count() == Member.objects.count()
    blocked = Referral.objects.filter(status=ReferralStatus.BLOCKED)
    assert list(blocked.values_list("block_reason", flat=True)) == [BlockReason.SAME_EMAIL]
    assert Referral.objects.filter(status=ReferralStatus.REWARDED).exists()
    assert Referral.objects.filter(referrer__email="member@demo.example.com").exists()
    chains = Referral.objects.filter(referrer__referral__isnull=False)  # a referred member who referred others
    assert chains.exists()
