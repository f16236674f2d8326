"""`create_api_key --store` names an existing store (slug or name) and never forks one: a second store for
the same shop would let the same order earn twice, once per store."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from loyalty.models import ApiKey, Purchase, Store
from loyalty.services.api_keys import api_key_authenticate
from loyalty.services.purchases import purchase_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def webshop():
    """As the demo makes it: slug `webshop`, name "Web shop"."""
    return Store.objects.create(slug="webshop", name="Web shop")


def create_key(*args) -> tuple[str, str]:
    out = StringIO()
    call_command("create_api_key", *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    return lines[-1], out.getvalue()


def test_the_stores_name_finds_the_store_and_the_order_earns_once(webshop, member):
    purchase_record(store=webshop, member=member, order_id="WC-1001", total="40.00", currency="EUR")
    raw, _output = create_key("--store", "Web shop", "--scope", "pos")
    assert list(Store.objects.values_list("slug", flat=True)) == ["webshop"]
    assert api_key_authenticate(raw=raw).store == webshop
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    again = client.post("/api/v1/purchases/", {"member": member.loyalty_id, "order_id": "WC-1001", "total": "40.00",
                                               "currency": "EUR"}, format="json")
    assert again.status_code == 200, again.content  # a replay of the known order: it does not earn again
    assert Purchase.objects.count() == 1


@pytest.mark.parametrize("reference", ["webshop", "  webshop ", "WEB SHOP", "web shop"])
def test_slug_or_whole_name_in_any_case(webshop, reference):
    raw, output = create_key("--store", reference, "--scope", "admin")
    assert api_key_authenticate(raw=raw).store == webshop
    assert "Created store" not in output and Store.objects.count() == 1


def test_an_unknown_store_is_refused_and_nothing_is_created(webshop):
    with pytest.raises(CommandError, match="--create") as refused:
        create_key("--store", "Main Street", "--scope", "pos")
    assert "webshop (Web shop)" in str(refused.value)  # the stores there are, to pick from
    assert Store.objects.count() == 1 and not ApiKey.objects.exists()


@pytest.mark.parametrize("reference", ["web-shop", "WebShop", "Web  shop!"])
def test_a_look_alike_is_refused_even_with_create(webshop, reference):
    for args in ([], ["--create"]):
        with pytest.raises(CommandError, match="webshop"):
            create_key("--store", reference, "--scope", "pos", *args)
    assert Store.objects.count() == 1 and not ApiKey.objects.exists()


def test_a_name_two_stores_share_is_ambiguous():
    Store.objects.create(slug="till-a", name="Till")
    Store.objects.create(slug="till-b", name="till")
    with pytest.raises(CommandError, match="till-a .* till-b"):
        create_key("--store", "Till", "--scope", "pos")
    raw, _output = create_key("--store", "till-b", "--scope", "pos")
    assert api_key_authenticate(raw=raw).store.slug == "till-b"


def test_create_makes_a_new_store_only_when_asked(webshop):
    raw, output = create_key("--store", "Main Street shop", "--scope", "pos", "--create")
    store = Store.objects.get(slug="main-street-shop")
    assert store.name == "Main Street shop" and api_key_authenticate(raw=raw).store == store
    assert "Created store 'main-street-shop'" in output
    # Run again (a setup script): the store now exists, so --create changes nothing but the new key.
    again, output = create_key("--store", "Main Street shop", "--scope", "pos", "--create")
    assert api_key_authenticate(raw=again).store == store and "Created store" not in output
    assert Store.objects.count() == 2


def test_a_name_without_letters_or_digits_is_refused():
    with pytest.raises(CommandError):
        create_key("--store", "!!!", "--scope", "pos", "--create")
    assert not Store.objects.exists()
