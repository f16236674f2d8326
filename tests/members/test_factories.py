import pytest

from tests.factories import UserFactory


@pytest.mark.django_db
def test_user_factory_password_saved():
    user = UserFactory()
    user.refresh_from_db()
    assert user.check_password("correct horse battery")
