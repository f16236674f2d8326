"""Loyalty IDs: 16-digit card numbers whose last digit is a Luhn check digit."""

import secrets

LOYALTY_ID_LENGTH = 16


def luhn_check_digit(body: str) -> str:
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:  # doubled: these sit at odd positions once the check digit is appended
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def is_valid_loyalty_id(value: str) -> bool:
    if len(value) != LOYALTY_ID_LENGTH or not value.isdigit():
        return False
    return luhn_check_digit(value[:-1]) == value[-1]


def generate_loyalty_id() -> str:
    """A random card number (first digit 9, as for private-label cards) with its check digit."""
    body = "9" + "".join(str(secrets.randbelow(10)) for _ in range(LOYALTY_ID_LENGTH - 2))
    return body + luhn_check_digit(body)
