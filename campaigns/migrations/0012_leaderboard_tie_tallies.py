"""Tie tallies (levels 2-4 of LeaderboardTally): how many entries of a board reached a score within a band of
time, so that a member's rank no longer reads every member who tied with them entry by entry.

The existing boards get theirs counted here from the scores (the bands as of this migration; the service's
TIE_BAND_SECONDS must not change without a migration that counts them again)."""

from collections import Counter
from datetime import UTC, datetime, timedelta

from django.db import migrations, models

TIE_BAND_SECONDS = (2**22, 2**14, 2**6)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def tie_tallies_count(apps, schema_editor):
    LeaderboardScore = apps.get_model("campaigns", "LeaderboardScore")
    LeaderboardTally = apps.get_model("campaigns", "LeaderboardTally")
    LeaderboardTally.objects.filter(level__gte=2).delete()
    counts: Counter = Counter()
    entries = LeaderboardScore.objects.filter(points__gt=0).values_list("period_key", "points", "reached_at")
    for period_key, points, reached_at in entries.iterator(chunk_size=10_000):
        seconds = (reached_at - EPOCH) // timedelta(seconds=1)
        for level, width in enumerate(TIE_BAND_SECONDS, start=2):
            counts[period_key, level, points, seconds // width] += 1
    LeaderboardTally.objects.bulk_create(
        (LeaderboardTally(period_key=period_key, level=level, key=key, band=band, members=members)
         for (period_key, level, key, band), members in sorted(counts.items())),
        batch_size=5000,
    )


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0011_challenge_progress_cancelled'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='leaderboardtally',
            name='leaderboard_tally_once',
        ),
        migrations.RemoveConstraint(
            model_name='leaderboardtally',
            name='leaderboard_tally_level',
        ),
        migrations.AddField(
            model_name='leaderboardtally',
            name='band',
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddConstraint(
            model_name='leaderboardtally',
            constraint=models.UniqueConstraint(fields=('period_key', 'level', 'key', 'band'), name='leaderboard_tally_once'),
        ),
        migrations.AddConstraint(
            model_name='leaderboardtally',
            constraint=models.CheckConstraint(condition=models.Q(('level__in', [0, 1, 2, 3, 4])), name='leaderboard_tally_level'),
        ),
        migrations.RunPython(tie_tallies_count, migrations.RunPython.noop),
    ]
