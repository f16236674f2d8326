"""Point grants and corrections from CSV (`import_points`, the admin's import on the ledger list)."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from loyalty.imports import PointsImportResource, dataset_load, import_errors
from loyalty.models import AccountKind, LedgerTransaction, PointLot, StaffAction, TransactionKind
from loyalty.selectors import member_points_get
from loyalty.services.ledger import Audit, points_credit
from members.models import MemberStatus
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ann(db):
    member = MemberFactory(email="ann@example.com")
    points_credit(member=member, points=100, audit=Audit(reason="Order 1", idempotency_key="o-1"))
    return member


@pytest.fixture
def bob(db):
    return MemberFactory(email="bob@example.com")


def run(text, *, dry_run=False, user=None):
    resource = PointsImportResource()
    return resource, resource.import_data(dataset_load(text), dry_run=dry_run, user=user, file_name="points.csv")


def ledger():
    return list(LedgerTransaction.objects.order_by("pk").values_list("pk", "member_id", "points"))


def test_grants_and_corrections_post_adjustments_with_the_reason_shown_to_the_member(ann, bob):
    expiry = (timezone.localdate() + timedelta(days=30)).isoformat()
    text = (f"loyalty_id,email,points,reason,expires_at\n{ann.loyalty_id},,-40,Correction: double receipt,\n"
            f",BOB@example.com,250,Welcome back gift,{expiry}\n")
    resource, result = run(text)
    assert not result.has_validation_errors(), import_errors(result)
    assert member_points_get(member=ann)["available"] == 60
    assert member_points_get(member=bob)["available"] == 250
    debit = LedgerTransaction.objects.get(member=ann, kind=TransactionKind.ADJUST)
    assert (debit.points, debit.reason_text, debit.job) == (-40, "Correction: double receipt", "import_points")
    assert debit.entries.get(account__member=None).account.kind == AccountKind.ADJUSTMENTS
    grant = LedgerTransaction.objects.get(member=bob)
    lot = PointLot.objects.get(transaction=grant)
    assert timezone.localtime(lot.expires_at).date().isoformat() > expiry  # usable through that whole day
    assert timezone.localtime(lot.expires_at) == timezone.make_aware(
        timezone.datetime.fromisoformat(expiry) + timedelta(days=1))
    action = StaffAction.objects.get()
    assert action.count == 2 and action.details["points_added"] == 250 and action.details["points_removed"] == 40


def test_debit_larger_than_the_balance_fails_its_row_and_the_file(ann, bob):
    before = ledger()
    text = "email,points,reason\nbob@example.com,10,Gift\nann@example.com,-60,Fix\nann@example.com,-60,Fix again\n"
    resource, result = run(text)
    assert ledger() == before
    assert import_errors(result) == [(4, "points: 60 points needed, 40 available.")]


def test_importing_the_same_file_twice_changes_nothing_and_identical_rows_both_count(ann):
    text = "email,points,reason\nann@example.com,5,Survey\nann@example.com,5,Survey\n"
    run(text)
    assert member_points_get(member=ann)["available"] == 110
    before = ledger()
    resource, result = run(text)
    assert not result.has_validation_errors()
    assert ledger() == before
    assert resource.totals["skip"] == 2
    assert [row.diff[-1] for row in result.valid_rows()] == ["already imported", "already imported"]


def test_reference_makes_a_row_the_same_grant_whatever_its_reason(ann):
    run("email,points,reason,reference\nann@example.com,20,Spring promo,SPRING\n")
    before = ledger()
    resource, result = run("email,points,reason,reference\nann@example.com,20,Spring promotion,SPRING\n")
    assert ledger() == before and resource.totals["skip"] == 1
    resource, result = run("email,points,reason,reference\nann@example.com,25,Spring,SPRING\n")
    assert "already imported for this member with +20 points" in import_errors(result)[0][1]


def test_dry_run_shows_balances_after_and_changes_nothing(ann):
    before = ledger()
    resource, result = run("email,points,reason\nann@example.com,-30,Fix\nann@example.com,-30,Fix 2\n", dry_run=True)
    assert ledger() == before
    assert [row.diff[-1] for row in result.valid_rows()] == [70, 40]
    assert not StaffAction.objects.exists()


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("9000000000000000,,10,x,", "loyalty_id: No member has this loyalty ID."),
        (",nobody@example.com,10,x,", "email: No member has this email address."),
        (",,10,x,", "Give the member's loyalty_id or email."),
        (",ann@example.com,ten,x,", "points: Enter a whole number."),
        (",ann@example.com,0,x,", "points: Points must not be zero."),
        (",ann@example.com,10,,", "reason: A reason is required: the member sees it in their history."),
        (",ann@example.com,10,x,2000-01-01", "expires_at: The expiry date must lie in the future."),
        (",ann@example.com,-10,x,2999-01-01", "expires_at: An expiry date only applies to points added."),
        (",ann@example.com,10,x,31/12/2030", "expires_at: Enter a date as YYYY-MM-DD"),
    ],
)
def test_bad_rows_are_reported(ann, row, expected):
    resource, result = run(f"loyalty_id,email,points,reason,expires_at\n{row}\n")
    errors = import_errors(result)
    assert len(errors) == 1 and errors[0][0] == 2 and errors[0][1].startswith(expected), errors


def test_closed_members_get_no_points(ann):
    ann.status = MemberStatus.CLOSED
    ann.save()
    resource, result = run("email,points,reason\nann@example.com,10,x\n")
    assert "closed" in import_errors(result)[0][1]


def test_command(ann, tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("email,points,reason\nann@example.com,15,Goodwill\n")
    out = io.StringIO()
    call_command("import_points", str(path), "--dry-run", stdout=out)
    assert "dry run, nothing changed: 1 rows read: new 1" in out.getvalue()
    assert member_points_get(member=ann)["available"] == 100
    call_command("import_points", str(path), stdout=out)
    assert member_points_get(member=ann)["available"] == 115
    call_command("import_points", str(path), stdout=out)
    assert member_points_get(member=ann)["available"] == 115
    path.write_text("email,points,reason\nann@example.com,-500,Too much\n")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_points", str(path), stdout=out, stderr=err)
    assert "line 2: points: 500 points needed, 115 available." in err.getvalue()


def test_admin_import_on_the_ledger_list(admin_client, ann):
    file = io.BytesIO(b"email,points,reason\nann@example.com,15,Goodwill\n")
    file.name = "points.csv"
    response = admin_client.post(reverse("admin:loyalty_ledgertransaction_import"),
                                 {"import_file": file, "format": "0", "resource": "0"})
    assert response.status_code == 200 and "Confirm import" in response.content.decode()
    confirm = response.context["confirm_form"]
    data = {name: confirm.initial.get(name, "") for name in confirm.fields}
    assert admin_client.post(reverse("admin:loyalty_ledgertransaction_process_import"), data).status_code == 302
    grant = LedgerTransaction.objects.get(reason="Goodwill")
    assert grant.staff_user.email == "admin@example.com" and grant.job == ""
