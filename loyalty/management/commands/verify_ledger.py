from django.core.management.base import BaseCommand, CommandError

from loyalty.services.verify import ledger_verify


class Command(BaseCommand):
    help = "Check every ledger invariant; exit non-zero and list each breach."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="Accepted for symmetry with the other jobs; the check is of now.")
        parser.add_argument("--dry-run", action="store_true", help="Accepted for symmetry; this job writes nothing.")

    def handle(self, *args, **options):
        problems = ledger_verify()
        if problems:
            for problem in problems:
                self.stderr.write(f"BROKEN {problem}")
            raise CommandError(f"{len(problems)} ledger invariant(s) broken")
        self.stdout.write(self.style.SUCCESS("ledger ok: every invariant holds"))
