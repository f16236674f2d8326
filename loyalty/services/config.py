"""Changing the program settings and the stores: the same validation for the API as for the admin."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
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
