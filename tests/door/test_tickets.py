"""Signed tickets: the token format, what verification tells apart, and its QR size."""

from __future__ import annotations

import base64
import re
from uuid import uuid4

import pytest
import segno
from hypothesis import given
from hypothesis import strategies as st

from community.services.tickets.qr import ticket_qr
from community.services.tickets.signatures import (
    TOKEN_LENGTH,
    Ticket,
    TicketError,
    TicketSigner,
    ticket_signer,
)

SECRET = "test-secret-" + "k" * 40
OTHER_SECRET = "another-installation-" + "z" * 40
QR_ALPHANUMERIC = re.compile(r"^[0-9A-Z $%*+\-./:]+$")


@pytest.fixture
def signer() -> TicketSigner:
    return ticket_signer(SECRET)


def _flip(token: str, byte_index: int) -> str:
    raw = bytearray(base64.b32decode(token + "=" * (-len(token) % 8)))
    raw[byte_index] ^= 0x01
    return base64.b32encode(bytes(raw)).decode().rstrip("=")


def test_round_trip_names_the_event_and_the_registration(signer: TicketSigner) -> None:
    event_id, registration_id = uuid4(), uuid4()
    token = signer.sign(event_id, registration_id)
    ticket = signer.verify(token)
    assert ticket == Ticket(event_id=event_id, registration_id=registration_id)
    # Same inputs, same token: a ticket can be re-rendered at any time without storing it.
    assert signer.sign(event_id, registration_id) == token


def test_token_is_short_and_uses_the_qr_alphanumeric_alphabet(signer: TicketSigner) -> None:
    token = signer.sign(uuid4(), uuid4())
    assert len(token) == TOKEN_LENGTH == 159
    assert QR_ALPHANUMERIC.match(token)
    qr = segno.make(token, error="m", mode="alphanumeric", micro=False)
    # Alphanumeric mode at error level M fits in version 7 (45 x 45 modules): a small code.
    assert qr.mode == "alphanumeric"
    assert qr.designator == "7-M"
    assert ticket_qr(token).version == 7 and len(ticket_qr(token).matrix) == 45
    # Byte mode (base64) would need version 8: the base32 choice is what keeps it small.
    b64 = base64.urlsafe_b64encode(base64.b32decode(token + "=" * (-len(token) % 8)))
    assert segno.make(b64.decode().rstrip("="), error="m").version > qr.version


def test_lower_case_and_surrounding_whitespace_still_verify(signer: TicketSigner) -> None:
    event_id, registration_id = uuid4(), uuid4()
    token = signer.sign(event_id, registration_id)
    assert signer.verify(f"  {token.lower()}\n").registration_id == registration_id


@pytest.mark.parametrize("byte_index", [3, 10, 18, 19, 30, 34, 35, 60, 98])
def test_any_altered_byte_is_refused_as_altered(signer: TicketSigner, byte_index: int) -> None:
    token = signer.sign(uuid4(), uuid4())
    with pytest.raises(TicketError) as caught:
        signer.verify(_flip(token, byte_index))
    assert caught.value.reason == "altered"


@pytest.mark.parametrize("byte_index", [1, 2])
def test_altered_key_id_reads_as_an_unknown_signer(signer: TicketSigner, byte_index: int) -> None:
    token = signer.sign(uuid4(), uuid4())
    with pytest.raises(TicketError) as caught:
        signer.verify(_flip(token, byte_index))
    assert caught.value.reason == "forged"


def test_ticket_signed_by_another_key_is_forged(signer: TicketSigner) -> None:
    forger = ticket_signer(OTHER_SECRET)
    assert forger.public_key != signer.public_key
    token = forger.sign(uuid4(), uuid4())
    with pytest.raises(TicketError) as caught:
        signer.verify(token)
    assert caught.value.reason == "forged"


def test_ticket_for_another_event_is_told_apart(signer: TicketSigner) -> None:
    event_id, other_event = uuid4(), uuid4()
    token = signer.sign(other_event, uuid4())
    with pytest.raises(TicketError) as caught:
        signer.verify_for_event(token, event_id)
    assert caught.value.reason == "other_event"
    assert caught.value.ticket is not None and caught.value.ticket.event_id == other_event
    assert signer.verify_for_event(token, other_event).event_id == other_event


def test_unsupported_format_version_is_malformed(signer: TicketSigner) -> None:
    token = signer.sign(uuid4(), uuid4())
    with pytest.raises(TicketError) as caught:
        signer.verify(_flip(token, 0))
    assert caught.value.reason == "malformed"


@pytest.mark.parametrize(
    "text",
    ["", "hello", "https://example.com/e/abc", "A" * 158, "A" * 160, "1" * 159, "A" * 5000],
)
def test_things_that_are_not_tickets_are_malformed(signer: TicketSigner, text: str) -> None:
    with pytest.raises(TicketError) as caught:
        signer.verify(text)
    assert caught.value.reason == "malformed"


@given(st.text(max_size=300))
def test_arbitrary_text_only_ever_yields_a_ticket_error(text: str) -> None:
    signer = ticket_signer(SECRET)
    with pytest.raises(TicketError):
        signer.verify(text)


def test_key_is_derived_from_the_secret_key_only() -> None:
    # Every web process (and every host) derives the same key: no key file to share.
    assert ticket_signer(SECRET).public_key == TicketSigner(SECRET).public_key
    assert ticket_signer(SECRET).key_id == TicketSigner(SECRET).key_id
    assert TicketSigner(OTHER_SECRET).public_key != TicketSigner(SECRET).public_key


def test_published_key_is_the_raw_ed25519_public_key(signer: TicketSigner) -> None:
    info = signer.public_info()
    assert info["alg"] == "Ed25519"
    raw = base64.urlsafe_b64decode(info["public_key"] + "=" * (-len(info["public_key"]) % 4))
    assert len(raw) == 32 and raw == signer.public_key
    assert info["key_id"] == signer.key_id.hex()
    assert info["format"] == 1
    assert info["context"] == "community-ticket"


def test_only_the_canonical_spelling_verifies(signer: TicketSigner) -> None:
    token = signer.sign(uuid4(), uuid4())
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    last = alphabet.index(token[-1])
    # The final character's low three bits are padding; setting one must not yield a twin.
    twin = token[:-1] + alphabet[last ^ 0b001]
    with pytest.raises(TicketError) as caught:
        signer.verify(twin)
    assert caught.value.reason == "malformed"
