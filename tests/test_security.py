"""The internet-facing guarantees, across apps: no member reaches another's data, CSRF on the session side,
API keys and sessions never stand in for each other, admin pages for staff only, no open redirect, no
unescaped user text, and a production configuration that `check --deploy` accepts.

What other modules already prove is not repeated here (see tests/loyalty/test_api_me.py, tests/members/
test_portal.py, tests/rewards/test_views.py, tests/rewards/test_api.py, tests/loyalty/test_admin.py)."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from loyalty.models import ApiKeyScope, LedgerTransaction, Store
from loyalty.services.api_keys import api_key_create
from loyalty.services.ledger import Audit, points_credit
from members.models import User
from members.services import member_create
from rewards.models import Redemption, RedemptionStatus
from rewards.services import points_redeem_for_discount
from tests.factories import MemberFactory
from tests.rewards.factories import RewardFactory

pytestmark = pytest.mark.django_db
BASE_DIR = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"  # noqa: S105


def give(member, points):
    points_credit(member=member, points=points, audit=Audit(reason="test credit"))


def signed_in(email, *, csrf=False):
    """A verified member and an API client with their session (and a CSRF token when `csrf`)."""
    user = User.objects.create_user(email=email, password=PASSWORD)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    member = member_create(email=email, user=user)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    client.member = member
    client.csrf = secrets.token_hex(16)
    client.cookies["csrftoken"] = client.csrf
    return client


# -- idempotency replays are scoped to the caller, and the caller cannot be forged --------------------


def test_a_forged_authorization_header_cannot_replay_a_members_response():
    """The replay store is keyed by caller. A session caller must not share a key space with an
    arbitrary Authorization header, else anyone could read back a member's stored response."""
    alice = signed_in("alice@example.com")
    give(alice.member, 500)
    RewardFactory(code="cake", cost_points=200)
    first = alice.post("/api/v1/me/redemptions/", {"reward": "cake"}, format="json",
                       HTTP_X_CSRFTOKEN=alice.csrf, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    coupon = first.json()["code"]

    for forged in (f"user:{alice.member.user.pk}", f"user:{alice.member.user.pk} "):
        response = APIClient().post("/api/v1/me/redemptions/", {"reward": "cake"}, format="json",
                                    HTTP_AUTHORIZATION=forged, HTTP_IDEMPOTENCY_KEY="k-1")
        assert response.status_code in (401, 403), forged
        assert coupon not in response.content.decode()
    mallory = signed_in("mallory@example.com")
    response = mallory.post("/api/v1/me/redemptions/", {"reward": "cake"}, format="json",
                            HTTP_X_CSRFTOKEN=mallory.csrf, HTTP_IDEMPOTENCY_KEY="k-1",
                            HTTP_AUTHORIZATION=f"user:{alice.member.user.pk}")
    assert coupon not in response.content.decode()
    assert Redemption.objects.filter(member=alice.member).count() == 1


def test_the_same_idempotency_key_from_two_members_is_two_requests():
    alice, bob = signed_in("alice@example.com"), signed_in("bob@example.com")
    give(alice.member, 500)
    give(bob.member, 500)
    RewardFactory(code="cake", cost_points=200)
    for client in (alice, bob):
        response = client.post("/api/v1/me/redemptions/", {"reward": "cake"}, format="json",
                               HTTP_X_CSRFTOKEN=client.csrf, HTTP_IDEMPOTENCY_KEY="same")
        assert response.status_code == 201
        assert response.json()["member"] == client.member.loyalty_id
    assert Redemption.objects.filter(member=bob.member).count() == 1


# -- a member session never reaches the key-authenticated redemption endpoints ------------------------


def test_a_member_session_cannot_cancel_or_use_anyones_coupon():
    alice, bob = signed_in("alice@example.com"), signed_in("bob@example.com")
    give(alice.member, 500)
    redemption = points_redeem_for_discount(member=alice.member, points=100)
    for client in (alice, bob):
        for url, body in (
            (f"/api/v1/redemptions/{redemption.pk}/cancel/", {"reason": "mine now"}),
            (f"/api/v1/coupons/{redemption.code}/use/", {"order_id": "o-1"}),
            ("/api/v1/redemptions/", {"member": alice.member.loyalty_id, "points": 100}),
            ("/api/v1/redemptions/quote/", {"member": alice.member.loyalty_id, "subtotal": "10", "currency": "EUR"}),
        ):
            response = client.post(url, body, format="json", HTTP_X_CSRFTOKEN=client.csrf)
            assert response.status_code == 401, url
    redemption.refresh_from_db()
    assert redemption.status_at() == RedemptionStatus.ISSUED
    assert Redemption.objects.count() == 1


def test_my_coupons_page_and_me_list_never_show_another_members_code():
    alice, bob = signed_in("alice@example.com"), signed_in("bob@example.com")
    give(alice.member, 500)
    alices = points_redeem_for_discount(member=alice.member, points=100)
    for attempt in ("", f"?member={alice.member.pk}", f"?loyalty_id={alice.member.loyalty_id}", f"?id={alices.pk}"):
        assert alices.code not in bob.get(reverse("rewards:my_coupons") + attempt).content.decode()
        assert alices.code not in bob.get("/api/v1/me/redemptions/" + attempt).content.decode()
    assert alices.code in alice.get(reverse("rewards:my_coupons")).content.decode()


def test_a_pos_key_cannot_adjust_or_configure():
    store = Store.objects.create(slug="till", name="Till")
    _, raw = api_key_create(store=store, scope=ApiKeyScope.POS)
    pos = APIClient()
    pos.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    member = MemberFactory()
    for method, url, body in (
        ("post", f"/api/v1/members/{member.loyalty_id}/adjustments/", {"points": 5, "reason": "x"}),
        ("patch", "/api/v1/program/", {"name": "Mine"}),
        ("post", "/api/v1/stores/", {"slug": "s2", "name": "S2"}),
        ("post", "/api/v1/tiers/", {"code": "x", "name": "X", "rank": 9, "threshold": 1}),
        ("post", "/api/v1/earning-rules/", {"sku": "A", "excluded": True}),
        ("post", "/api/v1/promotions/", {"name": "P", "kind": "flat", "points": 5}),
        ("post", "/api/v1/rewards/", {"code": "r", "name": "R", "kind": "fixed_discount", "cost_points": 1}),
    ):
        response = getattr(pos, method)(url, body, format="json")
        assert response.status_code == 403, url
    assert not LedgerTransaction.objects.filter(member=member).exists()


def test_raw_api_keys_are_not_stored():
    store = Store.objects.create(slug="till", name="Till")
    api_key, raw = api_key_create(store=store, scope=ApiKeyScope.ADMIN)
    secret_part = raw.split(".", 1)[1]
    for value in (api_key.hashed_key, api_key.prefix, api_key.name):
        assert secret_part not in value
    assert api_key.hashed_key != raw


# -- admin: custom pages for staff only ----------------------------------------------------------------


def _custom_admin_urls(member):
    return [
        reverse("admin:members_member_adjust_points", args=[member.pk]),
        reverse("admin:loyalty_purchase_refund", args=[1]),
        reverse("admin:loyalty_purchase_add"),
        reverse("admin:loyalty_tier_set_floor"),
        reverse("admin:loyalty_tiermembership_add"),
        reverse("admin:rewards_vouchercode_import"),
        reverse("admin:rewards_redemption_charity_totals"),
    ]


@pytest.mark.parametrize("method", ["get", "post"])
def test_custom_admin_pages_send_members_and_visitors_to_the_admin_login(method):
    member = signed_in("alice@example.com").member
    signed = Client()
    signed.force_login(member.user)
    for client in (Client(), signed):
        for url in _custom_admin_urls(member):
            response = getattr(client, method)(url, {"points": 5, "reason": "x"})
            assert response.status_code == 302, url
            assert response["Location"].startswith(reverse("admin:login")), url
    assert not LedgerTransaction.objects.filter(kind="adjust").exists()


def test_custom_admin_pages_refuse_staff_without_the_permission():
    member = MemberFactory()
    clerk = User.objects.create_user(email="clerk@example.com", password=PASSWORD, is_staff=True)
    client = Client()
    client.force_login(clerk)
    for url in _custom_admin_urls(member):
        assert client.get(url).status_code == 403, url
    assert client.post(_custom_admin_urls(member)[0], {"points": 5, "reason": "x"}).status_code == 403
    assert not LedgerTransaction.objects.filter(kind="adjust").exists()


# -- every sign-in form is rate limited -----------------------------------------------------------------


def _staff(email="boss@example.com"):
    """A staff login; its email counts as verified (members.signals), so it can sign in through allauth."""
    return User.objects.create_user(email=email, password=PASSWORD, is_staff=True, is_superuser=True)


def test_the_admin_login_sends_staff_to_the_rate_limited_allauth_sign_in():
    """Django's admin login form had its own (no) limits: /admin/login/ only points to allauth's sign-in."""
    client = Client()
    for response in (client.get(reverse("admin:login") + "?next=/admin/members/"),
                     client.post(reverse("admin:login") + "?next=/admin/members/", {"username": "x", "password": "y"})):
        assert response.status_code == 302
        assert response["Location"] == reverse("account_login") + "?next=%2Fadmin%2Fmembers%2F"
    assert client.get(reverse("admin:login") + "?next=https://evil.example.com/")["Location"] == (
        reverse("account_login") + "?next=%2Fadmin%2F")


def test_the_staff_sign_in_is_rate_limited_like_the_portal_one():
    staff = _staff()
    client = Client()
    for attempt in range(5):
        response = client.post(reverse("account_login"), {"login": staff.email, "password": f"guess-{attempt}"})
        assert response.status_code == 200  # the form again, with an error
    response = client.post(reverse("account_login") + "?next=/admin/", {"login": staff.email.upper(),
                                                                        "password": PASSWORD})
    assert client.get(reverse("admin:index")).status_code == 302  # still not signed in
    assert "Too many" in response.content.decode()


def test_the_staff_sign_in_still_works_and_a_member_is_not_let_in():
    staff = _staff()
    client = Client()
    for _ in range(8):
        response = client.post(reverse("account_login") + "?next=/admin/", {"login": staff.email,
                                                                            "password": PASSWORD, "next": "/admin/"})
        assert response.status_code == 302 and response["Location"] == "/admin/"
        assert client.get("/admin/").status_code == 200
        client.logout()
    member_user = signed_in("alice@example.com").member.user
    client.post(reverse("account_login"), {"login": member_user.email, "password": PASSWORD, "next": "/admin/"})
    response = client.get(reverse("admin:index"), follow=True)
    assert response.status_code == 403 and "not a staff account" in response.content.decode()


def test_the_portal_sign_in_locks_an_email_after_five_wrong_passwords():
    user = User.objects.create_user(email="alice@example.com", password=PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client = Client()
    for attempt in range(5):
        client.post(reverse("account_login"), {"login": user.email, "password": f"guess-{attempt}"})
    client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session


def _failed_logins_then_sign_in(settings, *, count, attacker_ip, visitor_ip):
    users = [User.objects.create_user(email=f"user{n}@example.com", password=PASSWORD) for n in range(count + 1)]
    for user in users:
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    attacker, visitor = Client(), Client()
    for user in users[:count]:  # one wrong password per email: only the per-IP limit can trigger
        attacker.post(reverse("account_login"), {"login": user.email, "password": "wrong"},
                      HTTP_X_FORWARDED_FOR=attacker_ip)
    visitor.post(reverse("account_login"), {"login": users[-1].email, "password": PASSWORD},
                 HTTP_X_FORWARDED_FOR=visitor_ip)
    return "_auth_user_id" in visitor.session


def test_behind_a_proxy_one_visitors_failures_do_not_lock_out_the_others(settings):
    """All requests come from the proxy's address: with TRUSTED_PROXY_COUNT the limit is per real client."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    assert _failed_logins_then_sign_in(settings, count=10, attacker_ip="203.0.113.9", visitor_ip="198.51.100.7")


def test_behind_a_proxy_a_forged_forwarded_for_does_not_escape_the_limit(settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    # The proxy appends the real address: a client-sent value ends up in front of it and is not used.
    assert not _failed_logins_then_sign_in(settings, count=10, attacker_ip="1.2.3.4, 203.0.113.9",
                                           visitor_ip="5.6.7.8, 203.0.113.9")


# -- sign-in redirects stay on this site ---------------------------------------------------------------


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example/",
                                    "https:/evil.example/"])
def test_login_next_never_leaves_the_site(target):
    user = User.objects.create_user(email="alice@example.com", password=PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    response = Client().post(reverse("account_login") + "?next=" + target,
                             {"login": user.email, "password": PASSWORD, "next": target})
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


# -- user text is escaped everywhere it is shown -------------------------------------------------------


XSS = '<script>alert("x")</script>'


def test_names_and_reward_texts_are_escaped_in_the_portal_and_admin(admin_client):
    alice = signed_in("alice@example.com")
    member = alice.member
    member.first_name = member.last_name = member.nickname = XSS
    member.save(update_fields=["first_name", "last_name", "nickname"])
    RewardFactory(code="cake", name=XSS, description=XSS, cost_points=1)
    give(member, 5)
    portal = Client()
    portal.force_login(member.user)
    pages = [portal.get(reverse(name)) for name in ("portal:dashboard", "portal:profile", "rewards:catalogue")]
    pages += [admin_client.get(reverse("admin:members_member_changelist")),
              admin_client.get(reverse("admin:members_member_change", args=[member.pk])),
              admin_client.get(reverse("admin:rewards_reward_changelist"))]
    for page in pages:
        assert page.status_code == 200
        assert XSS not in page.content.decode()


# -- production configuration -------------------------------------------------------------------------


def _manage(*args, **env):
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL")}
    environment.update(DJANGO_SETTINGS_MODULE="loyalty.settings", **env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=environment,  # noqa: S603
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING",
                     DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="loyalty.example")
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", DEBUG="false", ALLOWED_HOSTS="loyalty.example")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


# -- browser protections ---------------------------------------------------------------------------------

INLINE_CODE = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>|<style\b|\sstyle=|\son[a-z]+=",
    re.IGNORECASE,
)


def test_no_template_carries_inline_code():
    """The Content-Security-Policy allows scripts and styles from our own files only: an inline script, style
    or event handler in a page template would be blocked (emails are not pages: they keep inline styles)."""
    offenders = []
    for root in [settings.BASE_DIR / "templates", *settings.BASE_DIR.glob("*/templates")]:
        for path in root.rglob("*.html"):
            if "emails" in path.parts or path.parent.name == "email":  # ours, and allauth's (account/email/)
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if INLINE_CODE.search(line):
                    offenders.append(f"{path.relative_to(settings.BASE_DIR)}:{number}: {line.strip()[:100]}")
    assert offenders == []


def test_pages_send_the_browser_protections():
    client = signed_in("ann@example.com")
    response = client.get("/")
    policy = response["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'",
                      "frame-ancestors 'none'"):
        assert directive in policy
    assert "camera=()" in response["Permissions-Policy"] and "geolocation=()" in response["Permissions-Policy"]
    assert "no-store" in response["Cache-Control"]


def test_pages_with_personal_data_are_never_stored(pos_api_client):
    client = signed_in("ann@example.com")
    for url in ("/", "/history/", "/rewards/coupons/", "/profile/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"], url
    answer = pos_api_client.get(f"/api/v1/members/{client.member.loyalty_id}/")
    assert "no-store" in answer["Cache-Control"]
    assert "Content-Security-Policy" not in answer  # JSON for programs: the policy is for pages
