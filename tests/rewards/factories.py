import factory

from rewards.models import Reward, RewardKind


class RewardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reward

    code = factory.Sequence(lambda n: f"reward-{n}")
    name = factory.Sequence(lambda n: f"Reward {n}")
    kind = RewardKind.FIXED_DISCOUNT
    cost_points = 100
    value = "5.00"
