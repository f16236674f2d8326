from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from rewards.services import redemptions_expire


class Command(BaseCommand):
    help = "Mark issued coupons past their expiry as expired (their points are not given back)."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="ISO 8601 time (default: now).")
        parser.add_argument("--dry-run", action="store_true", help="Count only; change nothing.")

    def handle(self, *args, **options):
        as_of = timezone.now()
        if options["as_of"]:
            as_of = parse_datetime(options["as_of"])
            if as_of is None:
                raise CommandError(f"not an ISO 8601 time: {options['as_of']!r}")
            if timezone.is_naive(as_of):
                as_of = timezone.make_aware(as_of)
        count = redemptions_expire(as_of=as_of, dry_run=options["dry_run"])
        verb = "would expire" if options["dry_run"] else "expired"
        self.stdout.write(f"{verb} {count} coupons as of {as_of.isoformat()}")
