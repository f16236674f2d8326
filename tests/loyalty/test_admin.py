"""Admin for program settings, the read-only ledger, stores and API keys."""

import re

import pytest
from django.urls import reverse

from loyalty.models import ApiKey, LedgerTransaction, PointLot, Program, Store
from loyalty.services.api_keys import api_key_authenticate, api_key_create
from loyalty.services.ledger import Audit, points_credit
from loyalty.services.program import program_get
from members.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser():
    return User.objects.create_superuser(email="boss@example.com", password="pw-for-tests-only")


@pytest.fixture
def staff_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def credited(member):
    return points_credit(member=member, points=120, audit=Audit(reason="Welcome gift", idempotency_key="gift-1"))


PROGRAM_FORM = {
    "name": "Club", "currency": "EUR", "earn_rate": "1.00", "rounding": "round", "pending_days": "14",
    "point_value": "0.01", "min_redeem_points": "0", "max_discount_percent": "50", "coupon_valid_days": "90",
    "points_valid_days": "365", "expiry_extends_to": "none", "expiry_warning_days": "14",
    "tier_metric": "points", "tier_window": "lifetime", "tier_window_months": "", "tier_hold_months": "0",
    "signup_bonus": "0", "birthday_bonus": "0", "referral_referrer_bonus": "0", "referral_referee_bonus": "0",
    "referral_cap": "", "brand_colour": "#24324a", "accent_colour": "#1a56c4", "terms": "",
    "welcome_email": "on", "tier_upgrade_email": "on", "reward_redeemed_email": "on", "expiry_reminder_email": "on",
}


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:index",
        "admin:loyalty_ledgertransaction_changelist",
        "admin:loyalty_ledgeraccount_changelist",
        "admin:loyalty_pointlot_changelist",
        "admin:loyalty_store_changelist",
        "admin:loyalty_apikey_changelist",
        "admin:loyalty_apikey_add",
        "admin:loyalty_store_add",
    ],
)
def test_admin_pages_load_for_a_superuser(staff_client, credited, url_name):
    assert staff_client.get(reverse(url_name)).status_code == 200


def test_ledger_detail_pages_load_and_search_by_loyalty_id(staff_client, member, credited):
    lot = PointLot.objects.get(transaction=credited)
    page = staff_client.get(reverse("admin:loyalty_ledgertransaction_change", args=[credited.pk]))
    assert page.status_code == 200
    assert b"Welcome gift" in page.content
    assert staff_client.get(reverse("admin:loyalty_pointlot_change", args=[lot.pk])).status_code == 200
    found = staff_client.get(reverse("admin:loyalty_ledgertransaction_changelist"), {"q": member.loyalty_id})
    assert list(found.context["cl"].result_list) == [credited]
    by_key = staff_client.get(reverse("admin:loyalty_pointlot_changelist"), {"q": "gift-1"})
    assert list(by_key.context["cl"].result_list) == [lot]
    nothing = staff_client.get(reverse("admin:loyalty_ledgertransaction_changelist"), {"q": "0000000000000000"})
    assert list(nothing.context["cl"].result_list) == []


def test_ledger_is_read_only_in_the_admin(staff_client, credited):
    assert staff_client.get(reverse("admin:loyalty_ledgertransaction_add")).status_code == 403
    url = reverse("admin:loyalty_ledgertransaction_change", args=[credited.pk])
    staff_client.post(url, {"reason": "tampered", "points": "999"})
    credited.refresh_from_db()
    assert (credited.reason, credited.points) == ("Welcome gift", 120)
    delete = staff_client.post(reverse("admin:loyalty_ledgertransaction_delete", args=[credited.pk]), {"post": "yes"})
    assert delete.status_code == 403
    assert LedgerTransaction.objects.filter(pk=credited.pk).exists()


def test_non_staff_cannot_reach_the_admin(client):
    user = UserFactory()
    user.save()  # store the password hash so the session stays valid
    client.force_login(user)
    assert client.get(reverse("portal:dashboard")).status_code == 200  # signed in, just not staff
    for url in [reverse("admin:index"), reverse("admin:members_member_changelist"),
                reverse("admin:loyalty_ledgertransaction_changelist")]:
        response = client.get(url)
        assert response.status_code == 302
        assert reverse("admin:login") in response["Location"]


# -- program settings ------------------------------------------------------------------------------


def test_program_changelist_redirects_to_the_single_row(staff_client):
    response = staff_client.get(reverse("admin:loyalty_program_changelist"))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:loyalty_program_change", args=[1])
    assert Program.objects.count() == 1
    assert staff_client.get(response["Location"]).status_code == 200


def test_program_cannot_be_added_twice_or_deleted(staff_client):
    program_get()
    assert staff_client.get(reverse("admin:loyalty_program_add")).status_code == 403
    assert staff_client.post(reverse("admin:loyalty_program_delete", args=[1]), {"post": "yes"}).status_code == 403
    assert Program.objects.count() == 1


def test_program_saves_valid_settings(staff_client):
    program_get()
    response = staff_client.post(reverse("admin:loyalty_program_change", args=[1]), PROGRAM_FORM)
    assert response.status_code == 302
    program = program_get()
    assert (program.name, program.pending_days, program.points_valid_days, program.max_discount_percent) == (
        "Club", 14, 365, 50,
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"earn_rate": "-1"}, "earn_rate"),
        ({"point_value": "0"}, "point_value"),
        ({"max_discount_percent": "101"}, "max_discount_percent"),
        ({"pending_days": "-3"}, "pending_days"),
        ({"points_valid_days": "0"}, "points_valid_days"),
        ({"tier_window": "rolling", "tier_window_months": ""}, "tier_window_months"),
        ({"points_valid_days": "", "expiry_extends_to": "month_end"}, "expiry_extends_to"),
        ({"currency": "E1"}, "currency"),
        ({"rounding": "bankers"}, "rounding"),
    ],
)
def test_program_rejects_bad_settings_with_a_form_error(staff_client, changes, field):
    before = program_get()
    response = staff_client.post(reverse("admin:loyalty_program_change", args=[1]), {**PROGRAM_FORM, **changes})
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    after = program_get()
    assert (after.name, after.earn_rate, after.tier_window) == (before.name, before.earn_rate, before.tier_window)


# -- stores and API keys ---------------------------------------------------------------------------


def test_store_webhook_secret_is_write_only(staff_client):
    response = staff_client.post(
        reverse("admin:loyalty_store_add"),
        {"name": "Web shop", "slug": "web", "woocommerce_secret": "s3cret-value", "api_keys-TOTAL_FORMS": "0",
         "api_keys-INITIAL_FORMS": "0"},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    store = Store.objects.get(slug="web")
    assert store.woocommerce_secret == "s3cret-value"
    change_url = reverse("admin:loyalty_store_change", args=[store.pk])
    assert b"s3cret-value" not in staff_client.get(change_url).content
    form = {"name": "Web shop", "slug": "web", "woocommerce_secret": "", "api_keys-TOTAL_FORMS": "0",
            "api_keys-INITIAL_FORMS": "0"}
    staff_client.post(change_url, form)
    store.refresh_from_db()
    assert store.woocommerce_secret == "s3cret-value"
    staff_client.post(change_url, {**form, "clear_woocommerce_secret": "on"})
    store.refresh_from_db()
    assert store.woocommerce_secret == ""


def test_api_key_created_in_admin_is_shown_once_and_authenticates(staff_client):
    store = Store.objects.create(slug="till", name="Till")
    response = staff_client.post(reverse("admin:loyalty_apikey_add"), {"store": store.pk, "scope": "pos", "name": "t1"})
    assert response.status_code == 200
    raw_key = re.search(r'value="([^"]+)" id="raw-api-key"', response.content.decode()).group(1)
    api_key = ApiKey.objects.get()
    assert api_key.hashed_key == ApiKey.hash(raw_key) != raw_key
    assert raw_key.startswith(api_key.prefix)
    assert api_key_authenticate(raw=raw_key) == api_key
    assert (api_key.store, api_key.scope, api_key.name) == (store, "pos", "t1")
    # Never shown again: not on the change page nor in the list.
    assert raw_key.encode() not in staff_client.get(reverse("admin:loyalty_apikey_change", args=[api_key.pk])).content
    listing = staff_client.get(reverse("admin:loyalty_apikey_changelist"))
    assert raw_key.encode() not in listing.content
    assert api_key.prefix.encode() in listing.content


def test_api_key_store_and_scope_cannot_be_widened_after_creation(staff_client):
    store = Store.objects.create(slug="till", name="Till")
    other = Store.objects.create(slug="other", name="Other")
    api_key, _raw = api_key_create(store=store, scope="pos")
    staff_client.post(
        reverse("admin:loyalty_apikey_change", args=[api_key.pk]), {"store": other.pk, "scope": "admin", "name": "x"}
    )
    api_key.refresh_from_db()
    assert (api_key.store, api_key.scope, api_key.name) == (store, "pos", "x")


def test_api_key_revoke_action(staff_client):
    store = Store.objects.create(slug="till", name="Till")
    api_key, raw = api_key_create(store=store, scope="pos")
    keep, keep_raw = api_key_create(store=store, scope="pos")
    response = staff_client.post(
        reverse("admin:loyalty_apikey_changelist"), {"action": "revoke", "_selected_action": [api_key.pk]}
    )
    assert response.status_code == 302
    assert api_key_authenticate(raw=raw) is None
    assert api_key_authenticate(raw=keep_raw) == keep
    assert staff_client.post(reverse("admin:loyalty_apikey_delete", args=[keep.pk]), {"post": "yes"}).status_code == 403


def test_ledger_filter_by_who_posted(staff_client, superuser, member, credited):
    from loyalty.services.ledger import points_adjust

    adjusted = points_adjust(member=member, points=5, reason="Goodwill", staff_user=superuser)
    url = reverse("admin:loyalty_ledgertransaction_changelist")
    assert list(staff_client.get(url, {"posted_by": "staff"}).context["cl"].result_list) == [adjusted]
    assert list(staff_client.get(url, {"kind__exact": "earn"}).context["cl"].result_list) == [credited]
