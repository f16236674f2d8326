"""Output serializers shared by several API areas: the Member and a ledger Transaction."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from loyalty.models import LedgerTransaction, TierMetric, TransactionKind
from loyalty.selectors import member_expiring_get, member_points_get
from loyalty.services.program import program_get
from loyalty.services.tiers import member_tier_progress_get
from members.models import Member, MemberStatus


class TierRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class ExpiringPointsSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    expires_at = serializers.DateTimeField()


class MemberPointsSerializer(serializers.Serializer):
    available = serializers.IntegerField(help_text="Spendable now (negative while a refund left a debt).")
    pending = serializers.IntegerField(help_text="Earned, not yet released.")
    lifetime_earned = serializers.IntegerField(help_text="Earned and bonus points, net of reversals.")
    expiring = ExpiringPointsSerializer(
        many=True, help_text="Remaining points by expiry date, soonest first, the next 3 dates."
    )


@extend_schema_field({
    "oneOf": [{"type": "integer"}, {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$"}],
})
class TierRemainingField(serializers.Field):
    """Points (int) for the points metric; a decimal string ("12.50") for the spend metric."""

    def to_representation(self, value):
        return value


class NextTierSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    metric = serializers.ChoiceField(choices=TierMetric.choices, help_text="What `remaining` counts.")
    remaining = TierRemainingField(
        help_text="Still needed to reach the tier: points (integer) for the points metric, "
        "a decimal string in the program currency for the spend metric."
    )


def member_points_representation(member: Member) -> dict:
    """Balances from the account rows and the expiring lots from one indexed query: O(1) in history."""
    return {**member_points_get(member=member), "expiring": member_expiring_get(member=member, limit=3)}


def next_tier_representation(member: Member) -> dict | None:
    progress = member_tier_progress_get(member=member)
    if progress is None:
        return None
    remaining = progress["remaining"]
    if program_get().tier_metric == TierMetric.SPEND:
        return {**progress, "metric": TierMetric.SPEND,
                "remaining": str(Decimal(remaining).quantize(Decimal("0.01")))}
    return {**progress, "metric": TierMetric.POINTS, "remaining": int(remaining)}


class MemberSerializer(serializers.Serializer):
    """The Member of the API contract. Pass a member fetched with select_related("tier")."""

    loyalty_id = serializers.CharField(help_text="16-digit card number (Luhn check digit).")
    email = serializers.EmailField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    status = serializers.ChoiceField(choices=MemberStatus.choices)
    joined_at = serializers.DateTimeField()
    tier = TierRefSerializer(allow_null=True)
    points = serializers.SerializerMethodField()
    next_tier = serializers.SerializerMethodField()
    referral_code = serializers.CharField()

    @extend_schema_field(MemberPointsSerializer)
    def get_points(self, member: Member) -> dict:
        return MemberPointsSerializer(member_points_representation(member)).data

    @extend_schema_field(NextTierSerializer(allow_null=True))
    def get_next_tier(self, member: Member) -> dict | None:
        progress = next_tier_representation(member)
        return None if progress is None else NextTierSerializer(progress).data


class TransactionSerializer(serializers.ModelSerializer):
    """One line of a member's points history."""

    kind = serializers.ChoiceField(choices=TransactionKind.choices)
    points = serializers.IntegerField(help_text="Signed change to the member's available + pending points.")
    balance_after = serializers.IntegerField(help_text="Available + pending points after this transaction.")
    reason = serializers.CharField(source="reason_text", help_text="Readable reason, in the request's language.")

    class Meta:
        model = LedgerTransaction
        fields = ["id", "kind", "points", "balance_after", "occurred_at", "reason", "reference"]
        read_only_fields = fields
