from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from loyalty.models import LedgerTransaction, Purchase, Tier, TierMetric, TransactionKind
from loyalty.services.ledger import Audit, points_credit, points_debit
from loyalty.services.program import program_get
from loyalty.services.verify import ledger_verify
from members.models import Member
from members.signals import member_enrolled
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

MEMBER_KEYS = {
    "loyalty_id", "email", "first_name", "last_name", "status", "joined_at", "tier", "points", "next_tier",
    "referral_code",
}


def credit(member, points, key, **kwargs):
    return points_credit(member=member, points=points, audit=Audit(reason="test", idempotency_key=key), **kwargs)


def detail_url(member):
    return f"/api/v1/members/{member.loyalty_id}/"


# -- enrol -------------------------------------------------------------------------------------------


def test_create_returns_the_member_representation(pos_api_client):
    response = pos_api_client.post(
        "/api/v1/members/",
        {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee", "birthday": "1990-04-01",
         "phone": "+31 6 1234", "marketing_consent": True},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == MEMBER_KEYS
    member = Member.objects.get(email="ann@example.com")
    assert body["loyalty_id"] == member.loyalty_id and len(body["loyalty_id"]) == 16
    assert (body["first_name"], body["last_name"], body["status"]) == ("Ann", "Lee", "active")
    assert body["tier"] is None and body["next_tier"] is None
    assert body["points"] == {"available": 0, "pending": 0, "lifetime_earned": 0, "expiring": []}
    assert body["referral_code"] == member.referral_code
    assert parse_datetime(body["joined_at"]).utcoffset() is not None
    assert member.birthday.isoformat() == "1990-04-01" and member.marketing_consent


def test_create_needs_only_an_email(pos_api_client):
    response = pos_api_client.post("/api/v1/members/", {"email": "solo@example.com"}, format="json")
    assert response.status_code == 201
    assert response.json()["first_name"] == ""


def test_create_tells_the_enrolment_signal_which_store(pos_api_client, api_store, django_capture_on_commit_callbacks):
    seen = []

    def receiver(sender, member, store, **kwargs):
        seen.append((member.email, store))

    member_enrolled.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = pos_api_client.post("/api/v1/members/", {"email": "sig@example.com"}, format="json")
    finally:
        member_enrolled.disconnect(receiver)
    assert response.status_code == 201
    assert seen == [("sig@example.com", api_store)]


def test_taken_email_is_409_member_exists_with_the_loyalty_id(pos_api_client, member):
    response = pos_api_client.post("/api/v1/members/", {"email": member.email.upper()}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "member_exists"
    assert body["loyalty_id"] == member.loyalty_id
    assert body["detail"]
    assert Member.objects.count() == 1


def test_referral_code_records_the_referrer(pos_api_client, member):
    response = pos_api_client.post(
        "/api/v1/members/", {"email": "friend@example.com", "referral_code": member.referral_code.lower()},
        format="json",
    )
    assert response.status_code == 201
    assert Member.objects.get(email="friend@example.com").referred_by == member


def test_unknown_referral_code_is_422_and_enrols_nobody(pos_api_client):
    response = pos_api_client.post(
        "/api/v1/members/", {"email": "friend@example.com", "referral_code": "NOSUCHCODE"}, format="json"
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid" and list(body["fields"]) == ["referral_code"]
    assert not Member.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@example.com", "birthday": "1990-13-01"}, "birthday"),
        ({"email": "a@example.com", "birthday": "2999-01-01"}, "birthday"),
        ({"email": "a@example.com", "marketing_consent": "perhaps"}, "marketing_consent"),
        ({"email": "a@example.com", "first_name": "x" * 101}, "first_name"),
        ({"email": "a@example.com", "phone": ["+31"]}, "phone"),
        ({"email": "a@example.com", "language": "klingon"}, "language"),
        ({"email": "a\x00b@example.com"}, "email"),
    ],
)
def test_invalid_enrolment_is_422_with_the_field(pos_api_client, payload, field):
    response = pos_api_client.post("/api/v1/members/", payload, format="json")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid" and field in body["fields"]
    assert not Member.objects.exists()


# -- read --------------------------------------------------------------------------------------------


def test_get_member(pos_api_client, member):
    response = pos_api_client.get(detail_url(member))
    assert response.status_code == 200
    assert set(response.json()) == MEMBER_KEYS
    assert response.json()["email"] == member.email


@pytest.mark.parametrize("loyalty_id", ["0000000000000000", "abc", "12345", "1" * 40, "%00", "-1"])
def test_unknown_or_malformed_loyalty_id_is_404_not_found(pos_api_client, member, loyalty_id):
    response = pos_api_client.get(f"/api/v1/members/{loyalty_id}/")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}


def test_points_show_balances_and_the_next_three_expiry_dates_grouped(pos_api_client, member):
    now = timezone.now()
    days = [30, 10, 10, 20, 40]
    for number, day in enumerate(days):
        credit(member, 10 * (number + 1), f"c{number}", expires_at=now + timedelta(days=day))
    credit(member, 5, "never", expires_at=None)
    credit(member, 7, "pending", available_at=now + timedelta(days=3), expires_at=None)
    points_debit(member=member, points=15, audit=Audit(reason="spend", idempotency_key="d"))
    points = pos_api_client.get(detail_url(member)).json()["points"]
    assert points["available"] == 150 + 5 - 15
    assert points["pending"] == 7
    assert points["lifetime_earned"] == 150 + 5 + 7
    # FIFO took the 15 from the lots expiring in 10 days (20 + 30 -> 35 left).
    assert [entry["points"] for entry in points["expiring"]] == [35, 40, 10]
    dates = [parse_datetime(entry["expires_at"]) for entry in points["expiring"]]
    assert dates == sorted(dates)
    assert abs(dates[0] - (now + timedelta(days=10))) < timedelta(seconds=1)


def test_member_read_is_constant_in_history_length(pos_api_client):
    short, long = MemberFactory(), MemberFactory()
    credit(short, 10, "s")
    for number in range(40):
        credit(long, 10, f"l{number}")
    Tier.objects.create(code="gold", name="Gold", rank=1, threshold=10_000)
    pos_api_client.get(detail_url(short))  # the key's last_used_at is written on first use only
    counts = []
    for member in (short, long):
        with CaptureQueriesContext(connection) as queries:
            assert pos_api_client.get(detail_url(member)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_member_read_with_tiers_does_not_query_the_history(pos_api_client):
    """The same queries for 10 and 1,000 transactions while tiers exist: next_tier reads the stored metric."""
    from loyalty.management.commands.bench_api import history_build
    from loyalty.services.tiers import member_tier_upgrade_check

    Tier.objects.create(code="silver", name="Silver", rank=1, threshold=40)
    Tier.objects.create(code="gold", name="Gold", rank=2, threshold=10**9)
    short, long = MemberFactory(), MemberFactory()
    history_build(member=short, entries=10)  # earn 10 + redeem 10, pairwise
    history_build(member=long, entries=1000)
    assert LedgerTransaction.objects.filter(member=long).count() == 1000
    for member in (short, long):
        member_tier_upgrade_check(member=member)
    pos_api_client.get(detail_url(short))  # the key's last_used_at is written on first use only
    counts, bodies = [], []
    for member in (short, long):
        with CaptureQueriesContext(connection) as queries:
            response = pos_api_client.get(detail_url(member))
        assert response.status_code == 200
        bodies.append(response.json()["next_tier"])
        counts.append(len(queries))
        history = LedgerTransaction._meta.db_table
        assert not [query["sql"] for query in queries.captured_queries if history in query["sql"]]
    assert counts[0] == counts[1]
    assert bodies[0]["code"] == bodies[1]["code"] == "gold"  # both reached Silver by the upgrade check
    assert bodies[0]["remaining"] == 10**9 - 10 * 5
    assert bodies[1]["remaining"] == 10**9 - 10 * 500


def test_member_read_is_three_queries(pos_api_client, member, django_capture_on_commit_callbacks):
    """The API key, the member with its tier and both balances, the expiring lots (program and tiers cached)."""
    silver = Tier.objects.create(code="silver", name="Silver", rank=1, threshold=100)
    Tier.objects.create(code="gold", name="Gold", rank=2, threshold=500)
    with django_capture_on_commit_callbacks(execute=True):
        credit(member, 180, "e1")
        credit(member, 20, "e2", available_at=timezone.now() + timedelta(days=3))
    Member.objects.filter(pk=member.pk).update(tier=silver)
    with django_capture_on_commit_callbacks(execute=True):  # warm: the key's last use, the cached config
        pos_api_client.get(detail_url(member))
    with CaptureQueriesContext(connection) as queries:
        body = pos_api_client.get(detail_url(member)).json()
    assert len(queries) == 3, [query["sql"][:80] for query in queries.captured_queries]
    assert body["tier"] == {"code": "silver", "name": "Silver"}
    assert (body["points"]["available"], body["points"]["pending"], body["points"]["lifetime_earned"]) == (180, 20, 200)
    assert body["next_tier"] == {"code": "gold", "name": "Gold", "remaining": 320, "metric": "points"}


def test_tier_and_next_tier_on_the_points_metric(pos_api_client, member):
    silver = Tier.objects.create(code="silver", name="Silver", rank=1, threshold=100)
    Tier.objects.create(code="gold", name="Gold", rank=2, threshold=500)
    credit(member, 180, "e")
    Member.objects.filter(pk=member.pk).update(tier=silver)
    body = pos_api_client.get(detail_url(member)).json()
    assert body["tier"] == {"code": "silver", "name": "Silver"}
    assert body["next_tier"] == {"code": "gold", "name": "Gold", "remaining": 320, "metric": "points"}


def test_next_tier_on_the_spend_metric_is_a_decimal_string(pos_api_client, member, api_store):
    program = program_get()
    program.tier_metric = TierMetric.SPEND
    program.save()
    Tier.objects.create(code="gold", name="Gold", rank=2, threshold=500)
    Purchase.objects.create(
        store=api_store, member=member, order_id="o1", total=Decimal("120.50"), currency="EUR",
        occurred_at=timezone.now() - timedelta(days=1),
    )
    next_tier = pos_api_client.get(detail_url(member)).json()["next_tier"]
    assert next_tier == {"code": "gold", "name": "Gold", "remaining": "379.50", "metric": "spend"}


def test_no_next_tier_at_the_top(pos_api_client, member):
    gold = Tier.objects.create(code="gold", name="Gold", rank=2, threshold=0)
    Member.objects.filter(pk=member.pk).update(tier=gold)
    assert pos_api_client.get(detail_url(member)).json()["next_tier"] is None


# -- find by email -----------------------------------------------------------------------------------


def test_find_by_email_is_exact_and_case_insensitive(pos_api_client):
    ann = MemberFactory(email="Ann@Example.com")
    MemberFactory(email="annie@example.com")
    response = pos_api_client.get("/api/v1/members/", {"email": "ann@EXAMPLE.com"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert [m["loyalty_id"] for m in body["results"]] == [ann.loyalty_id]
    assert set(body["results"][0]) == MEMBER_KEYS
    assert pos_api_client.get("/api/v1/members/", {"email": "ann"}).json()["results"] == []


def test_find_without_email_is_422(pos_api_client):
    response = pos_api_client.get("/api/v1/members/")
    assert response.status_code == 422
    assert "email" in response.json()["fields"]


def test_find_with_a_nul_byte_is_422_not_a_crash(pos_api_client):
    response = pos_api_client.get("/api/v1/members/", {"email": "a\x00@example.com"})
    assert response.status_code == 422


def test_find_with_a_page_past_the_end_is_404(pos_api_client, member):
    response = pos_api_client.get("/api/v1/members/", {"email": member.email, "page": 9})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# -- history -----------------------------------------------------------------------------------------


def test_transactions_newest_first_with_the_contract_fields(pos_api_client, member):
    now = timezone.now()
    first = points_credit(member=member, points=100,
                          audit=Audit(reason="first", idempotency_key="a", occurred_at=now - timedelta(days=2),
                                      reference="order-1"))
    points_debit(member=member, points=30, audit=Audit(reason="spent", idempotency_key="b"))
    other = MemberFactory()
    credit(other, 5, "other")
    response = pos_api_client.get(f"/api/v1/members/{member.loyalty_id}/transactions/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    results = body["results"]
    assert [r["kind"] for r in results] == [TransactionKind.REDEEM, TransactionKind.EARN]
    assert set(results[0]) == {"id", "kind", "points", "balance_after", "occurred_at", "reason", "reference"}
    assert results[0]["points"] == -30 and results[0]["balance_after"] == 70
    assert results[1] == {
        "id": first.pk, "kind": "earn", "points": 100, "balance_after": 100,
        "occurred_at": results[1]["occurred_at"], "reason": "first", "reference": "order-1",
    }
    assert parse_datetime(results[1]["occurred_at"]) == first.occurred_at


def test_transactions_cursor_pages_cover_the_history_once(pos_api_client, member):
    for number in range(5):
        credit(member, number + 1, f"k{number}")
    url = f"/api/v1/members/{member.loyalty_id}/transactions/?page_size=2"
    seen = []
    while url:
        body = pos_api_client.get(url).json()
        assert len(body["results"]) <= 2
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    expected = list(
        LedgerTransaction.objects.filter(member=member).order_by("-occurred_at", "-id").values_list("id", flat=True)
    )
    assert seen == expected and len(seen) == 5


@pytest.mark.parametrize("cursor", ["garbage", "bz1hYmM=", "cD1ub3QtYS1kYXRl"])
def test_transactions_bad_cursor_is_a_4xx(pos_api_client, member, cursor):
    credit(member, 1, "k")
    response = pos_api_client.get(f"/api/v1/members/{member.loyalty_id}/transactions/", {"cursor": cursor})
    assert response.status_code in (404, 422)
    assert set(response.json()) >= {"code", "detail"}


def test_transactions_of_unknown_member_is_404(pos_api_client):
    response = pos_api_client.get("/api/v1/members/4000000000000002/transactions/")
    assert response.status_code == 404


# -- adjustments -------------------------------------------------------------------------------------


def adjust(client, member, payload, **headers):
    return client.post(f"/api/v1/members/{member.loyalty_id}/adjustments/", payload, format="json", **headers)


def test_adjustment_credit_returns_the_transaction(admin_api_client, member, api_store):
    response = adjust(admin_api_client, member, {"points": 250, "reason": "Goodwill"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "kind", "points", "balance_after", "occurred_at", "reason", "reference"}
    assert (body["kind"], body["points"], body["balance_after"], body["reason"]) == ("adjust", 250, 250, "Goodwill")
    transaction = LedgerTransaction.objects.get(pk=body["id"])
    assert transaction.store == api_store and transaction.member == member
    assert ledger_verify() == []


def test_adjustment_debit(admin_api_client, member):
    credit(member, 100, "c")
    response = adjust(admin_api_client, member, {"points": -40, "reason": "Correction"})
    assert response.status_code == 201
    assert (response.json()["points"], response.json()["balance_after"]) == (-40, 60)


def test_adjustment_overdraw_is_422_insufficient_points(admin_api_client, member):
    credit(member, 10, "c")
    response = adjust(admin_api_client, member, {"points": -11, "reason": "Too much"})
    assert response.status_code == 422
    assert response.json()["code"] == "insufficient_points"
    assert LedgerTransaction.objects.filter(member=member).count() == 1


def test_adjustment_needs_the_admin_scope(pos_api_client, member):
    response = adjust(pos_api_client, member, {"points": 5, "reason": "x"})
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert not LedgerTransaction.objects.exists()


def test_adjustment_of_unknown_member_is_404(admin_api_client):
    response = admin_api_client.post("/api/v1/members/4000000000000002/adjustments/",
                                     {"points": 5, "reason": "x"}, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"points": 0, "reason": "x"}, "points"),
        ({"points": 1.5, "reason": "x"}, "points"),
        ({"points": "ten", "reason": "x"}, "points"),
        ({"points": True, "reason": "x"}, "points"),
        ({"points": 10**30, "reason": "x"}, "points"),
        ({"points": -(10**30), "reason": "x"}, "points"),
        ({"points": 5}, "reason"),
        ({"points": 5, "reason": "   "}, "reason"),
        ({"points": 5, "reason": "x" * 256}, "reason"),
        ({"points": 5, "reason": {"a": 1}}, "reason"),
    ],
)
def test_invalid_adjustment_is_422_and_changes_nothing(admin_api_client, member, payload, field):
    response = adjust(admin_api_client, member, payload)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid" and field in response.json()["fields"]
    assert not LedgerTransaction.objects.exists()


# -- balance (the till's quick check) ----------------------------------------------------------------


def test_balance_shows_available_and_pending(pos_api_client, member):
    credit(member, 120, "b-available")
    credit(member, 30, "b-pending", available_at=timezone.now() + timedelta(days=5))
    response = pos_api_client.get(f"/api/v1/members/{member.loyalty_id}/balance/")
    assert response.status_code == 200
    assert response.json() == {"loyalty_id": member.loyalty_id, "status": "active", "available": 120, "pending": 30}


@pytest.mark.parametrize("loyalty_id", ["9" * 16, "not-a-card", "1234"])
def test_balance_of_unknown_member_is_404(pos_api_client, member, loyalty_id):
    response = pos_api_client.get(f"/api/v1/members/{loyalty_id}/balance/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_balance_needs_a_key(client, member):
    assert client.get(f"/api/v1/members/{member.loyalty_id}/balance/").status_code == 401


def test_balance_is_two_queries_whatever_the_history(pos_api_client):
    short, long = MemberFactory(), MemberFactory()
    credit(short, 10, "bs")
    for number in range(40):
        credit(long, 10, f"bl{number}")
    pos_api_client.get(f"/api/v1/members/{short.loyalty_id}/balance/")  # last_used_at is written on first use
    for member, expected in ((short, 10), (long, 400)):
        with CaptureQueriesContext(connection) as queries:
            response = pos_api_client.get(f"/api/v1/members/{member.loyalty_id}/balance/")
        assert response.json()["available"] == expected
        assert len(queries) == 2  # the API key, then the member's two account rows
