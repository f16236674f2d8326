"""What the campaign services share: the campaigns' own errors and the jobs that post prizes."""

from __future__ import annotations

from loyalty.services.ledger import LedgerError

# Ledger postings of prizes carry one of these as their `job`. No prize counts towards a challenge or the
# leaderboard, so one prize never feeds another.
CHALLENGE_PRIZE_JOB = "challenge_prize"
LEADERBOARD_PRIZE_JOB = "award_leaderboard_prizes"
PRIZE_JOBS = (CHALLENGE_PRIZE_JOB, LEADERBOARD_PRIZE_JOB)


class CampaignInvalid(LedgerError):
    """Bad configuration or input: 422 `invalid` with messages per field (the API's error handler maps it)."""

    code = "invalid"
    status_code = 422

    def __init__(self, detail: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.fields = fields or {}
