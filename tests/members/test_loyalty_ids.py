"""Loyalty IDs: 16-digit card numbers with a Luhn check digit, unique per member."""

import pytest

from loyalty.models import AccountKind
from members.loyalty_ids import LOYALTY_ID_LENGTH, generate_loyalty_id, is_valid_loyalty_id, luhn_check_digit
from members.models import Member
from members.services import MemberExists, member_create

# Published Luhn-valid 16-digit test card numbers.
KNOWN_VALID = ["4111111111111111", "5555555555554444", "4012888888881881", "6011111111111117", "5105105105105100"]


def test_luhn_check_digit_of_the_textbook_example():
    assert luhn_check_digit("7992739871") == "3"  # 79927398713


@pytest.mark.parametrize("number", KNOWN_VALID)
def test_known_card_numbers_are_valid(number):
    assert luhn_check_digit(number[:-1]) == number[-1]
    assert is_valid_loyalty_id(number)


def test_textbook_example_padded_to_sixteen_digits():
    # Leading zeros do not change a Luhn sum, so 79927398713 padded to 16 digits stays valid.
    assert is_valid_loyalty_id("00000" + "79927398713")
    assert not is_valid_loyalty_id("00000" + "79927398710")


@pytest.mark.parametrize(
    "value",
    ["4111111111111112", "411111111111111", "41111111111111111", "411111111111111a", "", "4111 1111 1111 1111"],
)
def test_wrong_check_digit_length_or_characters_are_invalid(value):
    assert not is_valid_loyalty_id(value)


@pytest.mark.parametrize("number", KNOWN_VALID)
def test_every_single_digit_change_is_detected(number):
    for position in range(LOYALTY_ID_LENGTH):
        for digit in "0123456789":
            if digit == number[position]:
                continue
            changed = number[:position] + digit + number[position + 1:]
            assert not is_valid_loyalty_id(changed), changed


def test_adjacent_transpositions_are_mostly_detected():
    """Luhn catches every swap of two adjacent different digits except 09 <-> 90."""
    number = "4012888888881881"
    for position in range(LOYALTY_ID_LENGTH - 1):
        a, b = number[position], number[position + 1]
        if a == b or {a, b} == {"0", "9"}:
            continue
        swapped = number[:position] + b + a + number[position + 2:]
        assert not is_valid_loyalty_id(swapped), swapped


def test_generated_ids_are_always_valid_sixteen_digits():
    ids = [generate_loyalty_id() for _ in range(2000)]
    for value in ids:
        assert len(value) == 16 and value.isdigit() and value[0] == "9"
        assert is_valid_loyalty_id(value)
    assert len(set(ids)) == len(ids)
    assert {value[-1] for value in ids} == set("0123456789")  # the check digit really varies


@pytest.mark.django_db
def test_member_create_gives_valid_unique_ids_and_accounts():
    members = [member_create(email=f"m{i}@example.com") for i in range(25)]
    ids = [m.loyalty_id for m in members]
    assert all(is_valid_loyalty_id(value) for value in ids)
    assert len(set(ids)) == 25
    assert len({m.referral_code for m in members}) == 25
    for member in members:
        kinds = sorted(member.ledger_accounts.values_list("kind", flat=True))
        assert kinds == sorted([AccountKind.AVAILABLE, AccountKind.PENDING])


@pytest.mark.django_db
def test_member_create_redraws_on_loyalty_id_collision(monkeypatch):
    first = member_create(email="first@example.com")
    fresh = "900000000000000" + luhn_check_digit("900000000000000")
    drawn = iter([first.loyalty_id, first.loyalty_id, fresh])
    monkeypatch.setattr("members.services.generate_loyalty_id", lambda: next(drawn))
    second = member_create(email="second@example.com")
    assert second.loyalty_id == fresh
    assert is_valid_loyalty_id(second.loyalty_id)
    assert Member.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("duplicate", ["Ann@Example.com", "ann@example.com", "  ANN@EXAMPLE.COM  "])
def test_member_exists_on_case_insensitive_duplicate_email(duplicate):
    original = member_create(email="ann@example.com", first_name="Ann")
    with pytest.raises(MemberExists) as excinfo:
        member_create(email=duplicate, first_name="Other")
    assert excinfo.value.member == original
    assert excinfo.value.code == "member_exists"
    assert Member.objects.count() == 1


@pytest.mark.django_db
def test_member_create_stores_the_trimmed_email():
    member = member_create(email="  Bob@Example.com ")
    assert member.email == "Bob@Example.com"
