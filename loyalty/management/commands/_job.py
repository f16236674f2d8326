"""Shared plumbing of the job commands (release_pending_points, expire_points, ...): `--as-of`,
`--dry-run`, a progress bar on a terminal (periodic log lines otherwise), a summary line and a non-zero
exit status on failure. The work itself is a service in loyalty.services.jobs (or tiers)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from tqdm import tqdm

from loyalty.services import jobs
from loyalty.services.jobs import Progress
from loyalty.services.program import config_memo

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

logger = logging.getLogger("loyalty.jobs")


class JobCommand(BaseCommand):
    """A subclass names its `job`, its `service` (a staticmethod taking as_of, dry_run, progress and
    returning counts) and a `summary` format over those counts."""

    job: str
    service: Callable[..., dict]
    summary: str | StrPromise

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of", metavar="ISO-8601",
            help="Act as of this date or date-time (default: now; without an offset: the site's time zone).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Report what would be done; change nothing.")

    def run(self, *, as_of: datetime, dry_run: bool, progress: Progress, options: dict) -> dict:
        return self.service(as_of=as_of, dry_run=dry_run, progress=progress)

    def describe(self, result: dict) -> str:
        return str(self.summary) % result

    def _progress(self):
        if self.stdout.isatty():
            bar = tqdm(desc=self.job, unit="member", leave=False, dynamic_ncols=True, file=self.stderr._out)

            def advance(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)
                if done >= total:
                    bar.refresh()  # show the end even when updates came faster than tqdm redraws

            return advance, bar.close
        return jobs.log_progress(self.job, log=logger), lambda: None

    def handle(self, *args, **options):
        try:
            as_of = jobs.as_of_parse(options["as_of"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        progress, close = self._progress()
        try:
            with config_memo():  # one configuration for the whole run, read once (loyalty.services.program)
                result = self.run(as_of=as_of, dry_run=options["dry_run"], progress=progress, options=options)
        except CommandError:
            raise
        except Exception as error:
            logger.exception("%s failed", self.job)
            raise CommandError(_("%(job)s failed: %(error)s") % {"job": self.job, "error": error}) from error
        finally:
            close()
        prefix = _("DRY RUN, nothing changed: ") if options["dry_run"] else ""
        self.stdout.write(f"{prefix}{self.job} as of {as_of.isoformat()}: {self.describe(result)}")
        if result.get("failed"):
            raise CommandError(
                _("%(job)s: %(failed)s item(s) failed; see the log, then run it again.")
                % {"job": self.job, "failed": result["failed"]}
            )
