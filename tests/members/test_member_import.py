"""Member import (a migration from another programme): all or nothing, dry run, idempotent, through the
enrolment, ledger and tier services; the same resource behind `import_members` and the admin's import."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone, translation

from loyalty.imports import dataset_load, import_errors
from loyalty.models import (
    AccountKind,
    LedgerTransaction,
    StaffAction,
    StaffActionKind,
    Tier,
    TierHistory,
    TransactionKind,
)
from loyalty.selectors import member_points_get
from loyalty.services.ledger import Audit, points_credit
from members.imports import MemberImportResource
from members.loyalty_ids import generate_loyalty_id
from members.models import Member, User
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

KEPT_ID = generate_loyalty_id()

MIGRATION = f"""email,first_name,last_name,loyalty_id,joined_at,available_points,tier,language,marketing_consent
ann@example.com,Ann,Smit,{KEPT_ID},2019-03-04,500,gold,nl,yes
bob@example.com,Bob,,,2021-11-30 14:05,0,,,
"""


@pytest.fixture
def tiers(db):
    return {
        code: Tier.objects.create(code=code, name=code.title(), rank=rank, threshold=threshold)
        for code, rank, threshold in (("silver", 1, 400), ("gold", 2, 1200))
    }


def run(text, *, dry_run=False, user=None):
    resource = MemberImportResource()
    result = resource.import_data(dataset_load(text), dry_run=dry_run, user=user, file_name="members.csv")
    return resource, result


def snapshot():
    return (
        list(Member.objects.order_by("pk").values_list("pk", "email", "loyalty_id", "first_name", "tier_floor",
                                                        "joined_at")),
        list(LedgerTransaction.objects.order_by("pk").values_list("pk", "points")),
        TierHistory.objects.count(),
        StaffAction.objects.count(),
    )


def test_migration_keeps_points_tier_join_date_and_card_number(tiers):
    staff = User.objects.create_user(email="boss@example.com", is_staff=True)
    resource, result = run(MIGRATION, user=staff)
    assert not result.has_errors() and not result.has_validation_errors(), import_errors(result)
    ann = Member.objects.get(email="ann@example.com")
    assert ann.loyalty_id == KEPT_ID
    assert timezone.localtime(ann.joined_at).date().isoformat() == "2019-03-04"
    assert (ann.tier_floor, ann.tier) == (tiers["gold"], tiers["gold"])
    assert (ann.language, ann.marketing_consent) == ("nl", True)
    assert member_points_get(member=ann)["available"] == 500
    opening = LedgerTransaction.objects.get(member=ann)
    assert (opening.kind, opening.points, opening.idempotency_key) == (
        TransactionKind.ADJUST, 500, f"opening-balance:{ann.pk}")
    assert opening.staff_user == staff
    assert opening.reason_text == "Opening balance from the previous programme"
    with translation.override("nl"):
        assert opening.reason_text == "Beginsaldo uit het vorige programma"
    bob = Member.objects.get(email="bob@example.com")
    assert len(bob.loyalty_id) == 16 and bob.loyalty_id != KEPT_ID
    assert timezone.localtime(bob.joined_at).strftime("%Y-%m-%d %H:%M") == "2021-11-30 14:05"
    assert bob.tier_floor is None and not LedgerTransaction.objects.filter(member=bob).exists()
    action = StaffAction.objects.get()
    assert (action.kind, action.staff_user, action.count) == (StaffActionKind.MEMBERS_IMPORTED, staff, 2)
    assert action.details["file"] == "members.csv" and action.details["opening_points"] == 500


def test_importing_the_same_file_twice_changes_nothing_the_second_time(tiers):
    run(MIGRATION)
    before = snapshot()
    resource, result = run(MIGRATION)
    assert not result.has_errors() and not result.has_validation_errors(), import_errors(result)
    assert resource.totals["skip"] == 2 and resource.totals["new"] == resource.totals["update"] == 0
    after = snapshot()
    assert after[:3] == before[:3]
    assert after[3] == before[3] + 1  # the second import is recorded, having changed nothing


def test_one_bad_row_changes_nothing_and_is_reported_with_its_line(tiers):
    text = MIGRATION + "carl@example.com,Carl,,,,-5,platinum,xx,maybe\n"
    before = snapshot()
    resource, result = run(text)
    assert snapshot() == before  # ann and bob, fine on their own, were rolled back too
    errors = import_errors(result)
    assert {line for line, _message in errors} == {4}  # the header is line 1
    messages = " ".join(message for _line, message in errors)
    for column in ("available_points", "tier", "language", "marketing_consent"):
        assert f"{column}:" in messages


def test_import_data_called_directly_is_all_or_nothing_too(tiers):
    """The original bug: a good row and a bad row through import_data committed the good row."""
    dataset = dataset_load("email,first_name\ngood@example.com,Good\nnot-an-email,Bad\n")
    result = MemberImportResource().import_data(dataset, dry_run=False)
    assert result.has_validation_errors()
    assert not Member.objects.exists()


def test_dry_run_reports_without_changing_and_never_shows_a_drawn_loyalty_id(tiers):
    before = snapshot()
    resource, result = run(MIGRATION, dry_run=True)
    assert snapshot() == before
    rows = [row.diff for row in result.valid_rows()]
    assert rows[0][1] == KEPT_ID  # kept from the file: shown
    assert rows[1][1] == "new"  # drawn at the import: not shown
    assert rows[0][4] == 500 and rows[0][5] == "Gold"
    assert not StaffAction.objects.exists()


def test_enrolled_member_gets_profile_updates_but_migration_columns_must_agree(tiers):
    existing = MemberFactory(email="ann@example.com", first_name="Old")
    points_credit(member=existing, points=40, audit=Audit(reason="Order", idempotency_key="o-1"))
    resource, result = run("email,first_name,phone\nANN@example.com,Ann,+31 6 1234 5678\n")
    assert not result.has_validation_errors()
    existing.refresh_from_db()
    assert (existing.first_name, existing.phone) == ("Ann", "+31 6 1234 5678")
    resource, result = run("email,available_points,tier\nann@example.com,500,gold\n")
    messages = " ".join(message for _line, message in import_errors(result))
    assert "already a member with 40 points" in messages and "tier floor is imported for new members" in messages
    assert member_points_get(member=existing)["available"] == 40


def test_our_own_export_imports_back_without_changes(admin_client, tiers):
    run(MIGRATION)
    export = b"".join(admin_client.get(reverse("admin:members_member_export_csv")).streaming_content).decode()
    before = snapshot()
    resource, result = run(export)
    assert not result.has_errors() and not result.has_validation_errors(), import_errors(result)
    assert resource.totals["skip"] == 2
    assert snapshot()[:3] == before[:3]


def test_file_with_an_unknown_or_missing_column_is_refused_as_a_whole(tiers):
    resource, result = run("email,availble_points\nann@example.com,500\n")
    assert result.has_errors() and not Member.objects.exists()
    assert "Unknown column: availble_points" in import_errors(result)[0][1]
    resource, result = run("first_name\nAnn\n")
    assert "Missing column: email" in import_errors(result)[0][1]


def test_duplicate_emails_and_taken_card_numbers_are_row_errors(tiers):
    holder = MemberFactory()
    text = (f"email,loyalty_id\nx@example.com,\nX@example.com,\ny@example.com,{holder.loyalty_id}\n"
            "z@example.com,1234\n")
    resource, result = run(text)
    errors = dict(import_errors(result))
    assert "also on line 2" in errors[3]
    assert holder.email in errors[4]
    assert "Not a valid loyalty ID" in errors[5]
    assert Member.objects.count() == 1


def test_command_dry_run_then_import(tiers, tmp_path):
    path = tmp_path / "members.csv"
    path.write_text(MIGRATION)
    out = io.StringIO()
    call_command("import_members", str(path), "--dry-run", stdout=out)
    assert "dry run, nothing changed: 2 rows read: new 2" in out.getvalue()
    assert not Member.objects.exists()
    call_command("import_members", str(path), stdout=out)
    assert Member.objects.count() == 2
    action = StaffAction.objects.get()
    assert (action.staff_user, action.source) == (None, "command")
    assert LedgerTransaction.objects.get(member__email="ann@example.com").job == "import_members"
    path.write_text("email,tier\nnew@example.com,diamond\n")
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing imported: 1 line"):
        call_command("import_members", str(path), stdout=out, stderr=err)
    assert "line 2: tier: No tier has this code or name" in err.getvalue()


# -- the admin ---------------------------------------------------------------------------------------


def upload(client, text, name="members.csv"):
    file = io.BytesIO(text.encode())
    file.name = name
    return client.post(reverse("admin:members_member_import"), {"import_file": file, "format": "0", "resource": "0"})


def test_admin_import_previews_then_confirms(admin_client, tiers):
    response = upload(admin_client, MIGRATION)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Confirm import" in content and KEPT_ID in content
    assert not Member.objects.exists()
    confirm = response.context["confirm_form"]
    data = {name: confirm.initial.get(name, "") for name in confirm.fields}
    done = admin_client.post(reverse("admin:members_member_process_import"), data)
    assert done.status_code == 302
    assert Member.objects.count() == 2
    assert member_points_get(member=Member.objects.get(email="ann@example.com"))["available"] == 500
    assert StaffAction.objects.get().staff_user.email == "admin@example.com"


def test_admin_import_with_a_bad_row_lists_it_and_offers_no_confirmation(admin_client, tiers):
    response = upload(admin_client, MIGRATION + "bad,,,,,,,,\n")
    content = response.content.decode()
    assert "Confirm import" not in content
    assert response.context["import_errors"] == [(4, "email: Enter a valid email address.")]
    assert not Member.objects.exists()


def test_import_needs_the_import_permission(client, tiers):
    from django.contrib.auth.models import Permission

    staff = User.objects.create_user(email="clerk@example.com", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_member", "add_member"]))
    client.force_login(staff)
    assert client.get(reverse("admin:members_member_import")).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="import_data"))
    client.force_login(User.objects.get(pk=staff.pk))
    assert client.get(reverse("admin:members_member_import")).status_code == 200


def test_opening_balance_posts_once_even_if_asked_twice(tiers):
    run(MIGRATION)
    ann = Member.objects.get(email="ann@example.com")
    again = points_credit(
        member=ann, points=500, kind=TransactionKind.ADJUST, source=AccountKind.ADJUSTMENTS,
        audit=Audit(reason="x", idempotency_key=f"opening-balance:{ann.pk}"),
    )
    assert LedgerTransaction.objects.filter(member=ann).count() == 1 and again.points == 500
