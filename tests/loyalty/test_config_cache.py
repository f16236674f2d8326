"""The program row and the tier list are cached; every change through the admin, the API or a service
is seen at once, and a rolled-back change never reaches the cache."""

import contextlib
import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F
from django.urls import reverse

from loyalty.models import ConfigVersion, Program, Tier
from loyalty.services import program as program_service
from loyalty.services.program import CONFIG_MODELS, config_memo, program_get, tiers_cached_get
from loyalty.services.tiers import tier_delete, tier_update

pytestmark = pytest.mark.django_db


def fill(capture):
    """Read both once and run the on-commit callbacks that store them (tests run inside a transaction).
    The program row is made first: making it raises the configuration version."""
    Program.objects.get_or_create(pk=1)
    with capture(execute=True):
        program_get()
        tiers_cached_get()


def test_program_and_tiers_are_served_from_the_cache(django_capture_on_commit_callbacks, django_assert_num_queries):
    Tier.objects.create(code="gold", name="Gold", rank=2, threshold=500)
    Tier.objects.create(code="silver", name="Silver", rank=1, threshold=100)
    fill(django_capture_on_commit_callbacks)
    with config_memo(), django_assert_num_queries(1):  # the configuration version, once per request
        program = program_get()
        tiers = tiers_cached_get()
        program_get()
    assert program.pk == 1
    assert [tier.code for tier in tiers] == ["silver", "gold"]
    program.currency = "USD"  # each call returns its own copy: an unsaved change stays local
    assert program_get().currency != "USD"


def test_a_program_change_through_the_api_is_seen_at_once(admin_api_client, django_capture_on_commit_callbacks):
    fill(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api_client.patch("/api/v1/program/", {"point_value": "0.0125"}, format="json")
    assert response.status_code == 200, response.content
    assert program_get().point_value == Decimal("0.0125")
    assert admin_api_client.get("/api/v1/program/").json()["point_value"] == "0.0125"


def test_a_tier_change_through_the_api_and_the_services_is_seen_at_once(
    admin_api_client, pos_api_client, member, django_capture_on_commit_callbacks
):
    Tier.objects.create(code="silver", name="Silver", rank=1, threshold=100)
    fill(django_capture_on_commit_callbacks)
    url = f"/api/v1/members/{member.loyalty_id}/"
    assert pos_api_client.get(url).json()["next_tier"]["remaining"] == 100
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api_client.patch("/api/v1/tiers/silver/", {"threshold": 250}, format="json")
    assert response.status_code == 200, response.content
    assert pos_api_client.get(url).json()["next_tier"]["remaining"] == 250
    tier_update(tier=Tier.objects.get(code="silver"), threshold=300)
    assert pos_api_client.get(url).json()["next_tier"]["remaining"] == 300
    tier_delete(tier=Tier.objects.get(code="silver"))
    assert tiers_cached_get() == []
    assert pos_api_client.get(url).json()["next_tier"] is None


def test_a_tier_added_in_the_admin_is_seen_at_once(client, django_capture_on_commit_callbacks):
    client.force_login(get_user_model().objects.create_superuser(email="boss@example.com", password="pw"))
    fill(django_capture_on_commit_callbacks)
    fields = {"code": "bronze", "name": "Bronze", "rank": 1, "threshold": 10, "multiplier": "1.00", "benefits": "",
              "colour": "#8c6d3f", "price": "", "period_months": ""}
    response = client.post(reverse("admin:loyalty_tier_add"), fields)
    assert response.status_code == 302, response.content[:500]
    assert [tier.code for tier in tiers_cached_get()] == ["bronze"]


def test_a_rolled_back_change_never_reaches_the_cache(django_capture_on_commit_callbacks):
    fill(django_capture_on_commit_callbacks)
    # The RuntimeError rolls the change back on purpose.
    with django_capture_on_commit_callbacks(execute=True), contextlib.suppress(RuntimeError), transaction.atomic():
        program = program_get()
        program.currency = "USD"
        program.save()
        assert program_get().currency == "USD"  # read inside the transaction: its own change
        raise RuntimeError("roll back")
    assert Program.objects.get(pk=1).currency != "USD"
    assert program_get().currency == Program.objects.get(pk=1).currency


# -- the request memo: one cache read per value and request --------------------------------------


def test_a_request_reads_each_cached_value_once(django_capture_on_commit_callbacks, monkeypatch):
    Tier.objects.create(code="silver", name="Silver", rank=1, threshold=100)
    fill(django_capture_on_commit_callbacks)
    reads = []
    real_get = program_service.cache.get

    def counted_get(key, *args, **kwargs):
        reads.append(key)
        return real_get(key, *args, **kwargs)

    monkeypatch.setattr(program_service.cache, "get", counted_get)
    with config_memo():
        first, second = program_get(), program_get()
        tiers = tiers_cached_get()
        tiers_cached_get()
    version = program_service._config_version()
    keys = [program_service.PROGRAM_KEY, program_service.TIERS_KEY]
    assert sorted(reads) == sorted(f"{key}:{version}" for key in keys)
    first.currency = "USD"  # still each caller's own copy
    tiers[0].name = "Changed"
    with config_memo():
        assert program_get().currency != "USD"
    assert second.currency != "USD" and tiers_cached_get()[0].name == "Silver"


def test_each_process_keeps_the_current_version_in_its_memory(django_capture_on_commit_callbacks, monkeypatch):
    """After one read from the shared cache (Redis in production), a process reads no cache at all until
    the version changes; then it reads the new values and forgets the old ones."""
    fill(django_capture_on_commit_callbacks)
    with config_memo():
        program_get(), tiers_cached_get()
    reads = []
    real_get = program_service.cache.get
    monkeypatch.setattr(program_service.cache, "get", lambda key, *a, **k: reads.append(key) or real_get(key, *a, **k))
    with config_memo():
        assert program_get().pk == 1 and tiers_cached_get() == []
    assert reads == []
    Program.objects.filter(pk=1).update(pending_days=14)
    fill(django_capture_on_commit_callbacks)
    with config_memo():
        assert program_get().pending_days == 14
    version = program_service._config_version()
    assert reads and all(key.endswith(f":{version}") for key in reads)
    assert program_service._process and all(key.endswith(f":{version}") for key in program_service._process)


def test_a_change_inside_the_request_is_seen_by_the_rest_of_it(django_capture_on_commit_callbacks):
    fill(django_capture_on_commit_callbacks)
    with config_memo():
        program = program_get()
        program.points_valid_days = 90
        program.save()
        assert program_get().points_valid_days == 90
        Tier.objects.create(code="gold", name="Gold", rank=2, threshold=500)
        assert [tier.code for tier in tiers_cached_get()] == ["gold"]


def test_a_value_read_in_a_rolled_back_transaction_is_not_kept_for_the_request(django_capture_on_commit_callbacks):
    fill(django_capture_on_commit_callbacks)
    with config_memo():
        with contextlib.suppress(RuntimeError), transaction.atomic():
            Program.objects.filter(pk=1).update(points_valid_days=7)  # no signal: the cache keeps the old row
            program_service.cached_forget(program_service.PROGRAM_KEY)  # as a save would
            assert program_get().points_valid_days == 7  # read from the database, inside the transaction
            raise RuntimeError("roll back")
        assert program_get().points_valid_days != 7


def test_the_middleware_gives_each_request_a_memo(pos_api_client, member, monkeypatch):
    seen = []
    real = program_service._cached

    def spy(key, load):
        seen.append(program_service._memo.get())
        return real(key, load)

    monkeypatch.setattr(program_service, "_cached", spy)
    for _ in range(2):
        assert pos_api_client.get(f"/api/v1/members/{member.loyalty_id}/").status_code == 200
    assert seen and all(memo is not None for memo in seen), "a request read the configuration without a memo"
    assert len({id(memo) for memo in seen}) == 2  # one memo per request
    assert program_service._memo.get() is None  # and none is left behind


# -- the configuration version: every process, every kind of change, every install ---------------------


def version():
    return ConfigVersion.objects.get(pk=1).version


@pytest.mark.parametrize("model", CONFIG_MODELS, ids=lambda model: model.__name__)
def test_every_cached_table_raises_the_version_on_any_change(model):
    """Each table whose rows are cached has its ConfigVersionTrigger: insert, update(), SQL, delete."""
    before = version()
    row = model.objects.first() or baker(model)
    assert version() > before or model is Program  # the program row may exist already
    steps = [
        lambda: model.objects.filter(pk=row.pk).update(id=F("id")),  # no signal
        lambda: connection.cursor().execute(f"UPDATE {model._meta.db_table} SET id = id WHERE id = %s", [row.pk]),
        lambda: model.objects.filter(pk=row.pk).delete(),
    ]
    for step in steps:
        before = version()
        step()
        assert version() > before


def baker(model):
    """One row of a configuration model, made with the fewest fields."""
    from campaigns.models import Challenge, Promotion, PromotionKind
    from loyalty.models import EarningRule

    rows = {
        Program: lambda: Program.objects.get_or_create(pk=1)[0],
        Tier: lambda: Tier.objects.create(code="t", name="T", rank=9, threshold=1),
        EarningRule: lambda: EarningRule.objects.create(sku="SKU-1", excluded=True),
        Promotion: lambda: Promotion.objects.create(name="P", kind=PromotionKind.FLAT, points=5),
        Challenge: lambda: Challenge.objects.create(code="c", name="C", goal="purchases", target=1, prize_points=5),
    }
    return rows[model]()


def test_a_queryset_update_is_seen_by_the_next_request(django_capture_on_commit_callbacks):
    """No save signal runs: the trigger's version makes the cached row unreachable."""
    fill(django_capture_on_commit_callbacks)
    Program.objects.filter(pk=1).update(pending_days=14, max_discount_percent=10)
    Tier.objects.create(code="gold", name="Gold", rank=2, threshold=500)
    Tier.objects.filter(code="gold").update(threshold=750)
    with config_memo():
        assert (program_get().pending_days, program_get().max_discount_percent) == (14, 10)
        assert [tier.threshold for tier in tiers_cached_get()] == [750]


def test_a_value_cached_by_another_install_is_never_read(django_capture_on_commit_callbacks):
    """Two installs on one cache: the version carries the install, so their keys never meet."""
    fill(django_capture_on_commit_callbacks)
    ours = program_service._config_version()
    other = f"{uuid.uuid4()}:{ours.split(':')[1]}"
    stranger = Program(pk=1, name="Another install", currency="USD")
    cache.set(f"{program_service.PROGRAM_KEY}:{other}", stranger)
    cache.set(f"{program_service.TIERS_KEY}:{other}", [Tier(pk=999, code="alien", name="Alien", rank=1)])
    with config_memo():
        assert program_get().name != "Another install"
        assert tiers_cached_get() == []


def test_cache_keys_are_namespaced_per_install():
    """settings: CACHE_KEY_PREFIX from the environment, by default one derived from the database."""
    assert settings.CACHES["default"]["KEY_PREFIX"] == settings.CACHE_KEY_PREFIX
    assert settings.CACHE_KEY_PREFIX
