"""Badges: from challenges, tiers and staff; once per member; a reward may require one; the badge wall."""

from datetime import timedelta
from io import BytesIO

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from campaigns.models import Badge, BadgeAward, BadgeSource
from campaigns.services.badges import badge_create, badge_delete, badge_grant, member_badges_get
from campaigns.services.common import CampaignInvalid
from loyalty.models import Tier
from loyalty.services.ledger import Audit, points_credit
from loyalty.services.tiers import member_tier_floor_set, tiers_recalculate
from members.models import MemberStatus, User
from rewards.selectors import reward_catalogue_for_member
from rewards.services import BadgeRequired, ChallengeRequired, reward_redeem
from tests.campaigns.conftest import buy, challenge
from tests.factories import MemberFactory
from tests.rewards.factories import RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiers(db):
    return {
        "silver": Tier.objects.create(code="silver", name="Silver", rank=1, threshold=100),
        "gold": Tier.objects.create(code="gold", name="Gold", rank=2, threshold=500),
    }


def png(size=(20, 20)) -> SimpleUploadedFile:
    buffer = BytesIO()
    Image.new("RGB", size, "gold").save(buffer, format="PNG")
    return SimpleUploadedFile("badge.png", buffer.getvalue(), content_type="image/png")


def give(member, points):
    return points_credit(member=member, points=points, audit=Audit(reason="test"))


# -- given automatically on reaching a tier --------------------------------------------------------------


def test_reaching_a_tier_gives_its_badge_and_those_of_lower_tiers(member, tiers, committed):
    silver = badge_create(code="silver-club", name="Silver club", tier=tiers["silver"])
    gold = badge_create(code="gold-club", name="Gold club", tier=tiers["gold"])
    with committed():
        give(member, 600)  # straight from no tier to Gold: the upgrade check after the commit
    member.refresh_from_db()
    assert member.tier == tiers["gold"]
    held = BadgeAward.objects.filter(member=member)
    assert {award.badge_id for award in held} == {silver.pk, gold.pk}
    assert {award.source for award in held} == {BadgeSource.TIER}
    with committed():
        give(member, 600)
    assert BadgeAward.objects.filter(member=member).count() == 2  # once


def test_the_recalculation_and_a_staff_floor_give_tier_badges_too(tiers, committed):
    gold = badge_create(code="gold-club", name="Gold club", tier=tiers["gold"])
    floored, earner = MemberFactory(), MemberFactory()
    with committed():
        member_tier_floor_set(member=floored, tier=tiers["gold"], reason="VIP")
    assert BadgeAward.objects.filter(member=floored, badge=gold).exists()
    points_credit(member=earner, points=700, audit=Audit(reason="old points"))  # no commit: no live check
    with committed():
        tiers_recalculate(as_of=timezone.now())
    assert BadgeAward.objects.filter(member=earner, badge=gold, tier=tiers["gold"]).exists()


def test_a_new_tier_badge_goes_to_members_already_at_that_tier(tiers):
    at_gold, at_silver, closed = MemberFactory(), MemberFactory(), MemberFactory()
    at_gold.__class__.objects.filter(pk=at_gold.pk).update(tier=tiers["gold"])
    at_silver.__class__.objects.filter(pk=at_silver.pk).update(tier=tiers["silver"])
    closed.__class__.objects.filter(pk=closed.pk).update(tier=tiers["gold"], status=MemberStatus.CLOSED)
    badge = badge_create(code="silver-up", name="Silver and up", tier=tiers["silver"])
    assert set(badge.awards.values_list("member_id", flat=True)) == {at_gold.pk, at_silver.pk}


# -- by staff, with a reason -------------------------------------------------------------------------------


def test_staff_grant_needs_a_reason_an_active_badge_and_happens_once(member):
    badge = badge_create(code="helper", name="Helper")
    with pytest.raises(CampaignInvalid):
        badge_grant(badge=badge, member=member, reason="  ")
    award, created = badge_grant(badge=badge, member=member, reason="Helped at the fair")
    assert created and award.source == BadgeSource.STAFF and award.reason == "Helped at the fair"
    again, created = badge_grant(badge=badge, member=member, reason="Twice")
    assert (again.pk, created) == (award.pk, False)
    Badge.objects.filter(pk=badge.pk).update(active=False)
    badge.refresh_from_db()
    with pytest.raises(CampaignInvalid):
        badge_grant(badge=badge, member=MemberFactory(), reason="Inactive")


def test_the_database_holds_a_badge_once_per_member(member):
    badge = badge_create(code="once", name="Once")
    BadgeAward.objects.create(badge=badge, member=member, source=BadgeSource.STAFF, reason="x",
                              awarded_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        BadgeAward.objects.create(badge=badge, member=member, source=BadgeSource.STAFF, reason="y",
                                  awarded_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        BadgeAward.objects.create(badge=badge, member=MemberFactory(), source=BadgeSource.STAFF, reason="",
                                  awarded_at=timezone.now())


def test_admin_action_grants_a_badge_to_the_selected_members(client):
    admin = User.objects.create_superuser("boss@example.com", "pw")
    client.force_login(admin)
    badge = badge_create(code="fair", name="Fair helper")
    first, second = MemberFactory(), MemberFactory()
    url = reverse("admin:members_member_changelist")
    data = {"action": "grant_badge", ACTION_CHECKBOX_NAME: [first.pk, second.pk]}
    page = client.post(url, data)
    assert page.status_code == 200 and b"Grant a badge" in page.content  # the intermediate form
    missing_reason = client.post(url, {**data, "apply": "1", "badge": badge.pk, "reason": ""})
    assert missing_reason.status_code == 200 and not BadgeAward.objects.exists()
    done = client.post(url, {**data, "apply": "1", "badge": badge.pk, "reason": "Summer fair"})
    assert done.status_code == 302
    awards = BadgeAward.objects.filter(badge=badge)
    assert {a.member_id for a in awards} == {first.pk, second.pk}
    assert {(a.staff_user_id, a.reason) for a in awards} == {(admin.pk, "Summer fair")}


def test_admin_grant_form_refuses_a_second_grant(client, member):
    admin = User.objects.create_superuser("boss@example.com", "pw")
    client.force_login(admin)
    badge = badge_create(code="fair", name="Fair helper")
    url = reverse("admin:campaigns_badgeaward_add")
    assert client.post(url, {"badge": badge.pk, "member": member.pk, "reason": "Great"}).status_code == 302
    again = client.post(url, {"badge": badge.pk, "member": member.pk, "reason": "Again"})
    assert again.status_code == 200 and BadgeAward.objects.count() == 1
    assert BadgeAward.objects.get().staff_user == admin


# -- images ------------------------------------------------------------------------------------------------


def test_a_badge_image_gets_a_thumbnail(media_root):
    badge = badge_create(code="pic", name="Pic", image=png((900, 600)))
    assert badge.thumbnail
    with Image.open(badge.thumbnail.path) as thumb:
        assert max(thumb.size) == 400


# -- a reward that requires a badge, or that a challenge unlocks ---------------------------------------


def test_a_reward_that_requires_a_badge(member):
    badge = badge_create(code="gold-club", name="Gold club")
    reward = RewardFactory(code="tasting", cost_points=100, required_badge=badge)
    give(member, 500)
    with pytest.raises(BadgeRequired) as error:
        reward_redeem(member=member, reward=reward)
    assert error.value.code == "badge_required" and error.value.status_code == 403
    assert "Gold club" in error.value.detail
    item = next(i for i in reward_catalogue_for_member(member=member, available_points=500) if i["reward"] == reward)
    assert item["blocker"] == "badge_required"
    badge_grant(badge=badge, member=member, reason="VIP")
    assert reward_redeem(member=member, reward=reward).points == 100
    item = next(i for i in reward_catalogue_for_member(member=member, available_points=400) if i["reward"] == reward)
    assert item["blocker"] == ""


def test_a_reward_unlocked_by_a_challenge(store, member, committed):
    reward = RewardFactory(code="gift", cost_points=10)
    give(member, 100)
    goal = challenge(target=1, prize_points=0, prize_reward=reward, name="Holiday")
    with pytest.raises(ChallengeRequired) as error:
        reward_redeem(member=member, reward=reward)
    assert error.value.code == "challenge_required" and "Holiday" in error.value.detail
    with committed():
        buy(store, member)
    assert goal.progress.get(member=member).completed_at is not None
    assert reward_redeem(member=member, reward=reward).points == 10
    other = MemberFactory()
    give(other, 100)
    with pytest.raises(ChallengeRequired):
        reward_redeem(member=other, reward=reward)


def test_the_catalogue_page_says_what_unlocks_a_locked_reward(client, member):
    user = User.objects.create_user("m@example.com", "pw")
    member.__class__.objects.filter(pk=member.pk).update(user=user)
    client.force_login(user)
    badge = badge_create(code="gold-club", name="Gold club")
    RewardFactory(code="tasting", name="Tasting", cost_points=1, required_badge=badge)
    RewardFactory(code="gift", name="Gift", cost_points=1)
    challenge(target=1, prize_reward=RewardFactory(code="box", name="Box", cost_points=1), name="Holiday hunt")
    page = client.get(reverse("rewards:catalogue")).content.decode()
    assert "Earn the Gold club badge to unlock this reward" in page
    assert "Complete the challenge Holiday hunt to unlock this reward" in page


# -- the badge wall and deleting ---------------------------------------------------------------------------


def test_the_badge_wall_lists_earned_badges_first_and_locked_ones_with_how_to_earn(member, tiers):
    earned = badge_create(code="earned", name="Earned")
    by_tier = badge_create(code="gold", name="Gold badge", tier=tiers["gold"])
    by_challenge = badge_create(code="won", name="Won")
    challenge(prize_badge=by_challenge, name="Big one")
    badge_create(code="off", name="Off", active=False)
    badge_grant(badge=earned, member=member, reason="Thanks")
    items = member_badges_get(member=member)
    assert [item["badge"].code for item in items] == ["earned", "gold", "won"]
    assert items[0]["award"] is not None and items[1]["award"] is None
    assert items[1]["tier"] == tiers["gold"] and items[2]["challenges"][0].name == "Big one"
    assert by_tier.awards.count() == 0


def test_a_held_badge_is_deactivated_not_deleted(member):
    held = badge_create(code="held", name="Held")
    badge_grant(badge=held, member=member, reason="x")
    assert badge_delete(badge=held) is False
    held.refresh_from_db()
    assert held.active is False
    assert badge_delete(badge=badge_create(code="free", name="Free")) is True
    assert [item["badge"].code for item in member_badges_get(member=member)] == ["held"]  # earned stays shown


def test_a_completed_challenges_badge_is_given_once_even_from_two_challenges(store, member, committed):
    badge = badge_create(code="shared", name="Shared")
    challenge(target=1, prize_badge=badge)
    challenge(target=1, prize_badge=badge, starts_at=timezone.now() - timedelta(days=3))
    with committed():
        buy(store, member)
    assert BadgeAward.objects.filter(member=member, badge=badge).count() == 1
