import factory

from members.models import Member, User
from members.services import member_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.django.Password("correct horse battery")


class MemberFactory(factory.Factory):
    """Members are created through the real service so that their ledger accounts exist."""

    class Meta:
        model = Member

    email = factory.Sequence(lambda n: f"member{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")

    @classmethod
    def _create(cls, model_class, **kwargs):
        return member_create(**kwargs)

    @classmethod
    def _build(cls, model_class, **kwargs):
        return model_class(**kwargs)
