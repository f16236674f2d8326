"""Changing the program settings and the stores: the same validation for the API as for the admin."""

import re

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from loyalty.models import Program, Store
from loyalty.services.program import program_get


@transaction.atomic
def program_update(**fields) -> Program:
    """Set program fields; raises django's ValidationError (keyed by field) and changes nothing if invalid."""
    program = Program.objects.select_for_update().filter(pk=program_get().pk).get()
    for name, value in fields.items():
        setattr(program, name, value)
    if program.currency:
        program.currency = program.currency.upper()
    program.full_clean()
    program.save()
    return program


def _store_save(store: Store) -> Store:
    store.full_clean()
    try:
        with transaction.atomic():
            store.save()
    except IntegrityError:  # a concurrent create took the slug between the check and the insert
        raise ValidationError({"slug": [_("A store with this slug already exists.")]}) from None
    return store


def store_create(*, slug: str, name: str, woocommerce_secret: str = "", auto_enroll: bool = False) -> Store:
    return _store_save(Store(slug=slug, name=name, woocommerce_secret=woocommerce_secret, auto_enroll=auto_enroll))


def store_update(*, store: Store, **fields) -> Store:
    for name, value in fields.items():
        setattr(store, name, value)
    return _store_save(store)


# -- naming a store (create_api_key --store) --------------------------------------------------------


class StoreReferenceError(Exception):
    """--store named no store, or more than one, or a new store would look like an existing one."""


def _look(text: str) -> str:
    """What a store name or slug looks like to a person: "Web shop", "web-shop" and "WebShop" are alike."""
    return re.sub(r"[^0-9a-z]", "", slugify(text))


def _described(stores) -> str:
    return ", ".join(f"{store.slug} ({store.name})" for store in stores)


def store_resolve(*, reference: str, create: bool = False) -> tuple[Store, bool]:
    """The store `reference` names: its slug, else its whole name (any case). Returns (store, created).

    An unknown reference is an error unless `create` is set; then a store is created with that name (slug
    from the name), except when an existing store looks the same ("Web shop" beside `webshop`): a second
    store for one shop would make its orders earn twice, once per store. A name that several stores share
    is ambiguous: use the slug.
    """
    reference = reference.strip()
    if not reference:
        raise StoreReferenceError(_("Name a store by its slug or its name."))
    store = Store.objects.filter(slug=reference).first()
    if store is not None:
        return store, False
    named = list(Store.objects.filter(name__iexact=reference).order_by("slug"))
    if len(named) == 1:
        return named[0], False
    if named:
        raise StoreReferenceError(
            _("%(count)s stores are named \"%(name)s\": %(stores)s. Use the slug.")
            % {"count": len(named), "name": reference, "stores": _described(named)}
        )
    looks = _look(reference)
    alike = [store for store in Store.objects.order_by("slug") if looks in (_look(store.slug), _look(store.name))]
    if alike:
        raise StoreReferenceError(
            _("No store has the slug or name \"%(name)s\", but %(stores)s looks the same: use its slug.")
            % {"name": reference, "stores": _described(alike)}
        )
    if not create:
        existing = _described(Store.objects.order_by("slug")) or _("none")
        raise StoreReferenceError(
            _("No store has the slug or name \"%(name)s\" (stores: %(stores)s). To create it, add --create.")
            % {"name": reference, "stores": existing}
        )
    slug = slugify(reference)
    if not slug:
        raise StoreReferenceError(_("A new store's name must contain letters or digits."))
    try:
        return store_create(slug=slug[:50], name=reference), True
    except ValidationError as error:
        raise StoreReferenceError("; ".join(error.messages)) from None
