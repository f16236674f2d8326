"""Staff roles (groups made by loyalty migration 0013): every admin page (changelist, add, change) loaded as
each role, and each role's boundaries: what it may do, and what it is refused."""

import uuid
from decimal import Decimal

import pytest
from allauth.mfa.models import Authenticator
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, IntervalSchedule, SolarSchedule

from campaigns.models import (
    ActionRule,
    Challenge,
    ChallengeProgress,
    LeaderboardAward,
    LeaderboardPrize,
    Promotion,
    Referral,
)
from campaigns.services.actions import action_event_record
from campaigns.services.badges import badge_create, badge_grant
from campaigns.services.challenges import challenge_create
from campaigns.services.leaderboards import leaderboard_member_refresh
from loyalty.models import EarningRule, LedgerTransaction, StaffAction, Store, Tier, TransactionKind
from loyalty.services.api_keys import api_key_create
from loyalty.services.audit import staff_action_record
from loyalty.services.ledger import Audit, points_credit
from loyalty.services.program import program_get
from loyalty.services.purchases import purchase_record, refund_record
from loyalty.services.tiers import tier_membership_record
from members.models import Member, MemberStatus, User
from rewards.models import RedemptionStatus, VoucherCode
from rewards.services import reward_redeem
from tests.factories import MemberFactory
from tests.rewards.factories import RewardFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("staff_roles")]

# The pages each role may open: the roles' explicit boundaries. The superuser sees every page.
VIEW = {"changelist", "change"}  # a change page without the change permission shows the object read-only
SUPPORT = dict.fromkeys(("members.member", "loyalty.ledgertransaction", "loyalty.pointlot", "loyalty.purchase",
                         "loyalty.refund", "rewards.redemption"), VIEW)
NOT_FOR_MANAGERS = {"members.user", "auth.group", "account.emailaddress", "mfa.authenticator"}
MANAGER = {model._meta.label_lower: {"changelist", "add", "change"} for model in admin.site._registry
           if model._meta.label_lower not in NOT_FOR_MANAGERS}


@pytest.fixture
def everything(db):
    """At least one row of every model the admin shows."""
    program_get()
    store = Store.objects.create(slug="till", name="Till")
    api_key_create(store=store, scope="pos")
    tier = Tier.objects.create(code="gold", name="Gold", rank=1, threshold=100, price=Decimal("10.00"),
                               period_months=12)
    member = MemberFactory(email="ann@example.com")
    purchase, _created = purchase_record(store=store, member=member, order_id="T-1", total=Decimal("500.00"),
                                         currency="EUR")
    refund_record(store=store, purchase=purchase, refund_id="R-1", amount=Decimal("10.00"))
    points_credit(member=member, points=1000, audit=Audit(reason="Gift", idempotency_key="gift"))
    tier_membership_record(member=member, tier=tier, order_id="M-1", price=Decimal("10.00"), currency="EUR")
    EarningRule.objects.create(sku="MUG", multiplier=Decimal("2"))
    Promotion.objects.create(name="Double", kind="multiplier", multiplier=Decimal("2"))
    ActionRule.objects.filter(type="review").update(active=True, points=10)
    action_event_record(member=member, type="review", reference="MUG")
    Referral.objects.create(referrer=member, referee=MemberFactory(email="bob@example.com"))
    badge = badge_create(code="loyal", name="Loyal")
    badge_grant(badge=badge, member=member, reason="Thank you")
    challenge_create(code="ten", name="Ten purchases", goal="purchases", target=10, prize_badge=badge)
    ChallengeProgress.objects.get_or_create(challenge=Challenge.objects.get(code="ten"), member=member)
    LeaderboardPrize.objects.create(rank=1, points=500)
    Member.objects.filter(pk=member.pk).update(nickname="Ann", leaderboard_opt_in=True)
    leaderboard_member_refresh(member_id=member.pk)
    LeaderboardAward.objects.create(period_key="2026-11", rank=1, member=member, score=900, prize_points=500,
                                    awarded_at=timezone.now())
    reward = RewardFactory(code="voucher", kind="partner_voucher", value="5.00")
    VoucherCode.objects.create(reward=reward, code="PARTNER-1")
    reward_redeem(member=member, reward=reward)
    IntervalSchedule.objects.create(every=10, period="minutes")
    SolarSchedule.objects.create(event="sunrise", latitude=52, longitude=5)
    ClockedSchedule.objects.create(clocked_time=timezone.now())
    staff_action_record(kind="points_imported", count=1, details={"file": "points.csv"})
    owner = User.objects.create_user(email="owner@example.com", is_staff=True)
    Authenticator.objects.create(user=owner, type=Authenticator.Type.RECOVERY_CODES, data={"seed": "00"})
    return {"member": member, "purchase": purchase, "reward": reward}


def staff(role: str) -> Client:
    if role == "superuser":
        user = User.objects.create_superuser(email="root@example.com", password="pw")
    else:
        user = User.objects.create_user(email=f"{role.replace(' ', '-')}@example.com", password="pw", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


def admin_pages():
    """(model label, page, url) for every changelist, add and change page of the admin."""
    pages = []
    for model in admin.site._registry:
        opts = model._meta
        pages.append((opts.label_lower, "changelist", reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")))
        pages.append((opts.label_lower, "add", reverse(f"admin:{opts.app_label}_{opts.model_name}_add")))
        obj = model._default_manager.order_by("pk").first()
        assert obj is not None, f"the fixture has no {opts.label_lower}"
        pages.append((opts.label_lower, "change",
                      reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])))
    return pages


def test_every_admin_page_as_each_role(everything):
    clients = {role: staff(role) for role in ("superuser", "Program manager", "Support")}
    pages = admin_pages()
    assert len(pages) == 3 * len(admin.site._registry) >= 75
    problems = []
    for label, page, url in pages:
        root = clients["superuser"].get(url).status_code
        if root not in (200, 302, 403):
            problems.append(f"superuser {page} {label}: {root}")
            continue
        for role, allowed in (("Program manager", MANAGER), ("Support", SUPPORT)):
            status = clients[role].get(url).status_code
            expected = root if page in allowed.get(label, ()) else 403
            if status != expected:
                problems.append(f"{role} {page} {label}: {status}, expected {expected}")
    assert not problems, "\n".join(problems)


def test_pages_that_exist_for_the_superuser(everything):
    """The grid above compares with the superuser: make sure the superuser's pages are not all refusals."""
    client = staff("superuser")
    statuses = {(label, page): client.get(url).status_code for label, page, url in admin_pages()}
    assert statuses[("members.member", "change")] == 200
    assert statuses[("loyalty.ledgertransaction", "add")] == 403  # the ledger is never edited in the admin
    assert statuses[("loyalty.program", "changelist")] == 302  # straight to the one settings row
    assert sum(status == 200 for status in statuses.values()) >= 50


@pytest.mark.parametrize(
    ("url_name", "manager", "support"),
    [
        ("kpi_dashboard", 200, 403),
        ("admin:members_member_import", 200, 403),
        ("admin:loyalty_ledgertransaction_import", 200, 403),
        ("admin:members_member_export_csv", 200, 200),
        ("admin:loyalty_ledgertransaction_export_csv", 200, 200),
        ("admin:loyalty_purchase_export_csv", 200, 200),
        ("admin:rewards_redemption_export_csv", 200, 200),
        ("admin:loyalty_tier_set_floor", 200, 403),
        ("admin:rewards_redemption_charity_totals", 200, 200),
        ("admin:rewards_vouchercode_import", 200, 403),
        ("admin:loyalty_staffaction_changelist", 200, 403),
        ("admin:campaigns_referral_export_csv", 200, 403),
        ("admin:campaigns_badgeaward_export_csv", 200, 403),
        ("admin:campaigns_actionevent_export_csv", 200, 403),
    ],
)
def test_custom_pages_by_role(everything, url_name, manager, support):
    url = reverse(url_name)
    assert staff("Program manager").get(url).status_code == manager
    assert staff("Support").get(url).status_code == support


def test_support_adjusts_points_and_cancels_redemptions(everything):
    client = staff("Support")
    member = everything["member"]
    response = client.post(reverse("admin:members_member_adjust_points", args=[member.pk]),
                           {"points": "25", "reason": "Sorry for the wait", "token": uuid.uuid4()})
    assert response.status_code == 302
    txn = LedgerTransaction.objects.get(kind=TransactionKind.ADJUST)
    assert (txn.points, txn.staff_user.email) == (25, "Support@example.com")
    redemption = everything["member"].redemptions.get()
    client.post(reverse("admin:rewards_redemption_changelist"),
                {"action": "cancel_redemptions", "_selected_action": [redemption.pk], "index": "0"})
    redemption.refresh_from_db()
    assert redemption.status == RedemptionStatus.CANCELLED


def test_support_cannot_change_members_rules_tiers_rewards_or_keys(everything):
    client = staff("Support")
    member = everything["member"]
    change = client.post(reverse("admin:members_member_change", args=[member.pk]),
                         {"email": "hijack@example.com", "status": "closed"})
    assert change.status_code == 403
    member.refresh_from_db()
    assert (member.email, member.status) == ("ann@example.com", MemberStatus.ACTIVE)
    for url_name, data in [
        ("admin:loyalty_program_change", {"earn_rate": "100"}),
        ("admin:loyalty_tier_add", {"code": "x", "name": "X", "rank": 9}),
        ("admin:rewards_reward_add", {"code": "free", "name": "Free", "kind": "fixed_discount", "cost_points": 1}),
        ("admin:loyalty_apikey_add", {"store": 1, "scope": "admin"}),
        ("admin:loyalty_earningrule_add", {"sku": "X", "multiplier": "10"}),
        ("admin:campaigns_promotion_add", {"name": "x", "kind": "flat", "points": "1000"}),
    ]:
        args = [1] if url_name.endswith("_change") else []
        assert client.post(reverse(url_name, args=args), data).status_code == 403, url_name
    assert program_get().earn_rate == Decimal("1.00")
    # Bulk actions and imports are the programme manager's.
    client.post(reverse("admin:members_member_changelist"),
                {"action": "bulk_suspend", "_selected_action": [member.pk], "index": "0"})
    assert not StaffAction.objects.filter(kind="members_suspended").exists()


def test_program_manager_runs_the_programme_but_not_logins(everything):
    client = staff("Program manager")
    member = everything["member"]
    response = client.post(reverse("admin:members_member_changelist"),
                           {"action": "bulk_suspend", "_selected_action": [member.pk], "index": "0"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.status == MemberStatus.SUSPENDED
    for url in (reverse("admin:members_user_changelist"), reverse("admin:auth_group_changelist"),
                reverse("admin:members_user_add")):
        assert client.get(url).status_code == 403, url
    root = User.objects.get(email="Program-manager@example.com")
    assert not root.is_superuser


def test_campaign_actions_by_role(everything):
    """Issues 10 and 11's admin actions and pages: the programme manager's, never support's."""
    referral = Referral.objects.get()
    Referral.objects.filter(pk=referral.pk).update(status="blocked", block_reason="same_email")
    referrals = reverse("admin:campaigns_referral_changelist")
    review = {"action": "cancel", "_selected_action": [referral.pk], "index": "0"}
    badge = {"action": "grant_badge", "_selected_action": [everything["member"].pk], "index": "0",
             "apply": "Grant badge", "badge": badge_create(code="new", name="New").pk, "reason": "Thanks"}
    members = reverse("admin:members_member_changelist")
    board = reverse("admin:campaigns_leaderboardscore_changelist") + "?period=month"
    support = staff("Support")
    assert support.post(referrals, review).status_code == 403
    assert support.get(board).status_code == 403
    support.post(members, badge)
    assert Referral.objects.get().status == "blocked" and not StaffAction.objects.exclude(kind="points_imported")
    manager = staff("Program manager")
    assert manager.get(board).status_code == 200
    assert manager.post(referrals, review).status_code == 302
    assert manager.post(members, badge).status_code == 302
    assert Referral.objects.get().status == "cancelled"
    assert set(StaffAction.objects.values_list("kind", flat=True)) == {"points_imported", "referrals_cancelled",
                                                                       "badge_granted"}


def test_roles_are_made_by_the_migration_with_explicit_permissions():
    manager = set(Group.objects.get(name="Program manager").permissions.values_list("codename", flat=True))
    support = set(Group.objects.get(name="Support").permissions.values_list("codename", flat=True))
    assert {"view_kpi_dashboard", "run_bulk_actions", "import_data", "change_program", "add_reward",
            "change_tier", "add_apikey", "change_member"} <= manager
    assert not {"change_user", "add_user", "change_group"} & manager
    assert support == {"view_member", "add_ledgertransaction", "view_ledgertransaction", "view_pointlot",
                       "view_purchase", "view_refund", "view_redemption", "change_redemption"}


def test_unknown_url_names_fail_loudly():
    with pytest.raises(NoReverseMatch):
        reverse("admin:members_member_nothing")
