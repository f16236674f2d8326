"""The `demo` command: loads a sound ledger through the real services, re-runs safely, is deterministic."""

import io
import re

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.utils import timezone

from loyalty.admin.kpi import default_range
from loyalty.kpi import kpis_get
from loyalty.models import ApiKey, KpiRollup, LedgerTransaction, Purchase, StaffAction, Store, Tier, TierHistory
from loyalty.services.api_keys import api_key_authenticate
from loyalty.services.program import program_get
from loyalty.services.verify import ledger_verify
from members.models import Member, User
from rewards.models import Redemption

# transaction=True: the demo commits as it goes, like a real run (on_commit hooks fire, flush works on PG).
pytestmark = pytest.mark.django_db(transaction=True)


def run_demo(*args):
    out = io.StringIO()
    call_command("demo", "--no-serve", "--force", *args, stdout=out)
    return out.getvalue()


def printed_password(output, email):
    return re.search(rf"login {re.escape(email)}\s+password (\S+)", output).group(1)


def test_demo_loads_a_sound_ledger_and_prints_working_logins():
    output = run_demo("--members", "20")
    assert ledger_verify() == []
    assert Member.objects.count() == 20
    kinds = set(LedgerTransaction.objects.values_list("kind", flat=True))
    assert {"earn", "release", "redeem", "expire"} <= kinds
    assert Purchase.objects.count() > 20
    assert Store.objects.filter(slug__in=["main-street", "webshop"]).count() == 2
    assert list(Tier.objects.values_list("code", flat=True)) == ["bronze", "silver", "gold", "platinum"]
    assert TierHistory.objects.exists()
    # History is in the past, spread over the year, not stamped "now".
    first, last = (LedgerTransaction.objects.filter(kind="earn").order_by(f).values_list("occurred_at", flat=True)[0]
                   for f in ["occurred_at", "-occurred_at"])
    assert (last - first).days > 300
    program = program_get()
    assert (program.pending_days, program.points_valid_days) == (14, 365)

    admin = authenticate(email="admin@example.com", password=printed_password(output, "admin@example.com"))
    assert admin is not None and admin.is_superuser
    # The back office: staff logins per role, the audit log, the KPI dashboard with a year of figures.
    manager = authenticate(email="manager@example.com", password=printed_password(output, "manager@example.com"))
    support = authenticate(email="support@example.com", password=printed_password(output, "support@example.com"))
    assert manager.has_perm("loyalty.view_kpi_dashboard") and not support.has_perm("loyalty.view_kpi_dashboard")
    assert set(StaffAction.objects.values_list("kind", flat=True)) == {"points_imported", "members_suspended",
                                                                       "badge_granted", "member_closed"}
    closed = Member.objects.get(status="closed")  # closed by staff: anonymised as from the portal
    assert closed.closed_at is not None and closed.user_id is None and closed.email.endswith("@closed.invalid")
    assert KpiRollup.objects.get().rolled_up_at is not None  # the dashboard reads the day rollups
    figures = kpis_get(period=default_range(timezone.localdate()))
    assert figures["points_issued"] > 0 and figures["points_redeemed"] > 0 and figures["orders"] > 20
    assert figures["tables"]["challenge_completion"] and figures["tables"]["referral_conversion"]
    assert figures["tables"]["top_rewards"] and Redemption.objects.exists()
    assert sum(row[1] for row in figures["points_by_month"] if row[1]) == figures["points_issued"]
    assert len([row for row in figures["points_by_month"] if row[1]]) >= 11  # a year of figures
    portal = User.objects.get(email="member@demo.example.com")
    assert portal.check_password(printed_password(output, "member@demo.example.com"))
    assert portal.member.ledger_transactions.exists()
    raw_key = output.strip().splitlines()[-1].strip()
    assert api_key_authenticate(raw=raw_key).store.slug == "webshop"
    assert "http://127.0.0.1:8000/admin/" in output


def test_demo_runs_again_without_loading_twice_and_resets_logins():
    first = run_demo("--members", "5", "--days", "60")
    purchases = Purchase.objects.count()
    second = run_demo("--members", "5", "--days", "60")
    assert "already loaded" in second
    assert Purchase.objects.count() == purchases and Member.objects.count() == 5
    old_password = printed_password(first, "admin@example.com")
    new_password = printed_password(second, "admin@example.com")
    assert authenticate(email="admin@example.com", password=old_password) is None
    assert authenticate(email="admin@example.com", password=new_password) is not None
    # Only the latest demo key works.
    assert ApiKey.objects.filter(name="demo", revoked_at__isnull=True).count() == 1
    assert ledger_verify() == []


def test_demo_is_deterministic_per_seed_and_reset_reloads():
    run_demo("--members", "8", "--days", "90", "--seed", "7")
    first = sorted(Purchase.objects.values_list("order_id", "total", "occurred_at"))
    run_demo("--members", "8", "--days", "90", "--seed", "7", "--reset")
    assert ledger_verify() == []
    second = sorted(Purchase.objects.values_list("order_id", "total", "occurred_at"))
    assert [row[:2] for row in first] == [row[:2] for row in second]
    run_demo("--members", "8", "--days", "90", "--seed", "8", "--reset")
    assert sorted(Purchase.objects.values_list("order_id", "total")) != [row[:2] for row in first]


def test_demo_refuses_bad_options_and_production_settings(settings):
    with pytest.raises(CommandError):
        call_command("demo", "--no-serve", "--force", "--members", "0", stdout=io.StringIO())
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("demo", "--no-serve", stdout=io.StringIO())
    assert not Member.objects.exists()


def test_demo_has_a_catalogue_promotions_and_rules_a_newcomer_can_use_at_once():
    from campaigns.models import Promotion
    from loyalty.models import EarningRule
    from rewards.models import Redemption, Reward, RewardKind

    run_demo("--members", "12")
    rewards = list(Reward.objects.all())
    assert len(rewards) >= 9 and {reward.kind for reward in rewards} == set(RewardKind.values)
    assert all(reward.image and reward.thumbnail for reward in rewards)  # drawn with Pillow, thumbnailed
    assert Reward.objects.get(kind=RewardKind.PARTNER_VOUCHER).voucher_codes.exists()
    assert Promotion.objects.count() >= 4 and EarningRule.objects.count() >= 3
    assert Redemption.objects.filter(reward__isnull=False).exists()  # members redeemed from the catalogue
    assert Redemption.objects.filter(status="used").exists()  # and used coupons at the till
    assert Purchase.objects.filter(points_bonus__gt=0).exists()  # promotions and earning rules paid bonuses
    program = program_get()
    assert program.logo and program.terms and program.welcome_email and program.reward_redeemed_email
    portal = Member.objects.get(email="member@demo.example.com")
    available = portal.ledger_accounts.get(kind="available").balance
    assert Reward.objects.filter(active=True, cost_points__lte=available, min_tier__isnull=True).exists()
