"""Actions: the rule's points once per reference, within caps per local day, ISO week, month and lifetime."""

from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone
from django.utils.translation import override

from campaigns.models import ActionEvent, ActionRule
from campaigns.services.actions import ActionInvalid, action_event_record, cap_period_bounds
from campaigns.signals import action_recorded
from loyalty.models import LedgerTransaction, TransactionKind
from loyalty.selectors import member_points_get
from loyalty.services.purchases import MemberInactive
from loyalty.services.verify import ledger_verify
from members.models import MemberStatus
from members.services import member_status_set
from tests.campaigns.support import local

pytestmark = pytest.mark.django_db


@pytest.fixture
def review(db):
    ActionRule.objects.filter(type="review").delete()
    return ActionRule.objects.create(type="review", name="Review", points=50)


def rule(type_="share", **caps):
    ActionRule.objects.filter(type=type_).delete()  # the built-in rules exist (switched off)
    return ActionRule.objects.create(type=type_, name=type_.title(), points=10, once_per_reference=False, **caps)


def record(member, type_="share", reference="", at=None):
    return action_event_record(member=member, type=type_, reference=reference, occurred_at=at)


def test_a_review_credits_the_rules_points_with_a_readable_reason(member, review):
    result = record(member, "review", "KOF-1KG", at=timezone.now() - timedelta(minutes=5))
    assert not result.replayed
    event = result.event
    assert (event.points, event.capped, event.type, event.reference) == (50, False, "review", "KOF-1KG")
    txn = event.transaction
    assert (txn.kind, txn.points, txn.reference) == (TransactionKind.BONUS, 50, "KOF-1KG")
    assert txn.reason_text == "Review of KOF-1KG"
    with override("nl"):
        assert LedgerTransaction.objects.get(pk=txn.pk).reason_text == "Review van KOF-1KG"
    assert member_points_get(member=member)["available"] == 50
    assert ledger_verify() == []


def test_a_repeat_of_the_same_reference_returns_the_first_result_and_changes_nothing(member, review):
    first = record(member, "review", "KOF-1KG").event
    again = record(member, "review", "KOF-1KG")
    assert again.replayed and again.event.pk == first.pk
    assert ActionEvent.objects.count() == 1
    assert member_points_get(member=member)["available"] == 50
    other = record(member, "review", "TEA-250G")  # another product earns again
    assert not other.replayed and member_points_get(member=member)["available"] == 100


def test_without_once_per_reference_each_event_counts(member):
    rule("share")
    record(member, "share", "https://example.com/p/1")
    record(member, "share", "https://example.com/p/1")
    assert ActionEvent.objects.filter(capped=False).count() == 2
    assert member_points_get(member=member)["available"] == 20


def test_the_database_refuses_a_second_event_for_the_same_reference(member, review):
    record(member, "review", "KOF-1KG")
    with pytest.raises(IntegrityError):
        ActionEvent.objects.create(member=member, type="review", reference="KOF-1KG", occurred_at=timezone.now())


def test_an_unknown_type_is_refused(member):
    with pytest.raises(ActionInvalid) as error:
        record(member, "tiktok_dance")
    assert "type" in error.value.fields
    with pytest.raises(ActionInvalid):
        record(member, "Not a slug!")
    assert ActionEvent.objects.count() == 0


def test_an_inactive_rule_is_refused(member, review):
    review.active = False
    review.save()
    with pytest.raises(ActionInvalid) as error:
        record(member, "review", "KOF-1KG")
    assert error.value.fields["type"] == ["This action type is not active."]
    assert ActionEvent.objects.count() == 0


@pytest.mark.parametrize("status", [MemberStatus.SUSPENDED, MemberStatus.CLOSED])
def test_an_inactive_member_earns_nothing(member, review, status):
    member_status_set(member=member, status=status)
    with pytest.raises(MemberInactive):
        record(member, "review", "KOF-1KG")
    assert ActionEvent.objects.count() == 0 and member_points_get(member=member)["available"] == 0


def test_a_future_event_is_refused(member, review):
    with pytest.raises(ActionInvalid) as error:
        record(member, "review", "KOF-1KG", at=timezone.now() + timedelta(minutes=5))
    assert "occurred_at" in error.value.fields


def test_events_are_signalled_after_commit_but_not_replays(member, review, django_capture_on_commit_callbacks):
    seen = []

    def receiver(sender, event, **kwargs):
        seen.append(event.pk)

    action_recorded.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            first = record(member, "review", "KOF-1KG").event
        assert seen == [first.pk]
        with django_capture_on_commit_callbacks(execute=True):
            record(member, "review", "KOF-1KG")
        assert seen == [first.pk]
    finally:
        action_recorded.disconnect(receiver)


# -- caps at their period boundaries (site time zone: Europe/Amsterdam) --------------------------------


def test_the_day_cap_resets_at_local_midnight(member):
    rule("share", per_day=1)
    assert not record(member, at=local(2025, 3, 12, 23, 59)).event.capped
    # 23:59:30 local is still the same day, although it is already the next day in some other zones
    assert record(member, at=local(2025, 3, 12, 23, 59, 30)).event.capped
    assert not record(member, at=local(2025, 3, 13, 0, 0)).event.capped
    assert member_points_get(member=member)["available"] == 20


def test_the_day_cap_follows_the_local_day_not_utc(member):
    rule("share", per_day=1)
    assert not record(member, at=local(2025, 7, 1, 0, 30)).event.capped  # 22:30 UTC on 30 June
    assert record(member, at=local(2025, 7, 1, 23, 30)).event.capped  # 21:30 UTC on 1 July


def test_the_week_cap_resets_on_monday(member):
    rule("share", per_week=2)
    assert not record(member, at=local(2025, 3, 10, 9, 0)).event.capped  # Monday
    assert not record(member, at=local(2025, 3, 16, 23, 58)).event.capped  # Sunday
    assert record(member, at=local(2025, 3, 16, 23, 59)).event.capped
    monday = record(member, at=local(2025, 3, 17, 0, 0)).event
    assert not monday.capped


def test_the_month_cap_resets_on_the_first(member):
    rule("share", per_month=1)
    assert not record(member, at=local(2025, 1, 31, 23, 59)).event.capped
    assert record(member, at=local(2025, 1, 1, 0, 0)).event.capped  # same month, earlier
    assert not record(member, at=local(2025, 2, 1, 0, 0)).event.capped
    capped = record(member, at=local(2025, 2, 28, 23, 59)).event
    assert capped.capped and capped.cap == "month" and capped.points == 0 and capped.transaction is None


def test_the_month_cap_at_the_end_of_a_leap_february_and_the_year(member):
    rule("share", per_month=1)
    assert not record(member, at=local(2024, 2, 29, 23, 59)).event.capped
    assert not record(member, at=local(2024, 3, 1, 0, 0)).event.capped
    assert not record(member, at=local(2024, 12, 31, 23, 59)).event.capped
    assert not record(member, at=local(2025, 1, 1, 0, 0)).event.capped


def test_the_lifetime_cap_never_resets(member):
    rule("share", lifetime=2)
    record(member, at=local(2020, 1, 1, 12, 0))
    record(member, at=local(2022, 6, 1, 12, 0))
    later = record(member, at=local(2025, 1, 1, 12, 0)).event
    assert later.capped and later.cap == "lifetime"


def test_capped_events_do_not_count_against_the_cap(member):
    rule("share", per_day=1, per_week=2)
    record(member, at=local(2025, 3, 10, 9, 0))
    assert record(member, at=local(2025, 3, 10, 10, 0)).event.cap == "day"
    assert record(member, at=local(2025, 3, 10, 11, 0)).event.cap == "day"
    assert not record(member, at=local(2025, 3, 11, 9, 0)).event.capped  # the week has room for one more
    assert record(member, at=local(2025, 3, 12, 9, 0)).event.cap == "week"


def test_caps_count_per_type_and_per_member(member):
    from tests.factories import MemberFactory

    rule("share", per_day=1)
    rule("survey", per_day=1)
    other = MemberFactory()
    at = local(2025, 3, 12, 12, 0)
    assert not record(member, "share", at=at).event.capped
    assert not record(member, "survey", at=at).event.capped
    assert not record(other, "share", at=at).event.capped


def test_period_bounds_across_the_daylight_saving_change():
    start, end = cap_period_bounds(period="day", at=local(2025, 3, 30, 12, 0))  # 23-hour day
    assert (start, end) == (local(2025, 3, 30), local(2025, 3, 31))
    assert end.timestamp() - start.timestamp() == 23 * 3600
    week_start, week_end = cap_period_bounds(period="week", at=local(2025, 3, 30, 12, 0))
    assert (week_start, week_end) == (local(2025, 3, 24), local(2025, 3, 31))
    assert cap_period_bounds(period="lifetime", at=local(2025, 3, 30)) is None


@pytest.mark.parametrize(("type_", "reference", "english", "dutch"), [
    ("social_share", "https://x.example/p", "Shared on social media: https://x.example/p",
     "Gedeeld op sociale media: https://x.example/p"),
    ("survey", "", "Survey answered", "Enquête ingevuld"),
])
def test_built_in_reasons_are_translated(member, type_, reference, english, dutch):
    ActionRule.objects.filter(type=type_).update(active=True)
    txn = record(member, type_, reference).event.transaction
    assert txn.reason_text == english
    with override("nl"):
        assert LedgerTransaction.objects.get(pk=txn.pk).reason_text == dutch


def test_a_custom_action_is_named_by_its_rule(member):
    ActionRule.objects.create(type="newsletter", name="Newsletter sign-up", points=5)
    txn = record(member, "newsletter").event.transaction
    assert txn.reason_text == "Newsletter sign-up"


def test_built_in_rules_exist_switched_off():
    built_in = ActionRule.objects.filter(type__in=["review", "social_share", "survey"])
    built_in = dict(built_in.values_list("type", "active"))
    assert built_in == {"review": False, "social_share": False, "survey": False}
