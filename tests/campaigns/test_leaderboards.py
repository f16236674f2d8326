"""Leaderboards: order, ties, who is on the board, week and month boundaries in the site's time zone, a
member's own rank, the refresh job and the monthly prizes (once per month)."""

import io
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.models import Value
from django.db.models.functions import Concat
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import TIE_BAND_SECONDS, LeaderboardAward, LeaderboardPrize, LeaderboardScore, LeaderboardTally
from campaigns.services.leaderboards import (
    _scores_upsert,
    _tally_rebuild,
    leaderboard_member_refresh,
    leaderboard_prizes_award,
    leaderboard_rank_get,
    leaderboard_rank_sql,
    leaderboard_tally_problems,
    leaderboard_top_get,
    leaderboards_refresh,
    period_get,
    periods_containing,
)
from loyalty.models import LedgerTransaction
from loyalty.services.ledger import Audit, points_credit, points_reverse
from members.models import Member, MemberStatus
from members.services import member_profile_update
from tests.campaigns.conftest import buy, refund
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def local(*args):
    return timezone.make_aware(datetime(*args))


def player(nickname, *, opted_in=True):
    member = MemberFactory()
    member.__class__.objects.filter(pk=member.pk).update(nickname=nickname, leaderboard_opt_in=opted_in)
    member.refresh_from_db()
    return member


def earn(member, points, at, job=""):
    txn = points_credit(member=member, points=points, kind="bonus",
                        audit=Audit(reason="test", occurred_at=at, job=job), now=max(at, timezone.now()))
    leaderboard_member_refresh(member_id=member.pk, at=at)
    return txn


def board(kind="all", at=None, limit=10):
    """The board of the period holding `at`; by default that of buy()'s purchase an hour ago (which is last
    week's just after midnight on a Monday)."""
    period = period_get(kind, at or timezone.now() - timedelta(hours=1))
    return [(row["nickname"], row["points"]) for row in leaderboard_top_get(period=period, limit=limit)]


def test_order_and_ties_go_to_whoever_reached_the_score_first():
    t0 = timezone.now() - timedelta(days=3)
    late, early, top = player("late"), player("early"), player("top")
    earn(early, 100, t0)
    earn(late, 60, t0 - timedelta(hours=5))
    earn(late, 40, t0 + timedelta(hours=1))  # reaches 100 after `early` did
    earn(top, 150, t0 + timedelta(hours=2))
    assert board() == [("top", 150), ("early", 100), ("late", 100)]
    ranks = {m.nickname: leaderboard_rank_get(member=m, period=period_get("all")) for m in (top, early, late)}
    assert ranks == {"top": {"rank": 1, "points": 150}, "early": {"rank": 2, "points": 100},
                     "late": {"rank": 3, "points": 100}}
    assert board(limit=2) == [("top", 150), ("early", 100)]


def test_a_tie_at_the_same_moment_goes_to_the_lower_member_id():
    at = timezone.now() - timedelta(hours=2)
    first, second = player("first"), player("second")
    earn(second, 50, at)
    earn(first, 50, at)
    assert board() == [("first", 50), ("second", 50)]
    assert leaderboard_rank_get(member=second, period=period_get("all"))["rank"] == 2


def test_only_active_members_who_opted_in_with_a_nickname(committed):
    at = timezone.now() - timedelta(hours=1)
    shown, shy, anonymous, suspended = player("shown"), player("shy", opted_in=False), player(""), player("gone")
    for member in (shown, shy, anonymous, suspended):
        earn(member, 10, at)
    suspended.__class__.objects.filter(pk=suspended.pk).update(status=MemberStatus.SUSPENDED)
    assert board() == [("shown", 10)]
    for member in (shy, anonymous):
        member.refresh_from_db()
        assert leaderboard_rank_get(member=member, period=period_get("all")) is None
    assert not LeaderboardScore.objects.filter(member__in=[shy, anonymous]).exists()
    # Opting out takes the member off at once (rows deleted after the commit); opting in puts them back.
    with committed():
        member_profile_update(member=shown, leaderboard_opt_in=False)
    assert board() == [] and not LeaderboardScore.objects.filter(member=shown).exists()
    with committed():
        member_profile_update(member=shown, leaderboard_opt_in=True)
    assert board() == [("shown", 10)]


def test_suspending_a_member_takes_them_off_the_board_and_out_of_the_ranks(committed):
    from members.services import member_status_set

    at = timezone.now() - timedelta(hours=1)
    first, second = player("first"), player("second")
    earn(first, 90, at)
    earn(second, 40, at)
    assert leaderboard_rank_get(member=second, period=period_get("all"))["rank"] == 2
    with committed():
        member_status_set(member=first, status=MemberStatus.SUSPENDED)  # an UPDATE, no save: its own signal
    assert not LeaderboardScore.objects.filter(member=first).exists() and leaderboard_tally_problems() == []
    assert leaderboard_rank_get(member=second, period=period_get("all"))["rank"] == 1
    with committed():
        member_status_set(member=first, status=MemberStatus.ACTIVE)
    assert board() == [("first", 90), ("second", 40)]


def test_a_purchase_and_its_refund_move_the_board_after_the_commit(store, committed):
    member = player("buyer")
    with committed():
        purchase = buy(store, member, "40.00", at=timezone.now())  # and refunded now: in one week, even on Monday
    assert board("week", at=purchase.occurred_at) == [("buyer", 40)]
    with committed():
        refund(store, purchase, "10.00")
    assert board("week", at=timezone.now()) == [("buyer", 30)]
    assert board("all") == [("buyer", 30)]


def test_week_boundaries_are_iso_weeks_in_the_site_time_zone():
    # Sunday 23:30 in Amsterdam is 21:30 UTC (summer): still that week. Monday 00:10 starts the next one.
    sunday, monday = local(2025, 6, 29, 23, 30), local(2025, 6, 30, 0, 10)
    assert sunday.utcoffset() == timedelta(hours=2)
    late_sunday, early_monday = player("sunday"), player("monday")
    earn(late_sunday, 30, sunday)
    earn(early_monday, 20, monday)
    assert period_get("week", sunday).key == "2025-W26" and period_get("week", monday).key == "2025-W27"
    assert board("week", sunday) == [("sunday", 30)]
    assert board("week", monday) == [("monday", 20)]
    assert period_get("week", monday).starts_at == local(2025, 6, 30)


def test_month_boundaries_in_the_site_time_zone():
    # 31 January 23:30 local is 22:30 UTC; 1 February 00:10 local is still 31 January 23:10 UTC.
    january, february = local(2025, 1, 31, 23, 30), local(2025, 2, 1, 0, 10)
    assert february.astimezone(UTC).day == 31
    jan, feb = player("jan"), player("feb")
    earn(jan, 5, january)
    earn(feb, 7, february)
    assert period_get("month", january).key == "2025-01" and period_get("month", february).key == "2025-02"
    assert board("month", january) == [("jan", 5)]
    assert board("month", february) == [("feb", 7)]
    assert board("all") == [("feb", 7), ("jan", 5)]


def test_prizes_never_count_on_the_board():
    at = timezone.now() - timedelta(hours=1)
    member = player("winner")
    earn(member, 10, at)
    earn(member, 500, at, job="award_leaderboard_prizes")
    earn(member, 300, at, job="challenge_prize")
    assert board() == [("winner", 10)]


def test_an_older_computation_never_overwrites_a_newer_one():
    at = timezone.now() - timedelta(hours=1)
    member = player("racer")
    earn(member, 10, at)
    row = LeaderboardScore.objects.get(member=member, period_key="all")
    LeaderboardScore.objects.filter(pk=row.pk).update(points=999, last_transaction_id=row.last_transaction_id + 1000)
    _scores_upsert(periods_containing(at), member_id=member.pk)  # saw less than what is stored: left alone
    assert LeaderboardScore.objects.get(pk=row.pk).points == 999


def test_the_database_keeps_one_row_per_member_and_period():
    member = player("one")
    earn(member, 10, timezone.now() - timedelta(hours=1))
    with pytest.raises(IntegrityError), transaction.atomic():
        LeaderboardScore.objects.create(member=member, period_key="all", points=1, reached_at=timezone.now(),
                                        last_transaction_id=1)


def test_refresh_job_rebuilds_removes_leavers_and_prunes_old_periods():
    now = timezone.now()
    stays, leaves = player("stays"), player("leaves")
    for member in (stays, leaves):
        points_credit(member=member, points=25, kind="bonus", audit=Audit(reason="t", occurred_at=now))
    assert not LeaderboardScore.objects.exists()  # no task ran (no commit): the job catches up
    leaves.__class__.objects.filter(pk=leaves.pk).update(leaderboard_opt_in=False)
    LeaderboardScore.objects.create(member=leaves, period_key="all", points=5, reached_at=now, last_transaction_id=1)
    LeaderboardScore.objects.create(member=stays, period_key="2001-W01", points=5, reached_at=now,
                                    last_transaction_id=1)
    LeaderboardScore.objects.create(member=stays, period_key="2001-01", points=5, reached_at=now,
                                    last_transaction_id=1)
    out = io.StringIO()
    call_command("refresh_leaderboards", "--dry-run", stdout=out)
    assert "DRY RUN" in out.getvalue() and LeaderboardScore.objects.filter(member=leaves).exists()
    result = leaderboards_refresh(as_of=now)
    assert result["left"] == 1 and result["pruned"] == 2
    assert board("week", now) == [("stays", 25)] and board("month", now) == [("stays", 25)]
    assert board() == [("stays", 25)]
    assert leaderboards_refresh(as_of=now)["rows_changed"] == 0  # nothing left to change


def test_refresh_finds_the_leavers_with_an_anti_join():
    """NOT EXISTS, never NOT IN (subquery): PostgreSQL runs the latter as a scan of every member for every score
    row once the members do not fit in work_mem (a million members: hours)."""
    now = timezone.now()
    member = player("stays")
    points_credit(member=member, points=5, kind="bonus", audit=Audit(reason="t", occurred_at=now))
    with CaptureQueriesContext(connection) as queries:
        leaderboards_refresh(as_of=now)
    deletes = [query["sql"] for query in queries.captured_queries if query["sql"].startswith("DELETE")]
    leavers = [sql for sql in deletes if "members_member" in sql]
    assert leavers and all("NOT (EXISTS(" in sql and " IN (SELECT" not in sql for sql in leavers)


# -- monthly prizes ----------------------------------------------------------------------------------------


def test_award_leaderboard_prizes_is_idempotent_per_month():
    last_month = period_get("month", period_get("month").starts_at - timedelta(days=1))
    mid = last_month.starts_at + timedelta(days=10)
    first, second, third = player("first"), player("second"), player("third")
    earn(first, 300, mid)
    earn(second, 200, mid)
    earn(third, 100, mid)
    earn(third, 900, timezone.now())  # this month: does not count for last month
    LeaderboardPrize.objects.create(rank=1, points=500)
    LeaderboardPrize.objects.create(rank=2, points=250)
    as_of = timezone.now().isoformat()

    out = io.StringIO()
    call_command("award_leaderboard_prizes", "--as-of", as_of, "--dry-run", stdout=out)
    assert f"{last_month.key}: 2 prizes paid (750 points)" in out.getvalue()
    assert not LeaderboardAward.objects.exists()

    out = io.StringIO()
    call_command("award_leaderboard_prizes", "--as-of", as_of, stdout=out)
    assert f"{last_month.key}: 2 prizes paid (750 points), 0 paid before, 0 failed" in out.getvalue()
    paid = {award.member_id: award.transaction.points for award in LeaderboardAward.objects.all()}
    assert paid == {first.pk: 500, second.pk: 250}
    assert LedgerTransaction.objects.get(idempotency_key=f"leaderboard:{last_month.key}:1").member_id == first.pk

    out = io.StringIO()
    call_command("award_leaderboard_prizes", "--as-of", as_of, stdout=out)
    assert "0 prizes paid (0 points), 2 paid before" in out.getvalue()
    assert LedgerTransaction.objects.filter(job="award_leaderboard_prizes").count() == 2
    # A later run in the same month pays the same month: still nothing new.
    assert leaderboard_prizes_award(as_of=timezone.now() + timedelta(seconds=1))["paid"] == 0


def test_a_crash_between_deciding_and_paying_is_finished_by_the_next_run():
    last_month = period_get("month", period_get("month").starts_at - timedelta(days=1))
    member = player("solo")
    earn(member, 50, last_month.starts_at + timedelta(days=2))
    LeaderboardPrize.objects.create(rank=1, points=100)
    LeaderboardAward.objects.create(period_key=last_month.key, rank=1, member=member, score=50, prize_points=100,
                                    awarded_at=timezone.now())
    result = leaderboard_prizes_award(as_of=timezone.now())
    assert (result["paid"], result["points"]) == (1, 100)
    assert LeaderboardAward.objects.get().transaction is not None
    with pytest.raises(IntegrityError), transaction.atomic():
        LeaderboardAward.objects.create(period_key=last_month.key, rank=2, member=member, score=50,
                                        prize_points=10, awarded_at=timezone.now())


def test_no_prizes_configured_pays_nothing():
    assert leaderboard_prizes_award(as_of=timezone.now())["paid"] == 0


# -- the tallies behind a member's rank ---------------------------------------------------------------------


_nicknames = itertools.count()  # nicknames are unique (regardless of case) across Hypothesis' examples


def positions(period):
    """Every entry's place, counted the slow way: the board sorted in full."""
    ordered = LeaderboardScore.objects.filter(period_key=period.key, points__gt=0).order_by(
        "-points", "reached_at", "member_id").values_list("member_id", flat=True)
    return {member_id: place for place, member_id in enumerate(ordered, start=1)}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.integers(0, 4), st.sampled_from(["earn", "take", "leave", "join"]),
                                st.integers(1, 2500), st.integers(0, 40)), min_size=1, max_size=14))
def test_ranks_from_the_tallies_equal_the_board_sorted_in_full(db, steps):
    """Whatever members earn, lose, leave or rejoin (scores crossing the tallies' 1000-point bands and tying),
    each member's rank equals their place on the fully sorted board, and the tallies equal a fresh count."""
    members = [player(f"p{next(_nicknames)}") for _index in range(5)]
    base = timezone.now() - timedelta(days=20)
    for index, action, points, hours in steps:
        member = members[index]
        at = base + timedelta(hours=hours * 7)
        if action == "earn":
            points_credit(member=member, points=points, kind="bonus", audit=Audit(reason="t", occurred_at=at))
        elif action == "take":  # a reversal (a refund) counts against the score, dated now
            points_reverse(member=member, points=points, audit=Audit(reason="r"))
            at = timezone.now()
        else:
            member.__class__.objects.filter(pk=member.pk).update(leaderboard_opt_in=action == "join")
        leaderboard_member_refresh(member_id=member.pk, at=at)
        assert leaderboard_tally_problems() == []
    for kind in ("week", "month", "all"):
        for at in {base + timedelta(hours=hours * 7) for _i, _a, _p, hours in steps}:
            period = period_get(kind, at)
            places = positions(period)
            for member in members:
                member.refresh_from_db()
                rank = leaderboard_rank_get(member=member, period=period)
                assert (rank["rank"] if rank else None) == places.get(member.pk), (kind, period.key)


def test_the_refresh_job_repairs_drifted_tallies():
    member = player("drift")
    earn(member, 1500, timezone.now())  # in the periods the refresh looks at, also just after midnight
    LeaderboardTally.objects.update(members=7)
    assert leaderboard_tally_problems() != []
    leaderboards_refresh(as_of=timezone.now())
    assert leaderboard_tally_problems() == []
    assert leaderboard_rank_get(member=member, period=period_get("all"))["rank"] == 1


def test_a_bulk_suspension_takes_members_off_the_board_and_a_reactivation_back(django_capture_on_commit_callbacks):
    """The admin's bulk suspend and reactivate (members.bulk) change the status with one UPDATE; the board follows
    after the commit, ranks included, not only at the daily refresh."""
    from campaigns.services.leaderboards import leaderboard_rank_get, leaderboard_tally_problems
    from members.bulk import members_status_set
    from members.models import Member, User

    staff = User.objects.create_superuser(email="boss@example.com", password="pw")
    players = []
    for nickname, points in (("Top", 90), ("Middle", 60), ("Low", 30)):
        member = MemberFactory()
        member_profile_update(member=member, nickname=nickname, leaderboard_opt_in=True)
        points_credit(member=member, points=points, kind="bonus", audit=Audit(reason="x"))
        leaderboard_member_refresh(member_id=member.pk)
        players.append(member)
    top, middle, low = players
    period = period_get("all")
    with django_capture_on_commit_callbacks(execute=True):
        members_status_set(members=Member.objects.filter(pk__in=[top.pk, middle.pk]), status=MemberStatus.SUSPENDED,
                           staff_user=staff, selection={"selected": 2})
    assert [row["nickname"] for row in leaderboard_top_get(period=period)] == ["Low"]
    assert leaderboard_rank_get(member=Member.objects.get(pk=low.pk), period=period)["rank"] == 1  # not 3
    assert not LeaderboardScore.objects.filter(member__in=[top, middle]).exists()
    assert leaderboard_tally_problems() == []
    with django_capture_on_commit_callbacks(execute=True):
        members_status_set(members=Member.objects.filter(pk=top.pk), status=MemberStatus.ACTIVE, staff_user=staff,
                           selection={"selected": 1})
    assert [row["nickname"] for row in leaderboard_top_get(period=period)] == ["Top", "Low"]
    assert leaderboard_rank_get(member=Member.objects.get(pk=low.pk), period=period)["rank"] == 2
    assert leaderboard_tally_problems() == []


# -- the tie tallies: many members on one score --------------------------------------------------------------


def _tie_instants():
    """Moments around the tie tallies' band edges (levels 2, 3 and 4: 2^22, 2^14 and 2^6 seconds), in the past:
    a level-2 edge, a level-3 and a level-4 edge just after it, and moments that coincide to the microsecond."""
    coarse, middle, fine = TIE_BAND_SECONDS
    now = int(timezone.now().timestamp())
    edge = datetime.fromtimestamp((now - 2 * coarse) // coarse * coarse, tz=UTC)
    offsets = [-coarse - 1, -middle, -fine - 0.5, -1, -0.000001, 0, 0.5, 1, fine - 1, fine, fine + 0.25, middle - 1,
               middle, middle + fine, coarse - 1, coarse, coarse + 0.999999]
    return [edge + timedelta(seconds=offset) for offset in offsets]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.integers(0, 7), st.sampled_from(["earn", "earn", "earn", "take", "leave", "join",
                                                                     "refresh"]),
                                st.sampled_from([50, 100, 100, 150]), st.integers(0, 16)), min_size=1, max_size=24))
def test_ranks_among_many_ties_equal_the_board_sorted_in_full(db, steps):
    """Eight members earning the same few amounts at the same moments or moments either side of the tie bands'
    edges (so most of them tie, on points and often on the microsecond), losing points, leaving, rejoining, and
    the daily refresh recounting everything: each rank equals the member's place on the fully sorted board (more
    points, then reached earlier, then the lower member id), and the tallies equal a fresh count."""
    members = [player(f"t{next(_nicknames)}") for _index in range(8)]
    instants = _tie_instants()
    for index, action, points, instant in steps:
        member, at = members[index], instants[instant]
        if action == "earn":
            points_credit(member=member, points=points, kind="bonus", audit=Audit(reason="t", occurred_at=at))
        elif action == "take":
            points_reverse(member=member, points=points // 2, audit=Audit(reason="r", occurred_at=at))
        elif action == "refresh":
            leaderboards_refresh(as_of=timezone.now())
            continue
        else:
            member.__class__.objects.filter(pk=member.pk).update(leaderboard_opt_in=action == "join")
        leaderboard_member_refresh(member_id=member.pk, at=at)
        assert leaderboard_tally_problems() == []
    assert leaderboard_tally_problems() == []
    period = period_get("all")
    places = positions(period)
    for member in members:
        member.refresh_from_db()
        rank = leaderboard_rank_get(member=member, period=period)
        assert (rank["rank"] if rank else None) == places.get(member.pk)


def _tied_board(count, *, apart):
    """`count` members on 100 points, reached `apart` after one another (the last an hour ago), written straight
    to the table and tallied by the rebuild; returns them in board order."""
    members = MemberFactory.create_batch(count)
    last = timezone.now() - timedelta(hours=1)
    LeaderboardScore.objects.bulk_create(
        LeaderboardScore(member=member, period_key="all", points=100, reached_at=last - apart * (count - index),
                         last_transaction_id=1)
        for index, member in enumerate(members)
    )
    Member.objects.filter(pk__in=[member.pk for member in members]).update(
        nickname=Concat(Value("tie"), "id"), leaderboard_opt_in=True)
    with transaction.atomic():
        _tally_rebuild(["all"])
    return list(Member.objects.filter(pk__in=[member.pk for member in members]).order_by("pk"))


def test_the_consistency_check_covers_the_tie_tallies():
    """A tie tally off by one at any of levels 2-4 is reported (and would misplace the member)."""
    members = _tied_board(5, apart=timedelta(minutes=1))
    assert leaderboard_tally_problems() == []
    assert leaderboard_rank_get(member=members[3], period=period_get("all"))["rank"] == 4
    for level in (2, 3, 4):
        tally = LeaderboardTally.objects.filter(period_key="all", level=level).order_by("band").first()
        LeaderboardTally.objects.filter(pk=tally.pk).update(members=tally.members + 1)
        assert [problem for problem in leaderboard_tally_problems() if f"'all', {level}, 100" in problem]
        LeaderboardTally.objects.filter(pk=tally.pk).update(members=tally.members)
    assert leaderboard_tally_problems() == []


@pytest.mark.postgres  # EXPLAIN ANALYZE
def test_a_rank_among_many_ties_reads_the_tallies_not_every_tie():
    """300 members tied on 100 points, a minute apart: the last one's rank (300) reads the entries of its own
    64-second band (itself) from the board, and counts the 299 before it from the tie tallies."""
    members = _tied_board(300, apart=timedelta(minutes=1))
    last = members[-1]
    assert leaderboard_rank_get(member=last, period=period_get("all")) == {"rank": 300, "points": 100}
    sql, params = leaderboard_rank_sql(member_id=last.pk, period_key="all")
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan

    def nodes(node):
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    read = [node["Actual Rows"] * node["Actual Loops"] for node in nodes(plan[0]["Plan"])
            if node.get("Relation Name") == LeaderboardScore._meta.db_table]
    assert read and max(read) <= 1, read  # the member's own row; no tie before it in its 64 seconds


def test_bench_leaderboard_checks_every_rank_it_times_also_on_the_boards_already_there():
    """The benchmark builds a board, times it (raising on a wrong rank), and with --no-build times it again."""
    out = io.StringIO()
    call_command("bench_leaderboard", "--members", "40", "--transactions", "200", "--runs", "5", stdout=out)
    call_command("bench_leaderboard", "--no-build", "--runs", "5", stdout=out)
    text = out.getvalue()
    assert text.count("    own rank: ") == 6 and "the boards in the database (40 members)" in text
    assert "the member who reached the most shared score last" in text


@pytest.mark.django_db(transaction=True)
def test_the_migration_counts_the_tie_tallies_of_the_boards_already_there():
    """Migration 0012 adds the tie tallies: it counts them for the scores already stored, as the service would."""
    from django.db.migrations.executor import MigrationExecutor

    before = [("campaigns", "0011_challenge_progress_cancelled")]
    after = [("campaigns", "0012_leaderboard_tie_tallies")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    members = [MemberFactory() for _index in range(4)]
    moments = [timezone.now() - timedelta(days=60), timezone.now() - timedelta(hours=3, microseconds=1)]
    old.get_model("campaigns", "LeaderboardScore").objects.bulk_create(
        old.get_model("campaigns", "LeaderboardScore")(member_id=member.pk, period_key="all", points=100,
                                                       reached_at=moments[index % 2], last_transaction_id=1)
        for index, member in enumerate(members)
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    try:
        ties = LeaderboardTally.objects.filter(level__gte=2).values_list("level", "key", "band", "members")
        migrated = set(ties)
        assert len(migrated) == 6  # two bands at each of the three levels, two members in each
        with transaction.atomic():
            _tally_rebuild(["all"])  # the service's count (levels 0 and 1 too)
        assert set(ties) == migrated and leaderboard_tally_problems() == []
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
