from campaigns.services.leaderboards import leaderboards_refresh
from loyalty.management.commands._job import JobCommand


class Command(JobCommand):
    help = (
        "Recompute this week's, this month's and the all-time leaderboard rows from the ledger, remove members "
        "who left the board and prune old periods (a safety net: rows follow each posting already)."
    )
    job = "refresh_leaderboards"
    service = staticmethod(leaderboards_refresh)

    def describe(self, result):
        return ", ".join(f"{key} {value}" for key, value in result.items())
