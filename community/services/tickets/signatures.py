"""Signed tickets: the compact token in every ticket's QR code, and how it is verified.

A token is 99 bytes, written in unpadded RFC 4648 base32 (159 characters). Base32 uses
only characters of the QR alphanumeric set, which packs 5.5 bits per character instead of
8, so a token fits a version 7 code at error level M (45 x 45 modules): see `qr`.

    byte 0        format version (1)
    bytes 1-2     key id: the first two bytes of SHA-256 over the raw public key
    bytes 3-18    event id (UUID)
    bytes 19-34   registration id (UUID)
    bytes 35-98   Ed25519 signature over CONTEXT + bytes 0-34

Ed25519 lets a door device verify with the public key alone. The private key is derived
from SECRET_KEY with HKDF, so every web process and host has the same key with nothing
to copy around; changing SECRET_KEY therefore re-keys every ticket.

What verification tells apart: `malformed` (not one of our tokens at all), `forged`
(signed by a key that is not ours), `altered` (claims our key, but the signature does not
match what it says: a genuine ticket with changed bytes, or a forger copying our key id),
and `other_event`.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT_VERSION = 1
CONTEXT = b"community-ticket"  # signed in front of the payload: this key signs tickets only
_HKDF_INFO = b"community/ticket-signing-key/v1"
_PAYLOAD_LENGTH = 1 + 2 + 16 + 16
_SIGNATURE_LENGTH = 64
TOKEN_BYTES = _PAYLOAD_LENGTH + _SIGNATURE_LENGTH
TOKEN_LENGTH = (TOKEN_BYTES * 8 + 4) // 5  # base32 characters without padding
_BASE32 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")

Reason = Literal["malformed", "forged", "altered", "other_event"]


@dataclass(frozen=True, slots=True)
class Ticket:
    event_id: UUID
    registration_id: UUID


class TicketError(Exception):
    """A token that must not admit anyone; `reason` says why in one word."""

    MESSAGES: dict[str, str] = {
        "malformed": "This is not a ticket from this dashboard.",
        "forged": "Forged ticket: it was not signed by this dashboard.",
        "altered": "Altered ticket: its contents do not match its signature.",
        "other_event": "This ticket is for another event.",
    }

    def __init__(self, reason: Reason, ticket: Ticket | None = None) -> None:
        super().__init__(self.MESSAGES[reason])
        self.reason: Reason = reason
        self.ticket = ticket  # known only for other_event


# Base32 digits as the digits of int(..., 32): the whole token is decoded in C (the base64
# module's b32decode is Python code, a fair share of a door scan's CPU).
_AS_INT_DIGITS = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghijklmnopqrstuv"
)
_UNUSED_BITS = TOKEN_LENGTH * 5 - TOKEN_BYTES * 8


def _decode(token: str) -> bytes:
    text = token.strip().upper()
    if len(text) != TOKEN_LENGTH or not _BASE32.issuperset(text):
        raise TicketError("malformed")
    value = int(text.translate(_AS_INT_DIGITS), 32)
    # The last character carries three unused bits; only the canonical spelling is a ticket.
    if value & ((1 << _UNUSED_BITS) - 1):
        raise TicketError("malformed")
    return (value >> _UNUSED_BITS).to_bytes(TOKEN_BYTES, "big")


class TicketSigner:
    """Signs and verifies tickets with the installation's Ed25519 key."""

    def __init__(self, secret_key: str) -> None:
        seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
            secret_key.encode()
        )
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self._public = self._private.public_key()
        self.public_key: bytes = self._public.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id: bytes = hashlib.sha256(self.public_key).digest()[:2]

    def sign(self, event_id: UUID, registration_id: UUID) -> str:
        payload = bytes([FORMAT_VERSION]) + self.key_id + event_id.bytes + registration_id.bytes
        signature = self._private.sign(CONTEXT + payload)
        return base64.b32encode(payload + signature).decode().rstrip("=")

    def verify(self, token: str) -> Ticket:
        raw = _decode(token)
        if raw[0] != FORMAT_VERSION:
            raise TicketError("malformed")
        if raw[1:3] != self.key_id:
            raise TicketError("forged")
        payload, signature = raw[:_PAYLOAD_LENGTH], raw[_PAYLOAD_LENGTH:]
        try:
            self._public.verify(signature, CONTEXT + payload)
        except InvalidSignature:
            raise TicketError("altered") from None
        return Ticket(event_id=UUID(bytes=raw[3:19]), registration_id=UUID(bytes=raw[19:35]))

    def verify_for_event(self, token: str, event_id: UUID) -> Ticket:
        ticket = self.verify(token)
        if ticket.event_id != event_id:
            raise TicketError("other_event", ticket)
        return ticket

    def public_info(self) -> dict[str, str | int]:
        """What a door device needs to verify tickets offline; nothing secret."""
        return {
            "alg": "Ed25519",
            "format": FORMAT_VERSION,
            "key_id": self.key_id.hex(),
            "public_key": base64.urlsafe_b64encode(self.public_key).decode().rstrip("="),
            "context": CONTEXT.decode(),
        }


@lru_cache(maxsize=4)
def ticket_signer(secret_key: str) -> TicketSigner:
    """The signer for this SECRET_KEY, derived once per process."""
    return TicketSigner(secret_key)
