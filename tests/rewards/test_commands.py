from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from rewards.models import Redemption, RedemptionStatus, RewardKind, VoucherCode
from rewards.services import points_redeem_for_discount
from rewards.tasks import expire_coupons
from tests.rewards.conftest import give
from tests.rewards.factories import RewardFactory

pytestmark = pytest.mark.django_db


def test_import_vouchers(tmp_path):
    RewardFactory(code="cinema", kind=RewardKind.PARTNER_VOUCHER)
    path = tmp_path / "codes.csv"
    path.write_text("code\nC-1\nC-2\nC-1\n")
    out = StringIO()
    call_command("import_vouchers", "--reward", "cinema", str(path), "--dry-run", stdout=out)
    assert "dry run: 3 codes" in out.getvalue() and not VoucherCode.objects.exists()
    out = StringIO()
    call_command("import_vouchers", "--reward", "cinema", str(path), stdout=out)
    assert "2 codes added to cinema; 1 duplicates and 0 invalid" in out.getvalue()
    assert VoucherCode.objects.count() == 2


def test_import_vouchers_errors(tmp_path):
    RewardFactory(code="mug")
    path = tmp_path / "codes.csv"
    path.write_text("A\n")
    with pytest.raises(CommandError, match="no reward"):
        call_command("import_vouchers", "--reward", "nope", str(path))
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_vouchers", "--reward", "mug", str(tmp_path / "missing.csv"))
    with pytest.raises(CommandError, match="partner voucher"):
        call_command("import_vouchers", "--reward", "mug", str(path))


def test_expire_coupons_command_and_task(member):
    give(member, 1000)
    now = timezone.now()
    points_redeem_for_discount(member=member, points=100, now=now - timedelta(days=100))
    points_redeem_for_discount(member=member, points=100, now=now - timedelta(days=95))
    out = StringIO()
    call_command("expire_coupons", "--dry-run", stdout=out)
    assert "would expire 2 coupons" in out.getvalue()
    as_of = (now - timedelta(days=8)).isoformat()
    call_command("expire_coupons", "--as-of", as_of, stdout=out)
    assert Redemption.objects.filter(status=RedemptionStatus.EXPIRED).count() == 1
    assert expire_coupons.delay().get() == {"expired": 1}
    with pytest.raises(CommandError):
        call_command("expire_coupons", "--as-of", "yesterday")
