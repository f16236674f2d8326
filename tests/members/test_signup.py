"""Sign-up through allauth's real views: a login gets a member; a till-enrolled member is claimed only once
the same email address has been verified; failed logins are rate limited."""

import re

import pytest
from allauth.account.models import EmailAddress
from allauth.core import context
from django.core import mail
from django.core.cache import cache

from loyalty.models import AccountKind
from members.loyalty_ids import is_valid_loyalty_id
from members.models import Member, User
from members.services import member_create

pytestmark = pytest.mark.django_db

PASSWORD = "Tulips-in-Leiden-2025"
CONFIRM_LINK = re.compile(r"https?://testserver(/accounts/confirm-email/[^/\s]+/)")


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def sign_up(client, email: str, password: str = PASSWORD, **fields):
    return client.post("/accounts/signup/", {"email": email, "password1": password, "password2": password,
                                             "first_name": "Jo", "last_name": "Visser", "accept_terms": "on",
                                             **fields})


def confirmation_path(email: str) -> str:
    messages = [m for m in mail.outbox if email.lower() in [to.lower() for to in m.to]]
    assert messages, f"no confirmation email sent to {email}"
    match = CONFIRM_LINK.search(messages[-1].body)
    assert match, messages[-1].body
    return match.group(1)


def account_kinds(member) -> list[str]:
    return sorted(member.ledger_accounts.values_list("kind", flat=True))


def test_sign_up_creates_user_and_member_with_ledger_accounts(client):
    response = sign_up(client, "new@example.com")
    assert response.status_code == 302
    user = User.objects.get(email="new@example.com")
    assert user.check_password(PASSWORD)
    member = Member.objects.get(user=user)
    assert member.email == "new@example.com"
    assert is_valid_loyalty_id(member.loyalty_id)
    assert account_kinds(member) == sorted([AccountKind.AVAILABLE, AccountKind.PENDING])
    assert not EmailAddress.objects.get(user=user).verified
    assert confirmation_path("new@example.com")


def test_bad_sign_up_creates_nothing(client):
    response = client.post(
        "/accounts/signup/", {"email": "bad@example.com", "password1": PASSWORD, "password2": PASSWORD + "x"}
    )
    assert response.status_code == 200
    assert not User.objects.exists() and not Member.objects.exists()


def test_till_member_is_claimed_only_after_email_is_verified(client):
    till = member_create(email="till@example.com", first_name="Tilly")
    assert till.user is None

    assert sign_up(client, "Till@Example.com").status_code == 302
    user = User.objects.get(email__iexact="till@example.com")
    till.refresh_from_db()
    assert till.user is None, "claimed before the email address was verified"
    assert Member.objects.count() == 1, "a second member was created for a till-enrolled email"

    # Logging in is not enough either: verification is mandatory and the member stays unclaimed.
    client.post("/accounts/login/", {"login": "till@example.com", "password": PASSWORD})
    till.refresh_from_db()
    assert till.user is None

    path = confirmation_path("till@example.com")
    assert client.get(path).status_code == 200  # the confirmation page alone confirms nothing
    till.refresh_from_db()
    assert till.user is None

    response = client.post(path)
    assert response.status_code == 302
    assert EmailAddress.objects.get(user=user).verified
    till.refresh_from_db()
    assert till.user == user
    assert till.first_name == "Tilly"  # the existing member, not a new one
    assert Member.objects.count() == 1
    assert account_kinds(till) == sorted([AccountKind.AVAILABLE, AccountKind.PENDING])

    dashboard = client.get("/")  # logged in on confirmation
    assert dashboard.status_code == 200
    assert till.loyalty_id in dashboard.content.decode().replace(" ", "")


def test_wrong_confirmation_key_claims_nothing(client):
    till = member_create(email="till@example.com")
    sign_up(client, "till@example.com")
    response = client.post("/accounts/confirm-email/not-a-real-key/")
    assert response.status_code in (200, 404)
    till.refresh_from_db()
    assert till.user is None


def test_confirming_another_address_does_not_claim(client, rf):
    """A login verifying an address that is not its own login email claims no member."""
    till = member_create(email="shared@example.com")
    sign_up(client, "owner@example.com")
    owner = User.objects.get(email="owner@example.com")
    other = EmailAddress.objects.create(user=owner, email="shared@example.com", verified=False, primary=False)
    request = rf.get("/")
    with context.request_context(request):
        other.send_confirmation(request=request, signup=False)
    client.post(confirmation_path("shared@example.com"))
    assert EmailAddress.objects.get(email="shared@example.com").verified
    till.refresh_from_db()
    assert till.user is None
    assert Member.objects.get(user=owner).email == "owner@example.com"


def test_failed_logins_are_rate_limited(client):
    sign_up(client, "victim@example.com")
    user = User.objects.get(email="victim@example.com")
    EmailAddress.objects.filter(user=user).update(verified=True)
    cache.clear()

    statuses = []
    for attempt in range(40):
        response = client.post("/accounts/login/", {"login": f"guess{attempt}@example.com", "password": "wrong"})
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429, statuses
    assert 200 in statuses  # the first attempts are ordinary form errors
    assert len(statuses) <= 31  # ACCOUNT_RATE_LIMITS["login"] = 30/m/ip

    # Once the limit is hit even the right password is refused from this address.
    response = client.post("/accounts/login/", {"login": "victim@example.com", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_failed_logins_for_one_email_lock_that_email(client):
    sign_up(client, "victim@example.com")
    user = User.objects.get(email="victim@example.com")
    EmailAddress.objects.filter(user=user).update(verified=True)
    cache.clear()
    for _ in range(5):  # ACCOUNT_RATE_LIMITS["login_failed"] = ... 5/5m/key
        client.post("/accounts/login/", {"login": "victim@example.com", "password": "wrong"})
    response = client.post("/accounts/login/", {"login": "victim@example.com", "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert "Too many failed login attempts" in response.content.decode()


# -- the sign-up form: names, terms, marketing consent ----------------------------------------------


def test_sign_up_asks_for_names_terms_and_marketing_consent(client):
    page = client.get("/accounts/signup/").content.decode()
    for name in ("first_name", "last_name", "email", "password1", "password2", "accept_terms", "marketing_consent"):
        assert f'name="{name}"' in page
    assert page.index('name="first_name"') < page.index('name="email"') < page.index('name="accept_terms"')
    assert 'href="/terms/"' in page


def test_sign_up_records_names_consent_language_and_its_time(client):
    client.cookies["django_language"] = "nl"
    response = sign_up(client, "new@example.com", first_name=" Noor ", last_name="de Boer", marketing_consent="on")
    assert response.status_code == 302
    member = Member.objects.get(email="new@example.com")
    assert (member.first_name, member.last_name, member.language) == ("Noor", "de Boer", "nl")
    assert member.terms_accepted_at is not None
    assert member.marketing_consent and member.marketing_consent_at is not None


def test_sign_up_without_marketing_consent_records_none(client):
    sign_up(client, "quiet@example.com")
    member = Member.objects.get(email="quiet@example.com")
    assert not member.marketing_consent and member.marketing_consent_at is None


@pytest.mark.parametrize("missing", ["first_name", "last_name", "accept_terms"])
def test_sign_up_refuses_without_names_or_terms(client, missing):
    response = sign_up(client, "no@example.com", **{missing: ""})
    assert response.status_code == 200
    assert missing in response.context["form"].errors
    assert not User.objects.exists() and not Member.objects.exists()


def test_a_till_member_gets_the_sign_up_choices_only_after_verification(client):
    till = member_create(email="till@example.com")
    sign_up(client, "till@example.com", first_name="Tilly", last_name="Teller", marketing_consent="on")
    till.refresh_from_db()
    assert till.user is None and not till.marketing_consent and till.terms_accepted_at is None
    client.post(confirmation_path("till@example.com"))
    till.refresh_from_db()
    assert till.user is not None and (till.first_name, till.last_name) == ("Tilly", "Teller")
    assert till.marketing_consent and till.terms_accepted_at is not None


# -- the emails of signing up --------------------------------------------------------------------------


def test_confirmation_email_is_branded_and_comes_from_the_programme(client, settings):
    from loyalty.services.program import program_get

    settings.DEFAULT_FROM_EMAIL = "hello@shop.example"
    program = program_get()
    program.name = "Koffie Club"
    program.save()
    sign_up(client, "new@example.com")
    message = mail.outbox[-1]
    assert message.from_email == "Koffie Club <hello@shop.example>"
    assert message.subject == "Confirm your email address"  # no "[host]" prefix
    assert "Confirm your email address to finish joining Koffie Club" in message.body
    html = message.alternatives[0][0]
    assert "Koffie Club" in html and "/accounts/confirm-email/" in html


def test_welcome_email_with_the_card_goes_out_once_the_email_is_confirmed(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client, "new@example.com")
    assert [m.subject for m in mail.outbox] == ["Confirm your email address"]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(confirmation_path("new@example.com"))
    welcome = [m for m in mail.outbox if "Welcome" in m.subject]
    assert len(welcome) == 1
    member = Member.objects.get(email="new@example.com")
    grouped = " ".join(member.loyalty_id[i : i + 4] for i in range(0, 16, 4))
    assert grouped in welcome[0].body
    html, _mime = welcome[0].alternatives[0]
    assert "cid:loyalty-card-qr" in html
    assert any(getattr(part, "get", lambda *_: None)("Content-ID") == "<loyalty-card-qr>"
               for part in welcome[0].attachments)
    member.refresh_from_db()
    assert member.welcome_sent_at is not None
    with django_capture_on_commit_callbacks(execute=True):  # confirming again sends no second welcome
        from members.emails import welcome_email_queue

        welcome_email_queue(member=Member.objects.get(pk=member.pk))
    assert len([m for m in mail.outbox if "Welcome" in m.subject]) == 1
