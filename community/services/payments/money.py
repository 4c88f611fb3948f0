"""Amounts of money: integers in the currency's minor unit (cents), never floats.

Text a person typed ("12", "12.50", "12,5") becomes minor units with Decimal; minor units
become text the same way. The number of decimals is the currency's own (ISO 4217): none for
yen, three for the Bahraini dinar, two for most.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Currencies whose minor unit is not the hundredth (the ones Stripe charges in).
ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])
SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$", "JPY": "¥", "CHF": "CHF "}
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
# The largest price an organiser may set, in major units (a ticket, not a car).
MAX_MAJOR = 100_000


def decimals(currency: str) -> int:
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def parse_amount(text: str, currency: str) -> int | None:
    """'12', '12.5', '12,50' -> minor units; '' -> 0; None when unreadable, negative, too
    large or more precise than the currency allows."""
    text = text.strip().replace(" ", "").replace("\u00a0", "")
    if not text:
        return 0
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount > MAX_MAJOR:
        return None
    places = decimals(currency)
    exponent = amount.as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -places:
        return None
    return int(amount.scaleb(places))


def major_text(minor: int, currency: str, *, grouped: bool = True) -> str:
    """12.50 for 1250 EUR, 1,200 for 1200 JPY; whole amounts lose their '.00'."""
    places = decimals(currency)
    amount = Decimal(minor).scaleb(-places)
    text = f"{amount:,.{places}f}" if grouped else f"{amount:.{places}f}"
    if places and text.endswith("." + "0" * places):
        text = text[: -(places + 1)]
    return text


def plain_decimal(minor: int, currency: str) -> str:
    """The amount with all its decimals and no grouping: schema.org offers, CSV files."""
    places = decimals(currency)
    return f"{Decimal(minor).scaleb(-places):.{places}f}"


def format_amount(minor: int, currency: str) -> str:
    """€12.50, £8, 1,200 JPY: what people read on pages, e-mails and the admin."""
    code = currency.upper()
    text = major_text(minor, code)
    symbol = SYMBOLS.get(code)
    return f"{symbol}{text}" if symbol else f"{text} {code}"
