import pytest
from django.db import connection
from django.utils import translation

from tests.factories import MemberFactory


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://..."))


@pytest.fixture(autouse=True)
def _cache_cleared():
    """Each test starts with an empty cache: the database rolls back between tests, the cache does not
    (the program and the tier list are cached, see loyalty.services.program)."""
    from django.core.cache import cache

    from loyalty.services import program

    cache.clear()
    program._process.clear()  # this process's copy of the configuration: versions repeat after a rollback
    yield
    cache.clear()
    program._process.clear()


@pytest.fixture(autouse=True)
def _english_by_default():
    """A request in Dutch activates Dutch for the thread; never let that leak into the next test."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _system_accounts(request):
    """A transactional test may start after another's flush emptied every table: the system ledger accounts
    (made by migrations) are made again up front, as a deployed database has them, and the posting service's
    cache of their ids is forgotten."""
    from loyalty.services import ledger

    ledger._system_ids_cache.clear()
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        request.getfixturevalue("transactional_db")
        ledger.system_accounts_ensure()


@pytest.fixture
def staff_roles(db):
    """The staff role groups. Migration 0013 creates them, but a transactional test before this one (its
    flush) may have emptied the table."""
    from loyalty.roles import staff_roles_ensure

    staff_roles_ensure()


@pytest.fixture
def member(db):
    return MemberFactory()


# -- REST API clients (an API key per scope on one store) --------------------------------------------


@pytest.fixture
def api_store(db):
    from loyalty.models import Store

    return Store.objects.create(slug="till-1", name="Till 1")


def _api_client(store, scope):
    from rest_framework.test import APIClient

    from loyalty.services.api_keys import api_key_create

    api_key, raw = api_key_create(store=store, scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    client.api_key = api_key
    client.raw_key = raw
    return client


@pytest.fixture
def pos_api_client(api_store):
    """APIClient sending a `pos` key of `api_store`; `.api_key` and `.raw_key` tell which."""
    return _api_client(api_store, "pos")


@pytest.fixture
def admin_api_client(api_store):
    """APIClient sending an `admin` key of `api_store`."""
    return _api_client(api_store, "admin")
