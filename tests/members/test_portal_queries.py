"""Every portal page asks a fixed, small number of SQL queries, the same for a member with 10,000 ledger
transactions (and 1,000 coupons) as for a new member: nothing on a page grows with the history."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from loyalty.services.tiers import tier_create
from members.management.commands.bench_portal import portal_history_build
from members.models import User
from members.services import member_create

pytestmark = pytest.mark.django_db

# Page -> at most this many queries (session, login and member, the configuration version, the page's own
# reads, and the programme and tiers, which a test's never-committed transaction keeps out of the cache).
PAGES = {
    "portal:dashboard": 15,
    "portal:history": 11,
    "portal:card": 8,
    "portal:profile": 8,
    "portal:close_account": 9,
    "rewards:catalogue": 14,  # and the badge and challenge locks: the member's badges, the unlocking challenges
    "rewards:my_coupons": 11,
    "campaigns:challenges": 11,  # the open challenges (cached) with the member's progress, the completed ones
    "campaigns:badges": 9,  # the badges, the member's awards, the challenges that give them
    "campaigns:leaderboard": 10,  # the top places, my rank (one statement), the prizes
    "campaigns:referrals": 9,  # the counts and points in one aggregate, the newest 100 referrals
}


def _signed_in(email: str):
    user = User.objects.create_user(email=email, password="correct horse battery")
    member = member_create(email=email, user=user, first_name="Long")
    client = Client()
    client.force_login(user)
    return member, client


def _queries(client: Client, url: str) -> int:
    client.get(url)  # warm: the programme and the tiers are in the cache from here on
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


def test_every_page_asks_a_bounded_number_of_queries_for_a_member_with_10000_transactions(
    django_assert_max_num_queries,
):
    tier_create(code="bronze", name="Bronze", rank=1, threshold=0)
    tier_create(code="silver", name="Silver", rank=2, threshold=10**9)
    long, long_client = _signed_in("long@example.com")
    portal_history_build(member=long, transactions=10_000, now=timezone.now())
    assert long.ledger_transactions.count() == 10_000 and long.redemptions.count() == 1_000
    new, new_client = _signed_in("new@example.com")  # the same shapes of history, a hundred postings long
    portal_history_build(member=new, transactions=100, now=timezone.now())
    pages = [(reverse(name), reverse(name), bound) for name, bound in PAGES.items()]
    pages.append((reverse("portal:history") + "?page=4&kind=earn",) * 2 + (PAGES["portal:history"],))
    pages.append((reverse("rewards:coupon", args=[long.redemptions.order_by("-pk").first().pk]),
                  reverse("rewards:coupon", args=[new.redemptions.order_by("-pk").first().pk]), 9))
    for long_url, new_url, bound in pages:
        long_client.get(long_url)
        with django_assert_max_num_queries(bound):
            response = long_client.get(long_url)
        assert response.status_code == 200, long_url
        assert _queries(long_client, long_url) == _queries(new_client, new_url), long_url
