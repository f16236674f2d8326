"""The KPI dashboard: every figure equals the value computed by hand on a small fixture; date range,
CSV downloads, the cache, permissions, and a page without inline code."""

import csv
import io
import json
import re
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from loyalty.admin.kpi import default_range
from loyalty.kpi import KpiRange, kpis_get
from loyalty.models import AccountKind, Store, Tier, TransactionKind
from loyalty.services.ledger import Audit, points_credit, points_expire_member
from loyalty.services.purchases import purchase_record, refund_record
from members.models import Member, User
from members.services import member_create
from rewards.services import reward_redeem
from tests.rewards.factories import RewardFactory

pytestmark = pytest.mark.django_db

Q1 = KpiRange(start=date(2024, 1, 1), end=date(2024, 3, 31))
URL = "/admin/kpi/"


def at(day: str, hour: int = 12) -> datetime:
    return timezone.make_aware(datetime.fromisoformat(f"{day}T{hour:02d}:00"))


@pytest.fixture
def shop(db):
    """Five members and a quarter of activity (see the hand computation in each test)."""
    store = Store.objects.create(slug="till", name="Till")
    people = {
        name: member_create(email=f"{name}@example.com", joined_at=at(day))
        for name, day in (("a", "2023-12-15"), ("b", "2024-01-10"), ("c", "2024-02-20"), ("d", "2024-03-05"),
                          ("e", "2024-04-02"))
    }

    def buy(name, order, day, total):
        return purchase_record(store=store, member=people[name], order_id=order, total=Decimal(total),
                               currency="EUR", occurred_at=at(day), now=at(day))[0]

    buy("a", "A1", "2024-01-05", "100.00")  # +100 January
    buy("b", "B1", "2024-01-12", "40.00")  # +40 January
    points_credit(member=people["b"], points=25, kind=TransactionKind.BONUS, expires_at=at("2024-03-15"),
                  audit=Audit(reason="Bonus", idempotency_key="bonus-b", occurred_at=at("2024-01-20")))  # +25 Jan
    buy("a", "A2", "2024-02-10", "50.00")  # +50 February
    mug = RewardFactory(name="Mug", cost_points=80)
    reward_redeem(member=people["a"], reward=mug, now=at("2024-02-15"))  # 80 redeemed February
    c1 = buy("c", "C1", "2024-03-01", "60.00")  # +60 March
    points_credit(member=people["a"], points=30, kind=TransactionKind.ADJUST, source=AccountKind.ADJUSTMENTS,
                  audit=Audit(reason="Goodwill", idempotency_key="adj-a", occurred_at=at("2024-03-01")))  # +30 Mar
    reward_redeem(member=people["a"], reward=mug, now=at("2024-03-10"))  # 80 redeemed March
    points_expire_member(member=people["b"], as_of=at("2024-03-20"))  # 25 expired March
    refund_record(store=store, purchase=c1, refund_id="R1", amount=Decimal("10.00"))  # 10 points back, today
    buy("e", "E1", "2024-04-03", "20.00")  # after the range
    gold = Tier.objects.create(code="gold", name="Gold", rank=1, threshold=100_000)
    Member.objects.filter(pk=people["a"].pk).update(tier=gold)
    return people


def test_figures_equal_the_hand_computation(shop):
    data = kpis_get(period=Q1)
    assert data["members_total"] == 4  # a, b, c, d joined before 1 April
    assert data["members_new"] == 3  # b, c, d
    assert data["members_by_month"] == [(date(2024, 1, 1), 1), (date(2024, 2, 1), 1), (date(2024, 3, 1), 1)]
    assert data["activation_rate"] == Decimal("66.7")  # b and c bought; d did not
    assert data["members_active"] == 3  # a, b and c bought between 2 January and 31 March
    assert data["points_by_month"] == [
        (date(2024, 1, 1), 165, 0, 0), (date(2024, 2, 1), 50, 80, 0), (date(2024, 3, 1), 90, 80, 25),
    ]
    assert (data["points_issued"], data["points_redeemed"], data["points_expired"]) == (305, 160, 25)
    assert data["redemption_rate"] == Decimal("52.5")  # 160 / 305
    assert data["breakage"] == Decimal("8.2")  # 25 / 305
    # Now: a 100+50+30-160 = 20, b 40 (25 expired), c 60-10 = 50, d 0, e 20.
    assert (data["outstanding_available"], data["outstanding_pending"], data["outstanding"]) == (130, 0, 130)
    assert data["liability"] == Decimal("1.30")
    assert data["buyers"] == 3 and data["repeat_purchase_rate"] == Decimal("33.3")  # only a bought twice
    assert data["orders"] == 4 and data["average_order_value"] == Decimal("60.00")  # (100+40+50+60-10) / 4
    assert data["tables"]["top_rewards"] == [("Mug", 2, 160)]
    assert data["tables"]["tiers"] == [("Gold", 1, Decimal("20.0")), ("No tier", 4, Decimal("80.0"))]


def test_a_range_without_activity(shop):
    data = kpis_get(period=KpiRange(start=date(2020, 1, 1), end=date(2020, 1, 31)))
    assert data["points_by_month"] == [(date(2020, 1, 1), 0, 0, 0)]
    assert data["redemption_rate"] is None and data["average_order_value"] is None
    assert data["activation_rate"] is None and data["repeat_purchase_rate"] is None


def test_figures_are_cached_for_a_minute(shop):
    first = kpis_get(period=Q1)
    member_create(email="late@example.com", joined_at=at("2024-02-01"))
    assert kpis_get(period=Q1)["members_new"] == first["members_new"] == 3
    assert kpis_get(period=Q1, fresh=True)["members_new"] == 4
    cache.clear()
    assert kpis_get(period=Q1)["members_new"] == 4


def test_page_shows_figures_chart_data_and_tables(admin_client, shop):
    response = admin_client.get(URL, {"start": "2024-01-01", "end": "2024-03-31"})
    assert response.status_code == 200
    content = response.content.decode()
    cards = {card["id"]: str(card["value"]) for card in response.context["cards"]}
    assert cards["redemption-rate"] == "52.5 %" and cards["liability"] == "1.30 EUR" and cards["aov"] == "60.00 EUR"
    chart = json.loads(re.search(r'<script id="kpi-data" type="application/json">(.*?)</script>', content).group(1))
    assert chart["labels"] == ["Jan 2024", "Feb 2024", "Mar 2024"]
    assert [series["data"] for series in chart["series"]] == [[165, 50, 90], [0, 80, 80], [0, 0, 25]]
    assert "Top rewards" in content and "Tier distribution" in content
    # No inline code: every script has a src or is the JSON data; no style attributes or handlers.
    for tag in re.findall(r"<script[^>]*>", content):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"\sstyle=|\son[a-z]+=", content)


def test_each_table_downloads_as_csv(admin_client, shop):
    period = {"start": "2024-01-01", "end": "2024-03-31"}

    def download(key):
        response = admin_client.get(URL, {**period, "csv": key})
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode().lstrip("\ufeff"))))

    assert download("points_by_month") == [["Month", "Issued", "Redeemed", "Expired"], ["2024-01-01", "165", "0", "0"],
                                           ["2024-02-01", "50", "80", "0"], ["2024-03-01", "90", "80", "25"]]
    assert download("members_by_month")[1:] == [["2024-01-01", "1"], ["2024-02-01", "1"], ["2024-03-01", "1"]]
    assert download("top_rewards") == [["Reward", "Redemptions", "Points"], ["Mug", "2", "160"]]
    assert download("tiers")[1] == ["Gold", "1", "20.0"]
    summary = dict(download("summary")[1:])
    assert summary["Breakage"] == "8.2 %" and summary["Members"] == "4"
    assert admin_client.get(URL, {**period, "csv": "nope"}).status_code == 404


def test_bad_dates_are_a_form_error_and_the_default_range_is_shown(admin_client, shop):
    response = admin_client.get(URL, {"start": "2024-03-31", "end": "2024-01-01"})
    assert response.status_code == 200
    assert "must not come before its start" in response.content.decode()
    assert response.context["period"] == default_range(timezone.localdate())
    assert admin_client.get(URL, {"start": "yesterday", "end": ""}).status_code == 200


def test_default_range_is_the_last_twelve_months():
    assert default_range(date(2025, 3, 14)) == KpiRange(start=date(2024, 4, 1), end=date(2025, 3, 14))


def test_who_may_see_the_dashboard(client, shop, staff_roles):
    for group, status in (("Program manager", 200), ("Support", 403)):
        user = User.objects.create_user(email=f"{group[0]}@example.com", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        client.force_login(user)
        assert client.get(URL).status_code == status, group
        index = client.get(reverse("admin:index")).content.decode()
        assert (reverse("kpi_dashboard") in index) == (status == 200)
    client.logout()
    assert client.get(URL).status_code == 302
