"""Two-factor sign-in for staff (django-allauth MFA): enrol an authenticator app (TOTP), sign in with a code,
sign in with a recovery code, and ADMIN_MFA_REQUIRED sending staff without TOTP to enrol first."""

import time

import pytest
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from members.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-staff-password-42"


def code_for(secret: str) -> str:
    """The current code, made at least 2 s before its 30-second window ends: allauth accepts the current
    window only (no tolerance), so a code made at a window's last moment was refused a few ms later."""
    left = mfa_settings.TOTP_PERIOD - time.time() % mfa_settings.TOTP_PERIOD
    if left < 2:
        time.sleep(left + 0.05)
    return format_hotp_value(hotp_value(secret, next(iter(yield_hotp_counters_from_time()))))


@pytest.fixture
def staff(db):
    return User.objects.create_user(email="boss@example.com", password=PASSWORD, is_staff=True, is_superuser=True)


def sign_in(client, user, next_url="/admin/"):
    return client.post(reverse("account_login") + f"?next={next_url}",
                       {"login": user.email, "password": PASSWORD, "next": next_url})


def enrol(client) -> tuple[str, list[str]]:
    """Activate TOTP on the signed-in user through allauth's pages; returns the secret and recovery codes."""
    page = client.get(reverse("mfa_activate_totp"))
    # allauth asks for the password again before a second factor is added (a session left open is not enough).
    assert page.status_code == 302 and page["Location"].startswith(reverse("account_reauthenticate"))
    confirmed = client.post(page["Location"], {"password": PASSWORD})
    assert confirmed.status_code == 302
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = page.context["form"].secret
    response = client.post(reverse("mfa_activate_totp"), {"code": code_for(secret)})
    assert response.status_code == 302 and response["Location"] == reverse("mfa_view_recovery_codes")
    codes_page = client.get(response["Location"])
    codes = codes_page.context["unused_codes"]
    cache.clear()  # a TOTP code is single-use within its 30 s: the test signs in again at once
    return secret, codes


def test_enrol_totp_then_sign_in_with_a_code(staff):
    client = Client()
    assert sign_in(client, staff)["Location"] == "/admin/"
    secret, codes = enrol(client)
    assert Authenticator.objects.filter(user=staff, type=Authenticator.Type.TOTP).exists()
    assert len(codes) == 10
    client.logout()

    response = sign_in(client, staff)
    assert response["Location"] == reverse("mfa_authenticate")  # the password alone is not enough now
    assert client.get("/admin/").status_code == 302
    wrong = client.post(reverse("mfa_authenticate"), {"code": "000000" if code_for(secret) != "000000" else "111111"})
    assert wrong.status_code == 200 and client.get("/admin/").status_code == 302
    response = client.post(reverse("mfa_authenticate"), {"code": code_for(secret)})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_sign_in_with_a_recovery_code_once(staff):
    client = Client()
    sign_in(client, staff)
    _secret, codes = enrol(client)
    client.logout()
    sign_in(client, staff)
    response = client.post(reverse("mfa_authenticate"), {"code": codes[0]})
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    client.logout()
    sign_in(client, staff)
    again = client.post(reverse("mfa_authenticate"), {"code": codes[0]})
    assert again.status_code == 200  # used up
    assert client.get("/admin/").status_code == 302
    rc = RecoveryCodes(Authenticator.objects.get(user=staff, type=Authenticator.Type.RECOVERY_CODES))
    assert codes[0] not in rc.get_unused_codes() and len(rc.get_unused_codes()) == 9


def test_wrong_codes_are_rate_limited(staff):
    client = Client()
    sign_in(client, staff)
    secret, _codes = enrol(client)
    client.logout()
    sign_in(client, staff)
    for attempt in range(6):
        client.post(reverse("mfa_authenticate"), {"code": f"{attempt:06d}"})
    response = client.post(reverse("mfa_authenticate"), {"code": code_for(secret)})
    assert "Too many" in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_required_mfa_sends_staff_to_enrol_before_any_admin_page(settings, staff):
    settings.ADMIN_MFA_REQUIRED = True
    client = Client()
    sign_in(client, staff)
    for url in ("/admin/", reverse("admin:members_member_changelist"), reverse("kpi_dashboard")):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("mfa_activate_totp") + "?next="), url
    assert client.post(reverse("admin:logout")).status_code in (200, 302)  # signing out stays possible
    sign_in(client, staff)
    enrol(client)
    assert client.get("/admin/").status_code == 200


def test_required_mfa_leaves_members_and_the_portal_alone(settings):
    settings.ADMIN_MFA_REQUIRED = True
    member = User.objects.create_user(email="member@example.com", password=PASSWORD)
    client = Client()
    client.force_login(member)
    assert client.get(reverse("portal:dashboard")).status_code == 200


def test_not_required_when_switched_off(settings, staff):
    settings.ADMIN_MFA_REQUIRED = False
    client = Client()
    sign_in(client, staff)
    assert client.get("/admin/").status_code == 200


def test_staff_accounts_can_sign_in_through_allauth_without_a_verification_email(staff):
    """createsuperuser and the user admin make staff; their address counts as verified."""
    from allauth.account.models import EmailAddress

    assert EmailAddress.objects.get(user=staff).verified
    staff.email = "chief@example.com"
    staff.save()
    assert EmailAddress.objects.get(user=staff, email="chief@example.com").primary
