"""Release, expiry reminders and birthday bonuses; the job commands."""

from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from loyalty.models import ExpiryReminder, LedgerTransaction, PointLot, TransactionKind
from loyalty.selectors import member_points_get
from loyalty.services import jobs
from loyalty.services.verify import ledger_verify
from members.models import MemberStatus
from tests.factories import MemberFactory
from tests.loyalty.jobs_support import T0, day, earn, program_configure


@pytest.fixture
def program(db):
    return program_configure(expiry_warning_days=7, birthday_bonus=25)


# -- release ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_release_moves_due_pending_lots_once(program):
    one, two = MemberFactory(), MemberFactory()
    earn(one, 40, day(0), "a", available_at=day(10), now=day(0))
    earn(one, 15, day(1), "b", available_at=day(11), now=day(1))
    earn(two, 30, day(0), "c", available_at=day(20), now=day(0))

    assert jobs.pending_points_release(as_of=day(10), dry_run=True) == {
        "members": 1, "points": 40, "lots": 1, "failed": 0, "dry_run": True
    }
    assert member_points_get(member=one)["pending"] == 55  # dry run changed nothing

    assert jobs.pending_points_release(as_of=day(11)) == {"members": 1, "points": 55, "failed": 0, "dry_run": False}
    one.refresh_from_db()
    assert member_points_get(member=one) == {"available": 55, "pending": 0, "lifetime_earned": 55}
    assert member_points_get(member=two)["pending"] == 30
    assert jobs.pending_points_release(as_of=day(11))["members"] == 0  # same as_of again: nothing
    assert jobs.pending_points_release(as_of=day(20))["points"] == 30
    assert LedgerTransaction.objects.filter(kind=TransactionKind.RELEASE).count() == 2
    assert ledger_verify() == []


@pytest.mark.django_db
def test_release_continues_after_a_member_fails(program, monkeypatch):
    members = [MemberFactory() for _ in range(3)]
    for i, member in enumerate(members):
        earn(member, 10, day(0), f"p{i}", available_at=day(5), now=day(0))
    real = jobs.points_release

    def flaky(*, member, as_of):
        if member.pk == members[1].pk:
            raise jobs.LedgerError("boom")
        return real(member=member, as_of=as_of)

    monkeypatch.setattr(jobs, "points_release", flaky)
    result = jobs.pending_points_release(as_of=day(5))
    assert (result["members"], result["points"], result["failed"]) == (2, 20, 1)
    monkeypatch.setattr(jobs, "points_release", real)
    assert jobs.pending_points_release(as_of=day(5))["members"] == 1
    assert ledger_verify() == []


# -- expiry reminders ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_reminders_once_per_member_per_expiry_date(program):
    member = MemberFactory(first_name="Ann")
    earn(member, 40, day(0), "a")  # expires day 30
    earn(member, 60, day(0) + timedelta(hours=1), "b")  # same date
    earn(member, 25, day(3), "c")  # expires day 33
    earn(member, 5, day(20), "d")  # expires day 50: outside the window

    as_of = day(27)  # window: day 27 < expires <= day 34
    assert jobs.expiry_reminders_send(as_of=as_of, dry_run=True)["sent"] == 2
    assert mail.outbox == [] and not ExpiryReminder.objects.exists()

    result = jobs.expiry_reminders_send(as_of=as_of)
    assert (result["sent"], result["points"], result["skipped"], result["failed"]) == (2, 125, 0, 0)
    assert [m.to for m in mail.outbox] == [[member.email], [member.email]]
    assert "100 points expire on" in mail.outbox[0].subject
    assert "25 points expire on" in mail.outbox[1].subject
    grouped = " ".join(member.loyalty_id[i : i + 4] for i in range(0, 16, 4))
    assert "Ann" in mail.outbox[0].body and grouped in mail.outbox[0].body
    assert set(ExpiryReminder.objects.values_list("expires_on", "points")) == {
        (timezone.localtime(day(30)).date(), 100), (timezone.localtime(day(33)).date(), 25)
    }

    again = jobs.expiry_reminders_send(as_of=as_of)
    assert (again["sent"], again["skipped"]) == (0, 2)
    later = jobs.expiry_reminders_send(as_of=day(29))  # the next day's run: still once per date
    assert later["sent"] == 0
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_reminders_skip_inactive_members_and_spent_points(program):
    active, suspended = MemberFactory(), MemberFactory()
    earn(active, 10, day(0), "a")
    earn(suspended, 10, day(0), "b")
    suspended.status = MemberStatus.SUSPENDED
    suspended.save()
    PointLot.objects.filter(member=active).update(remaining=0)  # as if spent: nothing left to remind about
    assert jobs.expiry_reminders_send(as_of=day(25))["sent"] == 0
    assert mail.outbox == []


@pytest.mark.django_db
def test_reminder_is_in_the_members_language(program):
    dutch = MemberFactory(language="nl", first_name="Joke")
    english = MemberFactory(language="en")
    earn(dutch, 10, timezone.make_aware(datetime(2025, 1, 2, 12)), "nl")  # expires 1 February 2025
    earn(english, 10, timezone.make_aware(datetime(2025, 1, 2, 12)), "en")
    jobs.expiry_reminders_send(as_of=timezone.make_aware(datetime(2025, 1, 28, 9)))
    by_address = {m.to[0]: m for m in mail.outbox}
    nl, en = by_address[dutch.email], by_address[english.email]
    assert "1 februari 2025" in nl.subject and "1 februari 2025" in nl.body  # Django's own Dutch date formats
    assert "1 February 2025" in en.subject and "1 February 2025" in en.body  # loyalty/formats/en: day first
    assert nl.subject == "10 punten vervallen op 1 februari 2025"  # locale/nl
    assert en.subject == "10 points expire on 1 February 2025"
    assert "€\u00a00,10" in nl.body and "€0.10" in en.body  # their value, in each language's format
    assert '<html lang="nl">' in nl.alternatives[0][0] and '<html lang="en">' in en.alternatives[0][0]


@pytest.mark.django_db
def test_a_failed_send_is_retried_by_the_next_run(program, member, monkeypatch):
    earn(member, 10, day(0), "a")

    def broken_send(self, fail_silently=False):
        raise OSError("smtp down")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", broken_send)
    assert jobs.expiry_reminders_send(as_of=day(25))["failed"] == 1
    assert not ExpiryReminder.objects.exists()
    monkeypatch.undo()
    assert jobs.expiry_reminders_send(as_of=day(25))["sent"] == 1
    assert len(mail.outbox) == 1


# -- birthday bonuses ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_birthday_bonus_once_a_year(program):
    birthday_child = MemberFactory(birthday=date(1990, 3, 3))
    other = MemberFactory(birthday=date(1990, 3, 4))
    closed = MemberFactory(birthday=date(1985, 3, 3))
    closed.status = MemberStatus.CLOSED
    closed.save()

    morning = timezone.make_aware(datetime(2025, 3, 3, 6, 0))
    assert jobs.birthday_bonuses_award(as_of=morning, dry_run=True)["members"] == 1
    result = jobs.birthday_bonuses_award(as_of=morning)
    assert (result["members"], result["points"]) == (1, 25)
    assert member_points_get(member=birthday_child)["available"] == 25
    assert member_points_get(member=other)["available"] == 0
    assert member_points_get(member=closed)["available"] == 0
    txn = LedgerTransaction.objects.get(member=birthday_child)
    assert (txn.kind, txn.reason, txn.idempotency_key) == ("bonus", "Birthday bonus",
                                                             f"birthday:{birthday_child.pk}:2025")

    evening = timezone.make_aware(datetime(2025, 3, 3, 22, 0))
    assert jobs.birthday_bonuses_award(as_of=evening) == {
        "members": 0, "points": 0, "skipped": 1, "failed": 0, "dry_run": False
    }
    assert jobs.birthday_bonuses_award(as_of=timezone.make_aware(datetime(2026, 3, 3, 6)))["members"] == 1
    assert member_points_get(member=birthday_child)["available"] == 50
    assert ledger_verify() == []


@pytest.mark.django_db
def test_birthday_uses_the_local_date(program):
    member = MemberFactory(birthday=date(1990, 3, 3))
    # 23:30 UTC on 2 March is already 3 March in Amsterdam
    jobs.birthday_bonuses_award(as_of=datetime(2025, 3, 2, 23, 30, tzinfo=UTC))
    assert member_points_get(member=member)["available"] == 25


@pytest.mark.django_db
def test_leap_day_birthdays_on_28_february_in_other_years(program):
    leapling = MemberFactory(birthday=date(2000, 2, 29))
    feb28 = MemberFactory(birthday=date(2001, 2, 28))
    assert jobs.birthday_bonuses_award(as_of=timezone.make_aware(datetime(2025, 2, 28, 6)))["members"] == 2
    assert jobs.birthday_bonuses_award(as_of=timezone.make_aware(datetime(2025, 3, 1, 6)))["members"] == 0
    # in a leap year the leapling waits for the 29th
    assert jobs.birthday_bonuses_award(as_of=timezone.make_aware(datetime(2028, 2, 28, 6)))["members"] == 1
    assert jobs.birthday_bonuses_award(as_of=timezone.make_aware(datetime(2028, 2, 29, 6)))["members"] == 1
    assert member_points_get(member=leapling)["available"] == 50
    assert member_points_get(member=feb28)["available"] == 50


@pytest.mark.django_db
def test_no_birthday_bonus_when_the_program_has_none(program, member):
    program.birthday_bonus = 0
    program.save()
    member.birthday = date(1990, 3, 3)
    member.save()
    assert jobs.birthday_bonuses_award(as_of=T0)["members"] == 0
    assert not LedgerTransaction.objects.exists()


# -- as_of parsing and the commands ---------------------------------------------------------------


def test_as_of_parse():
    assert jobs.as_of_parse("2025-03-03T12:00:00+00:00") == datetime(2025, 3, 3, 12, tzinfo=UTC)
    naive = jobs.as_of_parse("2025-03-03T12:00")
    assert timezone.is_aware(naive) and naive.utcoffset() == timedelta(hours=1)  # Europe/Amsterdam in March
    assert jobs.as_of_parse("2025-07-01") == timezone.make_aware(datetime(2025, 7, 1))
    assert abs((jobs.as_of_parse(None) - timezone.now()).total_seconds()) < 5
    for bad in ("yesterday", "2025-13-01", "2025-02-30T10:00"):
        with pytest.raises(ValueError):
            jobs.as_of_parse(bad)


def run(command, *args):
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "command",
    ["release_pending_points", "expire_points", "send_expiry_reminders", "recalculate_tiers",
     "award_birthday_bonuses"],
)
def test_commands_refuse_a_bad_as_of(program, command):
    with pytest.raises(CommandError, match="ISO 8601"):
        run(command, "--as-of", "next tuesday")


@pytest.mark.django_db
def test_expire_points_command(program, member):
    earn(member, 70, day(0), "a")
    out = run("expire_points", "--as-of", day(31).isoformat(), "--dry-run")
    assert "DRY RUN" in out and "70 points expired from 1 lots of 1 members" in out
    assert member_points_get(member=member)["available"] == 70

    out = run("expire_points", "--as-of", day(31).isoformat())
    assert "70 points expired from 1 lots of 1 members" in out and "DRY RUN" not in out
    assert member_points_get(member=member)["available"] == 0
    assert "0 points expired" in run("expire_points", "--as-of", day(31).isoformat())
    with pytest.raises(CommandError):
        run("expire_points", "--batch-size", "0")


@pytest.mark.django_db
def test_release_reminder_birthday_commands(program):
    member = MemberFactory(birthday=date(1990, 3, 13))
    earn(member, 30, day(0), "a", available_at=day(10), now=day(0))
    assert "30 points released for 1 members" in run("release_pending_points", "--as-of", day(10).isoformat())
    assert "25 points awarded to 1 members" in run("award_birthday_bonuses", "--as-of", day(10).isoformat())
    assert "1 already had it" in run("award_birthday_bonuses", "--as-of", day(10).isoformat())
    assert "1 reminders sent about 30 points" in run("send_expiry_reminders", "--as-of", day(25).isoformat())
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_command_exits_non_zero_when_items_fail(program, member, monkeypatch):
    earn(member, 10, day(0), "a")
    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", lambda self, fail_silently=False: 1 / 0)
    with pytest.raises(CommandError, match="1 item"):
        run("send_expiry_reminders", "--as-of", day(25).isoformat())


@pytest.mark.django_db
def test_command_exits_non_zero_when_the_job_crashes(program, monkeypatch):
    def crash(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("loyalty.management.commands.expire_points.points_expire", crash)
    with pytest.raises(CommandError, match="expire_points failed: database went away"):
        run("expire_points")


@pytest.mark.django_db
def test_recalculate_tiers_command_wraps_the_tiers_service(program, monkeypatch):
    seen = {}

    def fake(*, as_of, dry_run, progress, full):
        seen.update(as_of=as_of, dry_run=dry_run, full=full)
        progress(1, 1)
        return {"members": 1, "upgraded": 0}

    monkeypatch.setattr("loyalty.management.commands.recalculate_tiers.tiers_recalculate", fake)
    out = run("recalculate_tiers", "--as-of", "2025-05-01T03:00:00+02:00", "--dry-run")
    assert seen == {"as_of": datetime(2025, 5, 1, 1, tzinfo=UTC), "dry_run": True, "full": False}
    assert "members 1, upgraded 0" in out
    run("recalculate_tiers", "--full")
    assert seen["full"] is True


@pytest.mark.django_db
def test_recalculate_tiers_command_runs_for_real(program):
    MemberFactory()
    assert "members 1, full 1" in run("recalculate_tiers", "--as-of", day(1).isoformat())
    assert "members 0, full 0" in run("recalculate_tiers", "--as-of", day(2).isoformat())
    assert "members 1, full 1" in run("recalculate_tiers", "--as-of", day(3).isoformat(), "--full")


class _Terminal(StringIO):
    def isatty(self):
        return True


@pytest.mark.django_db
def test_progress_bar_on_a_terminal_and_log_lines_otherwise(program, caplog):
    for i in range(3):
        earn(MemberFactory(), 10, day(0), f"t{i}")
    out, err = _Terminal(), StringIO()
    call_command("expire_points", "--as-of", day(31).isoformat(), "--batch-size", "1", stdout=out, stderr=err)
    assert "expire_points: 100%" in err.getvalue() and "3/3" in err.getvalue()  # tqdm drew the bar
    assert "30 points expired" in out.getvalue()

    earn(MemberFactory(), 10, day(40), "t9")
    with caplog.at_level("INFO", logger="loyalty.jobs"):
        run("expire_points", "--as-of", day(71).isoformat())
    assert "expire_points: 1/1" in caplog.text
