"""DATABASE_REPLICA_URL: the KPI dashboard and the portal's dashboard and history read the domain's rows from
the replica; sign-in, the cached configuration, writes and every other page stay on the primary."""

import pytest
from django.contrib.sessions.models import Session
from django.test import override_settings
from django.urls import reverse

from loyalty.models import ConfigVersion, LedgerTransaction, PointLot, Program, Tier
from loyalty.replicas import REPLICA, ReplicaRouter, _reading, replica_alias, replica_reads
from members.models import Member, User
from tests.factories import MemberFactory, UserFactory


def test_the_router_sends_only_the_domains_reads_inside_the_block():
    router = ReplicaRouter()
    assert router.db_for_read(LedgerTransaction) is None
    with replica_reads():
        assert [router.db_for_read(model) for model in (LedgerTransaction, PointLot, Member)] == [REPLICA] * 3
        assert [router.db_for_read(model) for model in (User, Session, Program, Tier, ConfigVersion)] == [None] * 5
        assert router.db_for_write(LedgerTransaction) is None
        assert replica_alias() == "default"  # no replica configured here: raw reads stay on the primary
    assert router.db_for_read(LedgerTransaction) is None
    assert router.allow_migrate("default", "loyalty") and not router.allow_migrate(REPLICA, "loyalty")


class Recorder:
    """A router that answers nothing and records which reads ran inside replica_reads()."""

    reads: list[tuple[str, bool]] = []

    def db_for_read(self, model, **hints):
        self.reads.append((model._meta.label, _reading.get()))


@pytest.fixture
def recorded():
    Recorder.reads = []
    with override_settings(DATABASE_ROUTERS=[Recorder()]):
        yield Recorder.reads


@pytest.mark.django_db
def test_the_portal_pages_and_the_kpi_dashboard_read_inside_the_block(client, admin_client, recorded):
    user = UserFactory(email="mia@example.com")
    MemberFactory(email=user.email, user=user)
    client.force_login(user)
    for url in (reverse("portal:dashboard"), reverse("portal:history")):
        recorded.clear()
        assert client.get(url).status_code == 200
        assert ("loyalty.LedgerTransaction", True) in recorded
    recorded.clear()
    assert admin_client.get(reverse("kpi_dashboard")).status_code == 200
    assert ("loyalty.LedgerTransaction", True) in recorded or ("members.Member", True) in recorded
    recorded.clear()
    assert client.get(reverse("portal:profile")).status_code == 200  # every other page: the primary
    assert recorded and not any(inside for _label, inside in recorded)
