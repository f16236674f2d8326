import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from loyalty.selectors import member_points_get
from members.models import User
from rewards.models import Redemption, RedemptionStatus, RewardKind, VoucherCode
from rewards.services import coupon_use, points_redeem_for_discount, reward_redeem
from tests.rewards.conftest import give
from tests.rewards.factories import RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    admin = User.objects.create_superuser(email="boss@example.com", password="correct horse battery")
    client.force_login(admin)
    return client


def test_reward_pages_render_with_image_preview(staff_client, media_root):
    from tests.rewards.test_models import image_upload

    reward = RewardFactory(image=image_upload())
    response = staff_client.get(reverse("admin:rewards_reward_changelist"))
    assert response.status_code == 200
    assert reward.thumbnail.url in response.content.decode()
    response = staff_client.get(reverse("admin:rewards_reward_change", args=[reward.pk]))
    assert response.status_code == 200 and reward.thumbnail.url in response.content.decode()


def test_admin_form_refuses_a_too_valuable_cashback(staff_client, program):
    response = staff_client.post(reverse("admin:rewards_reward_add"), {
        "code": "cash", "name": "Cash", "kind": RewardKind.CASHBACK, "cost_points": "1000", "value": "10.00",
        "active": "on",
    })
    assert response.status_code == 200  # the form again, with the error
    assert "Cashback must be worth less" in response.content.decode()


def test_voucher_csv_import_page(staff_client):
    reward = RewardFactory(kind=RewardKind.PARTNER_VOUCHER)
    url = reverse("admin:rewards_vouchercode_import")
    assert staff_client.get(url).status_code == 200
    upload = SimpleUploadedFile("codes.csv", b"code\nZ-1\nZ-2\nZ-2\n", content_type="text/csv")
    response = staff_client.post(url, {"reward": reward.pk, "file": upload}, follow=True)
    assert response.status_code == 200
    assert sorted(VoucherCode.objects.values_list("code", flat=True)) == ["Z-1", "Z-2"]
    assert "2 codes added" in response.content.decode()
    changelist = staff_client.get(reverse("admin:rewards_vouchercode_changelist"))
    assert url in changelist.content.decode()


def test_voucher_import_refuses_other_reward_kinds(staff_client):
    reward = RewardFactory(kind=RewardKind.FIXED_DISCOUNT)
    upload = SimpleUploadedFile("codes.csv", b"A\n", content_type="text/csv")
    response = staff_client.post(reverse("admin:rewards_vouchercode_import"), {"reward": reward.pk, "file": upload})
    assert response.status_code == 200 and not VoucherCode.objects.exists()


def test_redemptions_are_read_only_with_a_cancel_action(staff_client, member):
    give(member, 1000)
    open_one = points_redeem_for_discount(member=member, points=100)
    used = points_redeem_for_discount(member=member, points=200)
    coupon_use(code=used.code, order_id="X")
    changelist = reverse("admin:rewards_redemption_changelist")
    assert staff_client.get(changelist).status_code == 200
    detail = staff_client.get(reverse("admin:rewards_redemption_change", args=[open_one.pk]))
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert staff_client.get(reverse("admin:rewards_redemption_add")).status_code == 403
    response = staff_client.post(changelist, {"action": "cancel_redemptions",
                                              "_selected_action": [open_one.pk, used.pk]}, follow=True)
    assert response.status_code == 200
    assert Redemption.objects.get(pk=open_one.pk).status == RedemptionStatus.CANCELLED
    assert Redemption.objects.get(pk=used.pk).status == RedemptionStatus.USED
    assert "coupon has been used" in response.content.decode()
    assert member_points_get(member=member)["available"] == 800
    cancelled = Redemption.objects.get(pk=open_one.pk)
    assert cancelled.cancel_transaction.staff_user.email == "boss@example.com"


def test_charity_totals_page(staff_client, rich_member):
    reward = RewardFactory(kind=RewardKind.CHARITY_DONATION, charity_name="Food Bank", value="3.00", cost_points=300)
    reward_redeem(member=rich_member, reward=reward)
    reward_redeem(member=rich_member, reward=reward)
    url = reverse("admin:rewards_redemption_charity_totals")
    response = staff_client.get(url)
    content = response.content.decode()
    assert response.status_code == 200 and "Food Bank" in content and "6.00" in content
    assert "Food Bank" not in staff_client.get(url + "?year=1999").content.decode()
    assert url in staff_client.get(reverse("admin:rewards_redemption_changelist")).content.decode()
