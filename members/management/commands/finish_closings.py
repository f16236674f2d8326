from django.core.management.base import BaseCommand

from members.services import members_closings_finish


class Command(BaseCommand):
    help = (
        "Close, as the portal does (points forfeited, personal data erased, login removed), the members whose "
        "status staff set to closed before every closing went through the closing service (closed, no closed_at)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List them; change nothing.")

    def handle(self, *args, **options):
        result = members_closings_finish(dry_run=options["dry_run"])
        prefix = "DRY RUN: " if options["dry_run"] else ""
        for line in result["refused"]:
            self.stderr.write(f"REFUSED {line}")
        self.stdout.write(f"{prefix}{len(result['closed'])} closings finished, {len(result['refused'])} refused")
