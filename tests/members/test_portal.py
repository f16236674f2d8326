"""Member portal: dashboard, history (filters, CSV), card, profile, each showing only the signed-in member's data."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
import qrcode
import qrcode.image.svg
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from loyalty.models import TierHistory
from loyalty.services.ledger import Audit, points_credit, points_debit, points_release
from loyalty.services.program import program_get
from loyalty.services.tiers import tier_create
from members.models import Member
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

PORTAL_URLS = ["portal:dashboard", "portal:history", "portal:history_csv", "portal:card", "portal:profile",
               "portal:qr", "portal:data_download", "portal:close_account"]


def login(**kwargs):
    user = UserFactory(**kwargs)
    user.save()  # the factory sets the password without saving it; a session needs the stored hash
    return user


def grouped(loyalty_id):
    return " ".join(loyalty_id[i : i + 4] for i in range(0, 16, 4))


@pytest.fixture
def me():
    user = login(email="me@example.com")
    return MemberFactory(email=user.email, user=user, first_name="Mia")


@pytest.fixture
def stranger():
    user = login(email="stranger@example.com")
    member = MemberFactory(email=user.email, user=user, first_name="Sam")
    points_credit(member=member, points=777, audit=Audit(reason="Stranger's secret order", idempotency_key="s-1"))
    return member


@pytest.fixture
def my_client(client, me):
    client.force_login(me.user)
    return client


@pytest.fixture
def tiers(db):
    bronze = tier_create(code="bronze", name="Bronze", rank=1, threshold=0, benefits="Points on every purchase.",
                         colour="#a97142")
    silver = tier_create(code="silver", name="Silver", rank=2, threshold=400, benefits="25% more points.")
    gold = tier_create(code="gold", name="Gold", rank=3, threshold=1200, benefits="Free shipping.")
    return bronze, silver, gold


PROFILE = {"first_name": "Mia", "last_name": "Jansen", "nickname": "", "birthday": "", "phone": "",
           "language": "en", "marketing_consent": "", "leaderboard_opt_in": "", "email_tier_upgrade": "on",
           "email_reward_redeemed": "on", "email_expiry_reminder": "on"}


@pytest.mark.parametrize("url_name", PORTAL_URLS)
def test_anonymous_visitors_are_sent_to_sign_in(client, url_name):
    response = client.get(reverse(url_name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


# -- dashboard -------------------------------------------------------------------------------------


def test_dashboard_shows_my_points_their_value_and_not_anyone_elses(my_client, me, stranger):
    points_credit(member=me, points=420, audit=Audit(reason="Order 42", idempotency_key="m-1"))
    points_credit(member=me, points=6, audit=Audit(reason="Review bonus", idempotency_key="m-2"), kind="bonus")
    points_credit(member=me, points=5, audit=Audit(reason="Later", idempotency_key="m-3"),
                  available_at=timezone.now() + datetime.timedelta(days=14))
    response = my_client.get(reverse("portal:dashboard"))
    assert response.status_code == 200
    assert response.context["points"] == {"available": 426, "pending": 5, "lifetime_earned": 431}
    assert response.context["points_value"] == Decimal("4.26")
    content = response.content.decode()
    assert "Worth €4.26" in content
    assert "Order 42" in content and "Review bonus" in content
    assert grouped(me.loyalty_id) in content
    assert grouped(stranger.loyalty_id) not in content
    assert "Stranger's secret order" not in content


def test_points_value_follows_the_programme_and_the_language(my_client, me):
    program = program_get()
    program.point_value, program.currency = Decimal("0.05"), "EUR"
    program.save()
    points_credit(member=me, points=1234, audit=Audit(reason="Order", idempotency_key="v-1"))
    english = my_client.get(reverse("portal:dashboard")).content.decode()
    assert "Worth €61.70" in english and "1,234" in english
    my_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "nl"
    dutch = my_client.get(reverse("portal:dashboard")).content.decode()
    assert "€\u00a061,70" in dutch and "1.234" in dutch


def test_expiring_lists_only_spendable_points_within_the_warning_window(my_client, me):
    program = program_get()
    program.expiry_warning_days = 30
    program.save()
    now = timezone.now()
    points_credit(member=me, points=40, audit=Audit(reason="Soon", idempotency_key="e-1"),
                  expires_at=now + datetime.timedelta(days=10))
    points_credit(member=me, points=70, audit=Audit(reason="Next year", idempotency_key="e-2"),
                  expires_at=now + datetime.timedelta(days=365))
    points_credit(member=me, points=9, audit=Audit(reason="Pending", idempotency_key="e-3"),
                  available_at=now + datetime.timedelta(days=5), expires_at=now + datetime.timedelta(days=20))
    expiring = my_client.get(reverse("portal:dashboard")).context["expiring"]
    assert expiring == [{"points": 40, "valid_until": timezone.localdate(now + datetime.timedelta(days=10))}]


def test_new_member_is_in_the_entry_tier_and_sees_progress_to_the_next(my_client, tiers):
    user = login(email="new@example.com")
    member = MemberFactory(email=user.email, user=user)
    assert member.tier == tiers[0]  # placed in Bronze at once, no job needed
    assert TierHistory.objects.filter(member=member, to_tier=tiers[0], from_tier=None).exists()
    points_credit(member=member, points=150, audit=Audit(reason="Order", idempotency_key="t-1"))
    client = Client()
    client.force_login(user)
    response = client.get(reverse("portal:dashboard"))
    status = response.context["tier_status"]
    assert (status["tier"], status["next_tier"], status["remaining"]) == (tiers[0], tiers[1], 250)
    assert (status["value"], status["span"], status["percent"]) == (150, 400, 37)
    content = response.content.decode()
    assert "250 more points to reach Silver" in content
    assert '<progress id="tier-progress" max="400" value="150"' in content
    assert 'aria-labelledby="tier-progress-label"' in content
    assert "Points on every purchase." in content and "25% more points." in content  # benefits, now and next


def test_top_tier_has_no_progress_bar(my_client, me, tiers):
    me.tier = tiers[2]
    me.save(update_fields=["tier"])
    content = my_client.get(reverse("portal:dashboard")).content.decode()
    assert "highest tier" in content and "<progress" not in content


def test_chart_counts_points_earned_and_spent_per_month(my_client, me):
    now = timezone.now()
    last_month = timezone.localtime(now).replace(day=1) - datetime.timedelta(days=1)
    points_credit(member=me, points=300, audit=Audit(reason="Old", idempotency_key="c-1", occurred_at=last_month),
                  now=last_month)
    points_credit(member=me, points=100, audit=Audit(reason="New", idempotency_key="c-2"), kind="bonus")
    points_debit(member=me, points=120, audit=Audit(reason="Coffee", idempotency_key="c-3"))
    points_credit(member=me, points=999, audit=Audit(reason="Two years ago", idempotency_key="c-4",
                                                     occurred_at=now - datetime.timedelta(days=800)))
    response = my_client.get(reverse("portal:dashboard"))
    months = response.context["chart"]["months"]
    assert len(months) == 12
    assert (months[-1]["earned"], months[-1]["spent"]) == (100, 120)
    assert (months[-2]["earned"], months[-2]["spent"]) == (300, 0)
    assert sum(month["earned"] for month in months) == 400  # the old credit is outside the twelve months
    content = response.content.decode()
    assert 'role="img"' in content and "<table" in content  # the chart, and the same figures as a table


def test_dashboard_of_a_login_without_a_member_explains_what_is_missing(client):
    client.force_login(login())
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 200
    assert "portal/no_member.html" in [t.name for t in response.templates]
    assert client.get(reverse("portal:qr")).status_code == 404
    for name in ("portal:history", "portal:card", "portal:profile", "portal:close_account"):
        assert client.get(reverse(name)).status_code == 302


# -- history ---------------------------------------------------------------------------------------


def test_history_is_paginated_and_only_mine(my_client, me, stranger):
    for n in range(30):
        points_credit(member=me, points=10, audit=Audit(reason=f"Order {n}", idempotency_key=f"h-{n}"))
    points_debit(member=me, points=15, audit=Audit(reason="Coffee voucher", idempotency_key="h-d"))
    first = my_client.get(reverse("portal:history"))
    assert first.status_code == 200
    page = first.context["page"]
    assert page.paginator.count == 31 and len(page.object_list) == 25
    assert page.object_list[0].reason == "Coffee voucher"
    assert all(txn.member_id == me.pk for txn in page.object_list)
    assert "\u221215" in first.content.decode()
    second = my_client.get(reverse("portal:history"), {"page": 2})
    assert len(second.context["page"].object_list) == 6
    assert my_client.get(reverse("portal:history"), {"page": "999"}).status_code == 200
    assert my_client.get(reverse("portal:history"), {"page": "x"}).status_code == 200
    assert "Stranger's secret order" not in (first.content + second.content).decode()


def test_history_filters_by_kind_and_date_range(my_client, me):
    day = timezone.make_aware(datetime.datetime(2026, 3, 10, 12))
    for offset, kind in [(0, "earn"), (1, "bonus"), (5, "earn"), (9, "earn")]:
        when = day + datetime.timedelta(days=offset)
        points_credit(member=me, points=10 + offset, kind=kind, now=when,
                      audit=Audit(reason=f"Day {offset}", idempotency_key=f"f-{offset}", occurred_at=when))
    response = my_client.get(reverse("portal:history"),
                             {"kind": "earn", "date_from": "2026-03-10", "date_to": "2026-03-15"})
    assert [txn.reason for txn in response.context["page"].object_list] == ["Day 5", "Day 0"]
    assert response.context["query"] == "kind=earn&date_from=2026-03-10&date_to=2026-03-15"
    assert 'href="/history/points-history.csv?kind=earn&amp;date_from=2026-03-10&amp;date_to=2026-03-15"' in (
        response.content.decode()
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [({"date_from": "2026-03-10", "date_to": "2026-03-01"}, "date_to"), ({"kind": "stolen"}, "kind"),
     ({"date_from": "yesterday"}, "date_from"), ({"date_to": "0001-01-01"}, "date_to")],
)
def test_history_filters_refuse_bad_input_and_show_everything(my_client, me, params, field):
    points_credit(member=me, points=10, audit=Audit(reason="Kept", idempotency_key="b-1"))
    response = my_client.get(reverse("portal:history"), params)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert response.context["page"].paginator.count == 1


def test_history_explains_a_purchase_and_its_release_in_one_sentence(my_client, me):
    earned = timezone.make_aware(datetime.datetime(2026, 1, 10, 12, 0))
    points_credit(member=me, points=95, audit=Audit(reason="Purchase W-001308", reference="W-001308",
                                                    idempotency_key="r-1", occurred_at=earned),
                  available_at=earned + datetime.timedelta(days=14), now=earned)
    pending = my_client.get(reverse("portal:history")).content.decode()
    assert "Pending until 24 January 2026, then you can spend them." in pending
    points_release(member=me, as_of=earned + datetime.timedelta(days=15))
    history = my_client.get(reverse("portal:history")).content.decode()
    assert "95 pending points are now available" in history
    assert "From purchase W-001308, whose return period has passed." in history
    assert "Pending points released" not in history  # one sentence, not the reason plus a sentence
    assert "Pending at first; available since 24 January 2026." in history


def test_history_csv_follows_the_filters_and_escapes_formulas(my_client, me, stranger):
    points_credit(member=me, points=10, audit=Audit(reason="=HYPERLINK(\"x\")", idempotency_key="x-1"))
    points_debit(member=me, points=4, audit=Audit(reason="Coffee", idempotency_key="x-2"))
    response = my_client.get(reverse("portal:history_csv"), {"kind": "redeem"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Cache-Control"] == "no-store"
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == ["Date", "Kind", "Description", "Points", "Reference"]
    assert [row[1:4] for row in rows[1:]] == [["Redeemed", "Coffee", "-4"]]
    everything = b"".join(my_client.get(reverse("portal:history_csv")).streaming_content).decode("utf-8-sig")
    assert "'=HYPERLINK" in everything and "Stranger" not in everything


# -- card ------------------------------------------------------------------------------------------


def test_card_page_shows_my_card_and_is_printable(my_client, me, stranger):
    content = my_client.get(reverse("portal:card")).content.decode()
    assert grouped(me.loyalty_id) in content and grouped(stranger.loyalty_id) not in content
    assert reverse("portal:qr") in content and "data-print" in content


def test_qr_code_is_the_members_own_loyalty_id(my_client, me, stranger):
    response = my_client.get(reverse("portal:qr"))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert "private" in response["Cache-Control"]

    def svg(value):
        image = qrcode.make(value, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
        return image.to_string(encoding="unicode")

    assert response.content.decode() == svg(me.loyalty_id)
    assert response.content.decode() != svg(stranger.loyalty_id)


def test_portal_ignores_attempts_to_name_another_member(my_client, me, stranger):
    for name in ("portal:dashboard", "portal:history", "portal:history_csv", "portal:card", "portal:data_download"):
        url = reverse(name) + f"?member={stranger.pk}&loyalty_id={stranger.loyalty_id}"
        response = my_client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert b"Stranger's secret order" not in body and grouped(stranger.loyalty_id).encode() not in body


# -- profile ---------------------------------------------------------------------------------------


def test_profile_saves_and_records_consent_with_its_time(my_client, me):
    assert my_client.get(reverse("portal:profile")).status_code == 200
    response = my_client.post(
        reverse("portal:profile"),
        {**PROFILE, "last_name": "de Vries", "nickname": "  mia_v ", "birthday": "1990-05-17",
         "phone": "+31 6 1234 5678", "language": "nl", "marketing_consent": "on", "leaderboard_opt_in": "on"},
    )
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "nl"
    me.refresh_from_db()
    assert (me.last_name, me.nickname, me.birthday, me.phone, me.language) == (
        "de Vries", "mia_v", datetime.date(1990, 5, 17), "+31 6 1234 5678", "nl",
    )
    assert me.marketing_consent and me.leaderboard_opt_in and me.marketing_consent_at is not None
    page = my_client.get(reverse("portal:profile")).content.decode()
    assert "U heeft ingestemd op" in page  # the consent's time, in the member's language
    my_client.post(reverse("portal:profile"), {**PROFILE, "nickname": "mia_v"})
    me.refresh_from_db()
    assert not me.marketing_consent and me.marketing_consent_at is None


def test_profile_switches_emails_off(my_client, me):
    my_client.post(reverse("portal:profile"), {**PROFILE, "email_tier_upgrade": "", "email_expiry_reminder": ""})
    me.refresh_from_db()
    assert (me.email_tier_upgrade, me.email_reward_redeemed, me.email_expiry_reminder) == (False, True, False)


def test_birthday_can_be_set_once_only(my_client, me):
    my_client.post(reverse("portal:profile"), {**PROFILE, "birthday": "1990-05-17"})
    my_client.post(reverse("portal:profile"), {**PROFILE, "birthday": "1991-01-01"})
    me.refresh_from_db()
    assert me.birthday == datetime.date(1990, 5, 17)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"birthday": "2999-01-01"}, "birthday"),
        ({"birthday": "1800-01-01"}, "birthday"),
        ({"birthday": "17/05/1990x"}, "birthday"),
        ({"phone": "call me maybe"}, "phone"),
        ({"leaderboard_opt_in": "on", "nickname": ""}, "nickname"),
        ({"language": "xx"}, "language"),
        ({"first_name": "x" * 101}, "first_name"),
    ],
)
def test_profile_rejects_bad_input_and_changes_nothing(my_client, me, changes, field):
    response = my_client.post(reverse("portal:profile"), {**PROFILE, "last_name": "Changed", **changes})
    assert response.status_code == 200
    assert field in response.context["form"].errors
    me.refresh_from_db()
    assert me.last_name != "Changed"


def test_profile_form_needs_a_csrf_token(me):
    client = Client(enforce_csrf_checks=True)
    client.force_login(me.user)
    response = client.post(reverse("portal:profile"), {**PROFILE, "last_name": "Forged"})
    assert response.status_code == 403
    assert Member.objects.get(pk=me.pk).last_name != "Forged"
    page = client.get(reverse("portal:profile")).content.decode()
    assert 'name="csrfmiddlewaretoken"' in page


def test_the_language_switcher_saves_the_members_language(my_client, me):
    response = my_client.post(reverse("set_language"), {"language": "nl", "next": "/history/"})
    assert response.status_code == 302 and response["Location"] == "/history/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "nl"
    me.refresh_from_db()
    assert me.language == "nl"
    my_client.post(reverse("set_language"), {"language": "xx", "next": "/"})
    me.refresh_from_db()
    assert me.language == "nl"  # an unknown language changes nothing


def test_the_language_switcher_works_for_visitors_too(client):
    response = client.post(reverse("set_language"), {"language": "nl", "next": "/accounts/login/"})
    assert response.status_code == 302 and response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "nl"


def test_signing_in_switches_to_the_members_saved_language(client):
    user = login(email="nl@example.com")
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    MemberFactory(email=user.email, user=user, language="nl")
    response = client.post(reverse("account_login"), {"login": user.email, "password": "correct horse battery"})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "nl"


# -- public pages ----------------------------------------------------------------------------------


def test_terms_page_shows_the_programmes_terms(client):
    program = program_get()
    program.terms = "Rule one.\n\nRule <two>."
    program.save()
    content = client.get(reverse("terms")).content.decode()
    assert "<p>Rule one.</p>" in content and "Rule &lt;two&gt;." in content


def test_branding_stylesheet_carries_the_programmes_and_tiers_colours(client, tiers):
    program = program_get()
    program.brand_colour, program.accent_colour = "#f5c542", "#0b6b63"
    program.save()
    response = client.get(reverse("branding_css"))
    css = response.content.decode()
    assert response["Content-Type"].startswith("text/css")
    assert "--brand: #f5c542;" in css and "--brand-ink: #000000;" in css  # dark text on a light brand colour
    assert "--brand-accent: #0b6b63;" in css and "--brand-accent-ink: #ffffff;" in css
    assert ".tier-bronze { --tier: #a97142;" in css
    assert "max-age=300" in response["Cache-Control"]
    page = client.get(reverse("account_login")).content.decode()
    versioned = page.split('href="/branding.css?v=')[1].split('"')[0]
    assert "immutable" in client.get(reverse("branding_css"), {"v": versioned})["Cache-Control"]
    program.brand_colour = "#000000"
    program.save()
    assert versioned not in client.get(reverse("account_login")).content.decode()  # a new colour, a new URL


def test_pages_carry_the_programme_name_and_favicon(client):
    program = program_get()
    program.name = "Koffie Club"
    program.save()
    page = client.get(reverse("account_login")).content.decode()
    assert "<span>Koffie Club</span>" in page and 'rel="icon"' in page
    assert client.get("/favicon.ico")["Location"].endswith("favicon.svg")


def test_sign_in_page_uses_the_portal_layout(client):
    response = client.get(reverse("account_login"))
    assert response.status_code == 200
    assert "base.html" in [t.name for t in response.templates]
    assert b"css/portal.css" in response.content
