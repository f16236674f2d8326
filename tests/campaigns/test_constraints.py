"""The database itself refuses action rules, action events and referrals that break their rules."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.models import ActionEvent, ActionRule, Referral, ReferralStatus
from loyalty.services.ledger import Audit, points_credit
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _rule(**values):
    return ActionRule.objects.create(**({"type": "quiz", "name": "Quiz", "points": 5} | values))


def _event(member, **values):
    return ActionEvent.objects.create(**({"member": member, "type": "quiz", "occurred_at": timezone.now()} | values))


def _referral(**values):
    return Referral.objects.create(**({"referrer": MemberFactory(), "referee": MemberFactory()} | values))


CASES = [
    ("action_rule_points_positive", lambda m: _rule(points=0)),
    ("action_rule_type_slug", lambda m: _rule(type="Not a slug")),
    ("action_rule_per_day_positive", lambda m: _rule(per_day=0)),
    ("action_rule_lifetime_positive", lambda m: _rule(lifetime=0)),
    ("action_event_capped_earns_nothing", lambda m: _event(m, capped=True, points=5, cap="day")),
    ("action_event_capped_earns_nothing", lambda m: _event(m, capped=True, points=0, cap="")),
    ("action_event_capped_earns_nothing", lambda m: _event(m, capped=False, cap="day")),
    ("action_event_once_per_reference", lambda m: (_event(m, reference="r"), _event(m, reference="r"))),
    ("referral_not_self", lambda m: Referral.objects.create(referrer=m, referee=m)),
    ("referral_blocked_has_reason", lambda m: _referral(status=ReferralStatus.BLOCKED)),
    ("referral_blocked_has_reason", lambda m: _referral(block_reason="same_email")),
    ("referral_rewarded_has_time", lambda m: _referral(status=ReferralStatus.REWARDED)),
    ("referral_referrer_paid_only_rewarded", lambda m: _referral(
        referrer_transaction=points_credit(member=m, points=1, audit=Audit(reason="x", idempotency_key="x")))),
]


@pytest.mark.parametrize(("name", "write"), CASES, ids=[f"{name}-{i}" for i, (name, _w) in enumerate(CASES)])
def test_the_database_refuses(member, name, write):
    with pytest.raises(IntegrityError), transaction.atomic():
        write(member)


def test_sound_rows_are_accepted(member):
    _rule(per_day=1, lifetime=3)
    _event(member, capped=True, cap="week")
    _event(member, reference="a", once_per_reference=False)
    _event(member, reference="a", once_per_reference=False)
    _referral(status=ReferralStatus.BLOCKED, block_reason="ip_limit")
    _referral(status=ReferralStatus.REWARDED, rewarded_at=timezone.now())
