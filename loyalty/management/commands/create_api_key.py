from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from loyalty.models import ApiKeyScope, Store
from loyalty.services.api_keys import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a store (created if new). Prints the key alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, help="Store name or slug.")
        parser.add_argument("--scope", required=True, choices=[c.value for c in ApiKeyScope])
        parser.add_argument("--name", default="", help="A label for the key.")

    def handle(self, *args, **options):
        name = options["store"].strip()
        slug = slugify(name)
        if not slug:
            raise CommandError("The store name must contain letters or digits.")
        store = Store.objects.filter(slug=slug).first() or Store.objects.create(slug=slug, name=name)
        _api_key, raw = api_key_create(store=store, scope=options["scope"], name=options["name"])
        self.stdout.write(f"Created a {options['scope']} key for store '{store.slug}'. It is shown only once:")
        self.stdout.write(raw)
