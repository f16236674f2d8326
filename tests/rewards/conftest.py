import shutil

import pytest
from django.core.cache import cache

from loyalty.services.ledger import Audit, points_credit
from loyalty.services.program import program_get
from tests.factories import MemberFactory


def give(member, points: int, **kwargs):
    """Credit `points` available now into a new lot; returns the lot's transaction."""
    return points_credit(member=member, points=points, audit=Audit(reason="test credit"), **kwargs)


@pytest.fixture
def program(db):
    return program_get()


@pytest.fixture
def rich_member(db):
    member = MemberFactory()
    give(member, 10_000)
    return member


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    yield settings.MEDIA_ROOT
    shutil.rmtree(tmp_path / "media", ignore_errors=True)
