"""The gamification API: challenges, badges and leaderboards for members (pos keys and `/me/`), their
configuration (admin keys), member isolation, and responses that match the OpenAPI schema."""

from datetime import timedelta
from io import BytesIO

import jsonschema
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from PIL import Image
from rest_framework.test import APIClient

from campaigns.models import Badge, BadgeAward, Challenge
from campaigns.services.badges import badge_create, badge_grant
from campaigns.services.leaderboards import leaderboard_member_refresh
from loyalty.models import Tier
from loyalty.services.ledger import Audit, points_credit
from rewards.models import Reward
from tests.campaigns.conftest import buy, challenge
from tests.campaigns.conftest import signed_in as _signed_in
from tests.factories import MemberFactory
from tests.loyalty.test_api_schema import response_schema
from tests.rewards.factories import RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    return {"schema": SchemaGenerator().get_schema(request=None, public=True)}


def signed_in(email, **member_fields):
    return _signed_in(email, APIClient, **member_fields)


def png(size=(600, 300)):
    buffer = BytesIO()
    Image.new("RGBA", size, (200, 150, 0, 128)).save(buffer, format="PNG")
    return SimpleUploadedFile("badge.png", buffer.getvalue(), content_type="image/png")


# -- configuration (admin scope) ------------------------------------------------------------------------


def test_challenges_crud(admin_api_client):
    Tier.objects.create(code="gold", name="Gold", rank=1)
    Badge.objects.create(code="star", name="Star")
    RewardFactory(code="gift")
    body = {"code": "xmas", "name": "Christmas", "goal": "points_earned", "target": 100,
            "starts_at": "2030-12-01T00:00:00+01:00", "ends_at": "2030-12-27T00:00:00+01:00", "tiers": ["gold"],
            "prize_points": 50, "prize_badge": "star", "prize_reward": "gift"}
    created = admin_api_client.post("/api/v1/challenges/", body, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert {k: data[k] for k in ("code", "goal", "target", "tiers", "prize_points", "prize_badge", "prize_reward",
                                 "active", "action_type", "started", "completed", "closed_at")} == {
        "code": "xmas", "goal": "points_earned", "target": 100, "tiers": ["gold"], "prize_points": 50,
        "prize_badge": "star", "prize_reward": "gift", "active": True, "action_type": "", "started": 0,
        "completed": 0, "closed_at": None}
    assert admin_api_client.get("/api/v1/challenges/").json()["results"][0]["code"] == "xmas"
    assert admin_api_client.get("/api/v1/challenges/xmas/").json() == data
    patched = admin_api_client.patch("/api/v1/challenges/xmas/", {"target": 150, "tiers": []}, format="json")
    assert patched.status_code == 200 and (patched.json()["target"], patched.json()["tiers"]) == (150, [])
    assert patched.json()["prize_badge"] == "star"  # untouched
    assert admin_api_client.delete("/api/v1/challenges/xmas/").status_code == 204
    assert admin_api_client.get("/api/v1/challenges/xmas/").status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"goal": "actions"}, "action_type"),
    ({"goal": "purchases", "action_type": "review"}, "action_type"),
    ({"prize_points": 0}, "prize_points"),
    ({"ends_at": "2000-01-01T00:00:00Z"}, "ends_at"),
    ({"goal": "jumping"}, "goal"),
    ({"target": 0}, "target"),
    ({"tiers": ["nope"]}, "tiers"),
    ({"prize_badge": "nope"}, "prize_badge"),
])
def test_challenge_validation_is_422_with_fields(admin_api_client, body, field):
    full = {"code": "c1", "name": "C", "goal": "purchases", "target": 3, "prize_points": 10,
            "starts_at": "2030-01-01T00:00:00Z", **body}
    response = admin_api_client.post("/api/v1/challenges/", full, format="json")
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "invalid" and field in response.json()["fields"]
    assert not Challenge.objects.exists()


def test_a_duplicate_challenge_code_is_422(admin_api_client):
    challenge(code="taken")
    body = {"code": "taken", "name": "C", "goal": "purchases", "target": 3, "prize_points": 10}
    response = admin_api_client.post("/api/v1/challenges/", body, format="json")
    assert response.status_code == 422 and "code" in response.json()["fields"]


def test_badges_crud_with_an_image_upload(admin_api_client, media_root):
    created = admin_api_client.post("/api/v1/badges/", {"code": "star", "name": "Star", "image": png()},
                                    format="multipart")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["image_url"].startswith("http://testserver/media/badges/")
    assert data["thumbnail_url"].endswith(".png") and data["holders"] == 0 and "image" not in data
    listed = admin_api_client.get("/api/v1/badges/").json()
    assert listed["count"] == 1 and listed["results"][0]["code"] == "star"
    patched = admin_api_client.patch("/api/v1/badges/star/", {"image": None, "name": "Bright star"}, format="json")
    assert patched.status_code == 200 and patched.json()["image_url"] is None
    assert patched.json()["name"] == "Bright star"
    assert admin_api_client.delete("/api/v1/badges/star/").status_code == 204


@pytest.mark.parametrize("upload", [
    SimpleUploadedFile("evil.png", b"<?php system($_GET['c']); ?>", content_type="image/png"),
    SimpleUploadedFile("doc.pdf", b"%PDF-1.4 not an image", content_type="application/pdf"),
    SimpleUploadedFile("empty.png", b"", content_type="image/png"),
])
def test_a_badge_upload_that_is_not_an_image_is_422(admin_api_client, media_root, upload):
    response = admin_api_client.post("/api/v1/badges/", {"code": "bad", "name": "Bad", "image": upload},
                                     format="multipart")
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "invalid" and "image" in response.json()["fields"]
    assert not Badge.objects.exists()


def test_a_held_badge_is_deactivated_on_delete(admin_api_client, member):
    badge = badge_create(code="held", name="Held")
    badge_grant(badge=badge, member=member, reason="x")
    response = admin_api_client.delete("/api/v1/badges/held/")
    assert response.status_code == 200 and response.json()["active"] is False and response.json()["holders"] == 1


def test_pos_keys_cannot_configure_or_grant(pos_api_client, member):
    badge_create(code="b", name="B")
    for method, url, body in (
        ("post", "/api/v1/challenges/", {"code": "x", "name": "X", "goal": "purchases", "target": 1,
                                         "prize_points": 1}),
        ("get", "/api/v1/challenges/", None),
        ("post", "/api/v1/badges/", {"code": "x", "name": "X"}),
        ("patch", "/api/v1/badges/b/", {"name": "Y"}),
        ("post", f"/api/v1/members/{member.loyalty_id}/badges/", {"badge": "b", "reason": "x"}),
    ):
        response = getattr(pos_api_client, method)(url, body, format="json")
        assert response.status_code == 403, url
    assert not BadgeAward.objects.exists()


def test_rewards_config_takes_a_required_badge(admin_api_client):
    badge_create(code="gold-club", name="Gold club")
    body = {"code": "tasting", "name": "Tasting", "kind": "experience", "cost_points": 10,
            "required_badge": "gold-club"}
    created = admin_api_client.post("/api/v1/rewards/", body, format="json")
    assert created.status_code == 201, created.content
    assert (created.json()["required_badge"], created.json()["unlocked_by"]) == ("gold-club", [])
    challenge(code="hunt", prize_reward=Reward.objects.get(code="tasting"))
    assert admin_api_client.get("/api/v1/rewards/tasting/").json()["unlocked_by"] == ["hunt"]
    bad = admin_api_client.patch("/api/v1/rewards/tasting/", {"required_badge": "nope"}, format="json")
    assert bad.status_code == 422 and "required_badge" in bad.json()["fields"]


def test_redeeming_a_locked_reward_is_403_with_its_code(pos_api_client, member):
    badge = badge_create(code="gold-club", name="Gold club")
    RewardFactory(code="tasting", cost_points=10, required_badge=badge)
    points_credit(member=member, points=100, audit=Audit(reason="x"))
    body = {"member": member.loyalty_id, "reward": "tasting"}
    refused = pos_api_client.post("/api/v1/redemptions/", body, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "badge_required"
    badge_grant(badge=badge, member=member, reason="VIP")
    assert pos_api_client.post("/api/v1/redemptions/", body, format="json").status_code == 201


# -- a member's challenges, badges and the leaderboard --------------------------------------------------


def test_member_challenges_show_progress_and_prize(pos_api_client, member, store, committed):
    badge_create(code="star", name="Star")
    goal = challenge(code="spend", goal="amount_spent", target=50, prize_points=20,
                     prize_badge=Badge.objects.get(code="star"), ends_at=timezone.now() + timedelta(days=3))
    challenge(code="later", starts_at=timezone.now() + timedelta(days=1))  # not open yet: not listed
    with committed():
        buy(store, member, "12.34")
    data = pos_api_client.get(f"/api/v1/members/{member.loyalty_id}/challenges/").json()
    assert data == {"results": [{
        "code": "spend", "name": "Challenge", "description": "", "goal": "amount_spent", "action_type": "",
        "target": 50, "progress": 12, "progress_amount": "12.34", "remaining": 38, "completed_at": None,
        "starts_at": data["results"][0]["starts_at"], "ends_at": data["results"][0]["ends_at"],
        "prize": {"points": 20, "badge": "star", "reward": None},
    }]}
    assert goal.pk
    assert pos_api_client.get("/api/v1/members/0000000000000000/challenges/").status_code == 404


def test_member_badges_and_a_grant_by_hand(admin_api_client, member):
    badge_create(code="a-earned", name="Earned")
    badge_create(code="b-locked", name="Locked")
    url = f"/api/v1/members/{member.loyalty_id}/badges/"
    granted = admin_api_client.post(url, {"badge": "a-earned", "reason": "Thanks for helping"}, format="json")
    assert granted.status_code == 201, granted.content
    assert granted.json()["code"] == "a-earned" and granted.json()["earned_at"] is not None
    again = admin_api_client.post(url, {"badge": "a-earned", "reason": "Again"}, format="json")
    assert again.status_code == 200
    assert BadgeAward.objects.get().reason == "Thanks for helping"
    wall = admin_api_client.get(url).json()["results"]
    assert [(b["code"], b["earned_at"] is None) for b in wall] == [("a-earned", False), ("b-locked", True)]
    for body in ({"badge": "nope", "reason": "x"}, {"badge": "b-locked", "reason": " "}, {"badge": "b-locked"}):
        response = admin_api_client.post(url, body, format="json")
        assert response.status_code == 422, body


def test_the_leaderboard_api(pos_api_client):
    at = timezone.now() - timedelta(minutes=5)
    for nickname, points in [("ann", 30), ("bob", 50)]:
        member = MemberFactory()
        member.__class__.objects.filter(pk=member.pk).update(nickname=nickname, leaderboard_opt_in=True)
        points_credit(member=member, points=points, audit=Audit(reason="x", occurred_at=at))
        leaderboard_member_refresh(member_id=member.pk, at=at)
    data = pos_api_client.get("/api/v1/leaderboard/", {"period": "month", "limit": 1}).json()
    assert data["period"] == "month" and data["results"] == [{"rank": 1, "nickname": "bob", "points": 50}]
    assert data["starts_at"].endswith(("+01:00", "+02:00"))
    everything = pos_api_client.get("/api/v1/leaderboard/", {"period": "all"}).json()
    assert (everything["starts_at"], [r["nickname"] for r in everything["results"]]) == (None, ["bob", "ann"])
    assert pos_api_client.get("/api/v1/leaderboard/").json()["period"] == "week"
    for bad in ({"period": "year"}, {"limit": 0}, {"limit": 101}, {"limit": "ten"}):
        response = pos_api_client.get("/api/v1/leaderboard/", bad)
        assert response.status_code == 422 and response.json()["code"] == "invalid", bad


# -- /me/: the signed-in member only ----------------------------------------------------------------------


def test_me_endpoints_show_only_my_own_data(store, committed):
    alice = signed_in("alice@example.com", nickname="alice", leaderboard_opt_in=True)
    bob = signed_in("bob@example.com", nickname="bob", leaderboard_opt_in=True)
    badge = badge_create(code="star", name="Star")
    badge_grant(badge=badge, member=alice.member, reason="Hers")
    goal = challenge(code="two", target=2)
    with committed():
        buy(store, alice.member, "30.00")
        buy(store, bob.member, "10.00")
        buy(store, bob.member, "10.00")
    # Alice sees her progress and her badge; query parameters naming Bob change nothing.
    for query in ("", f"?member={bob.member.pk}", f"?loyalty_id={bob.member.loyalty_id}"):
        mine = alice.get("/api/v1/me/challenges/" + query).json()["results"]
        assert [(c["code"], c["progress"], c["completed_at"] is None) for c in mine] == [("two", 1, True)]
        badges = alice.get("/api/v1/me/badges/" + query).json()["results"]
        assert [(b["code"], b["earned_at"] is not None) for b in badges] == [("star", True)]
        board = alice.get("/api/v1/me/leaderboard/" + query, {"period": "all"}).json()
        assert board["me"] == {"rank": 1, "points": 30}
    assert bob.get("/api/v1/me/challenges/").json()["results"][0]["completed_at"] is not None
    assert bob.get("/api/v1/me/badges/").json()["results"][0]["earned_at"] is None
    assert bob.get("/api/v1/me/leaderboard/?period=all").json()["me"] == {"rank": 2, "points": 20}
    assert goal.pk


def test_me_endpoints_need_a_member_session(pos_api_client):
    for url in ("/api/v1/me/challenges/", "/api/v1/me/badges/", "/api/v1/me/leaderboard/"):
        assert APIClient().get(url).status_code in (401, 403), url
        assert pos_api_client.get(url).status_code in (401, 403), url  # an API key is not a member session


def test_me_leaderboard_is_null_when_i_am_not_on_it():
    shy = signed_in("shy@example.com")
    points_credit(member=shy.member, points=10, audit=Audit(reason="x"))
    assert shy.get("/api/v1/me/leaderboard/").json()["me"] is None


# -- responses match the schema ---------------------------------------------------------------------------


def test_responses_conform_to_the_schema(schema, pos_api_client, admin_api_client, store, committed, media_root):
    me = signed_in("me@example.com", nickname="me", leaderboard_opt_in=True)
    badge_create(code="star", name="Star", image=png((50, 50)))
    challenge(code="c", goal="amount_spent", target=10, prize_badge=Badge.objects.get(code="star"))
    with committed():
        buy(store, me.member, "12.00")
    loyalty_id = me.member.loyalty_id
    checks = [
        (admin_api_client.get("/api/v1/challenges/"), "/api/v1/challenges/", "get"),
        (admin_api_client.get("/api/v1/challenges/c/"), "/api/v1/challenges/{code}/", "get"),
        (admin_api_client.post("/api/v1/challenges/", {"code": "x"}, format="json"), "/api/v1/challenges/", "post"),
        (admin_api_client.get("/api/v1/badges/"), "/api/v1/badges/", "get"),
        (admin_api_client.get("/api/v1/badges/star/"), "/api/v1/badges/{code}/", "get"),
        (admin_api_client.get("/api/v1/badges/nope/"), "/api/v1/badges/{code}/", "get"),
        (pos_api_client.get(f"/api/v1/members/{loyalty_id}/challenges/"),
         "/api/v1/members/{loyalty_id}/challenges/", "get"),
        (pos_api_client.get(f"/api/v1/members/{loyalty_id}/badges/"), "/api/v1/members/{loyalty_id}/badges/", "get"),
        (pos_api_client.get("/api/v1/leaderboard/?period=all"), "/api/v1/leaderboard/", "get"),
        (pos_api_client.get("/api/v1/leaderboard/?limit=500"), "/api/v1/leaderboard/", "get"),
        (me.get("/api/v1/me/challenges/"), "/api/v1/me/challenges/", "get"),
        (me.get("/api/v1/me/badges/"), "/api/v1/me/badges/", "get"),
        (me.get("/api/v1/me/leaderboard/?period=all"), "/api/v1/me/leaderboard/", "get"),
        (admin_api_client.get("/api/v1/rewards/"), "/api/v1/rewards/", "get"),
    ]
    for response, path, method in checks:
        jsonschema.validate(response.json(), response_schema(schema, path, method, response.status_code))
    assert me.get("/api/v1/me/leaderboard/?period=all").json()["me"] == {"rank": 1, "points": 12}
