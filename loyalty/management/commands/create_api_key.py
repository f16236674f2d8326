from django.core.management.base import BaseCommand, CommandError

from loyalty.models import ApiKeyScope
from loyalty.services.api_keys import api_key_create
from loyalty.services.config import StoreReferenceError, store_resolve


class Command(BaseCommand):
    help = (
        "Create an API key for an existing store, named by its slug or its name (--create makes a new store). "
        "Prints the key alone on the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="The store's slug or its exact name (any case).")
        parser.add_argument("--scope", required=True, choices=[c.value for c in ApiKeyScope])
        parser.add_argument("--name", default="", help="A label for the key.")
        parser.add_argument(
            "--create", action="store_true",
            help="Create the store (with this name) if no store has this slug or name.",
        )

    def handle(self, *args, **options):
        try:
            store, created = store_resolve(reference=options["store"], create=options["create"])
        except StoreReferenceError as error:
            raise CommandError(str(error)) from None
        if created:
            self.stdout.write(f"Created store '{store.slug}' ({store.name}).")
        _api_key, raw = api_key_create(store=store, scope=options["scope"], name=options["name"])
        self.stdout.write(f"Created a {options['scope']} key for store '{store.slug}'. It is shown only once:")
        self.stdout.write(raw)
