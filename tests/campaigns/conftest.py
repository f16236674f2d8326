import itertools
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.services.challenges import challenge_create
from loyalty.models import Store
from loyalty.services.ledger import Audit, points_credit
from loyalty.services.purchases import purchase_record, refund_record
from members.models import User
from tests.factories import MemberFactory

_orders = itertools.count(1)


@pytest.fixture
def store(db):
    return Store.objects.create(slug="shop", name="Shop")


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed():` runs what the block leaves for after its commit (the receivers), as a real commit
    would; without it the test's transaction never commits and nothing reacts."""

    @contextmanager
    def block():
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            yield callbacks

    return block


def buy(store, member, total="10.00", *, at=None, lines=None, order_id=None):
    """A purchase through the real service (default: an hour ago)."""
    purchase, _created = purchase_record(
        store=store, member=member, order_id=order_id or f"O-{next(_orders)}", total=total, currency="EUR",
        occurred_at=at or timezone.now() - timedelta(hours=1), lines=lines,
    )
    return purchase


def refund(store, purchase, amount):
    return refund_record(store=store, purchase=purchase, refund_id=f"R-{next(_orders)}", amount=amount)


def bonus(member, points, *, at=None, job=""):
    return points_credit(member=member, points=points, kind="bonus",
                         audit=Audit(reason="test bonus", occurred_at=at, job=job))


def challenge(**fields):
    """A challenge through the service; defaults: 3 purchases since ten days ago, 50 bonus points."""
    fields.setdefault("code", f"c{next(_orders)}")
    fields.setdefault("name", "Challenge")
    fields.setdefault("goal", "purchases")
    fields.setdefault("target", 3)
    fields.setdefault("prize_points", 50)
    fields.setdefault("starts_at", timezone.now() - timedelta(days=10))
    return challenge_create(**fields)


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def signed_in(email, client_class=Client, **member_fields):
    """A member with a login, and a client (Client or APIClient) signed in as them: `client.member`."""
    user = User.objects.create_user(email, "correct horse battery")
    member = MemberFactory(email=email, user=user)
    if member_fields:
        member.__class__.objects.filter(pk=member.pk).update(**member_fields)
        member.refresh_from_db()
    client = client_class()
    client.force_login(user)
    client.member = member
    return client
