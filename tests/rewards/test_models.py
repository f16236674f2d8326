import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from PIL import Image

from loyalty.services.ledger import Audit, points_debit
from rewards.models import Redemption, RedemptionStatus, Reward, RewardKind, VoucherCode
from rewards.services import points_redeem_for_discount
from tests.rewards.conftest import give
from tests.rewards.factories import RewardFactory

pytestmark = pytest.mark.django_db


def image_upload(name="img.png", size=(1000, 500), mode="RGB", fmt="PNG"):
    buffer = io.BytesIO()
    colour = (10, 120, 200) if mode == "RGB" else (10, 120, 200, 100)
    Image.new(mode, size, colour).save(buffer, format=fmt)
    return SimpleUploadedFile(name, buffer.getvalue())


def refused(**changes):
    """The reward row update is refused by a database constraint."""
    reward = RewardFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Reward.objects.filter(pk=reward.pk).update(**changes)


def test_reward_constraints():
    refused(stock=-1)
    refused(cost_points=0)
    refused(value=Decimal("-1"))
    refused(per_member_limit=0)
    refused(kind=RewardKind.PERCENTAGE_DISCOUNT, value=Decimal("101"))
    refused(kind=RewardKind.CHARITY_DONATION, charity_name="")
    now = timezone.now()
    refused(available_from=now, available_until=now - timedelta(days=1))


def test_redemption_constraints(member):
    give(member, 1000)
    redemption = points_redeem_for_discount(member=member, points=100)

    def refused_update(**changes):
        with pytest.raises(IntegrityError), transaction.atomic():
            Redemption.objects.filter(pk=redemption.pk).update(**changes)

    refused_update(points=0)
    refused_update(status=RedemptionStatus.USED)  # used without used_at
    refused_update(used_at=timezone.now())  # used_at on an issued coupon
    refused_update(status=RedemptionStatus.CANCELLED, cancelled_at=timezone.now())  # without the points back
    refused_update(status="lost")
    refused_update(reward=RewardFactory())  # pay with points has no reward
    refused_update(expires_at=redemption.issued_at)
    other = points_redeem_for_discount(member=member, points=100)
    refused_update(code=other.code)
    refused_update(transaction=other.transaction)  # one debit pays for one redemption


def test_voucher_code_constraints(member):
    reward = RewardFactory(kind=RewardKind.PARTNER_VOUCHER)
    VoucherCode.objects.create(reward=reward, code="A")
    with pytest.raises(IntegrityError), transaction.atomic():
        VoucherCode.objects.create(reward=reward, code="A")
    VoucherCode.objects.create(reward=RewardFactory(kind=RewardKind.PARTNER_VOUCHER), code="A")  # other pool
    give(member, 1000)
    redemption = points_redeem_for_discount(member=member, points=100)
    now = timezone.now()
    VoucherCode.objects.create(reward=reward, code="B", redemption=redemption, assigned_at=now)
    with pytest.raises(IntegrityError), transaction.atomic():
        VoucherCode.objects.create(reward=reward, code="C", redemption=redemption, assigned_at=now)
    with pytest.raises(IntegrityError), transaction.atomic():
        VoucherCode.objects.create(reward=reward, code="D", assigned_at=now)  # assigned to nobody


def test_redemption_needs_a_ledger_debit(member):
    """A Redemption always points at the ledger debit that paid for it."""
    give(member, 100)
    debit = points_debit(member=member, points=10, audit=Audit(reason="x"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Redemption.objects.create(member=member, kind="pay_with_points", points=10, value=0, currency="EUR",
                                  code="AAAA-AAAA-AAAA-AAAA", issued_at=timezone.now(),
                                  expires_at=timezone.now() + timedelta(days=1), transaction=None)
    Redemption.objects.create(member=member, kind="pay_with_points", points=10, value=0, currency="EUR",
                              code="AAAA-AAAA-AAAA-AAAA", issued_at=timezone.now(),
                              expires_at=timezone.now() + timedelta(days=1), transaction=debit)


def test_thumbnail_made_on_save_and_replaced(media_root):
    reward = RewardFactory(image=image_upload("wide.png", (1000, 500)))
    assert reward.thumbnail.name.startswith("rewards/thumbnails/wide")
    with Image.open(reward.thumbnail.path) as thumbnail:
        assert thumbnail.size == (400, 200) and thumbnail.format == "JPEG"
    first = reward.thumbnail.name
    reward.name = "renamed"
    reward.save()
    assert reward.thumbnail.name == first  # not regenerated when the image did not change
    reward.image = image_upload("clear.png", (300, 900), mode="RGBA")
    reward.save()
    with Image.open(reward.thumbnail.path) as thumbnail:
        assert thumbnail.size == (133, 400) and thumbnail.format == "PNG"  # transparency kept
    reward.image = ""
    reward.save()
    assert not Reward.objects.get(pk=reward.pk).thumbnail


def test_small_images_are_not_enlarged(media_root):
    reward = RewardFactory(image=image_upload("small.jpg", (120, 80), fmt="JPEG"))
    with Image.open(reward.thumbnail.path) as thumbnail:
        assert thumbnail.size == (120, 80)


def test_unreadable_image_gives_no_thumbnail(media_root):
    reward = RewardFactory(image=SimpleUploadedFile("broken.png", b"\x89PNG not really"))
    assert reward.image and not reward.thumbnail


def test_status_at_reads_expired_after_expiry(member):
    give(member, 100)
    redemption = points_redeem_for_discount(member=member, points=10)
    assert redemption.status_at() == "issued"
    assert redemption.status_at(redemption.expires_at) == "expired"
