"""Amounts are integers in the currency's minor unit; text becomes them without floats."""

from __future__ import annotations

import pytest

from community.services.payments.money import (
    format_amount,
    major_text,
    parse_amount,
    plain_decimal,
)


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12", "EUR", 1200),
        ("12.5", "EUR", 1250),
        ("12,50", "EUR", 1250),
        ("0.10", "USD", 10),
        ("19.99", "GBP", 1999),
        ("1 200", "JPY", 1200),
        ("1.250", "BHD", 1250),
        ("", "EUR", 0),
        # 0.1 + 0.2 is not 0.3 in floats; here it is exact.
        ("0.30", "EUR", 30),
        ("100000", "EUR", 10_000_000),
    ],
)
def test_parse_amount_gives_exact_minor_units(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("12.505", "EUR"),  # a fraction of a cent
        ("12.5", "JPY"),  # yen have no decimals
        ("-1", "EUR"),
        ("NaN", "EUR"),
        ("Infinity", "EUR"),
        ("1e3", "EUR"),  # accepted by Decimal, but 1000.00 is fine: see below
        ("twelve", "EUR"),
        ("100000.01", "EUR"),
    ],
)
def test_parse_amount_refuses_what_cannot_be_charged(text: str, currency: str) -> None:
    if text == "1e3":
        assert parse_amount(text, currency) == 100_000
        return
    assert parse_amount(text, currency) is None


def test_amounts_read_back_as_people_write_them() -> None:
    assert format_amount(1250, "EUR") == "€12.50"
    assert format_amount(1500, "EUR") == "€15"
    assert format_amount(800, "gbp") == "£8"
    assert format_amount(1200, "JPY") == "¥1,200"
    assert format_amount(123456, "SEK") == "1,234.56 SEK"
    assert major_text(100_000_00, "USD") == "100,000"
    assert plain_decimal(1500, "EUR") == "15.00"
    assert plain_decimal(1200, "JPY") == "1200"
    assert plain_decimal(1250, "BHD") == "1.250"
