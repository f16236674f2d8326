import pytest

from loyalty.selectors import member_points_get
from loyalty.services.ledger import Audit, InsufficientPoints, points_credit, points_debit
from loyalty.services.verify import ledger_verify


@pytest.mark.django_db
def test_credit_then_debit(member):
    points_credit(member=member, points=100, audit=Audit(reason="test", idempotency_key="a"))
    points_debit(member=member, points=40, audit=Audit(reason="spend", idempotency_key="b"))
    member.refresh_from_db()
    assert member_points_get(member=member) == {"available": 60, "pending": 0, "lifetime_earned": 100}
    with pytest.raises(InsufficientPoints):
        points_debit(member=member, points=61, audit=Audit(reason="spend", idempotency_key="c"))
    assert ledger_verify() == []
