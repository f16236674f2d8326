from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from loyalty.services.ledger import LedgerError
from rewards.models import Reward
from rewards.services import voucher_codes_from_csv, voucher_codes_import


class Command(BaseCommand):
    help = "Add partner voucher codes from a CSV file (first column, optional `code` header) to a reward's pool."

    def add_arguments(self, parser):
        parser.add_argument("--reward", required=True, help="The partner voucher reward's code.")
        parser.add_argument("file", help="CSV file, UTF-8; '-' reads standard input.")
        parser.add_argument("--dry-run", action="store_true", help="Read and check the file; add nothing.")

    def handle(self, *args, **options):
        reward = Reward.objects.filter(code=options["reward"]).first()
        if reward is None:
            raise CommandError(f"no reward with code {options['reward']!r}")
        if options["file"] == "-":
            import sys

            data = sys.stdin.buffer.read()
        else:
            path = Path(options["file"])
            if not path.is_file():
                raise CommandError(f"no such file: {path}")
            data = path.read_bytes()
        try:
            codes = voucher_codes_from_csv(data=data)
            if options["dry_run"]:
                self.stdout.write(f"dry run: {len(codes)} codes read for {reward.code}; nothing added")
                return
            result = voucher_codes_import(reward=reward, codes=codes)
        except LedgerError as error:
            raise CommandError(error.detail) from None
        self.stdout.write(
            f"{result.created} codes added to {reward.code}; "
            f"{result.duplicates} duplicates and {result.invalid} invalid rows skipped"
        )
