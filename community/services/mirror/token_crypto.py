"""Platform tokens are stored encrypted, with a key derived from SECRET_KEY.

Fernet (AES-128-CBC + HMAC-SHA256) authenticates as well as encrypts, so a tampered or
foreign ciphertext is refused instead of decrypting to garbage. HKDF gives this purpose its
own key, so the session/CSRF uses of SECRET_KEY never share key material with it.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"community/platform-tokens/v1"


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted (SECRET_KEY changed, or the value was altered)."""


@lru_cache(maxsize=8)
def _fernet(secret_key: str) -> Fernet:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(raw))


def encrypt(secret_key: str, plaintext: str) -> str:
    """Ciphertext as text for a Text column; an empty secret stays empty (nothing stored)."""
    if not plaintext:
        return ""
    return _fernet(secret_key).encrypt(plaintext.encode()).decode()


def decrypt(secret_key: str, ciphertext: str) -> str:
    if not ciphertext:
        return ""
    try:
        return _fernet(secret_key).decrypt(ciphertext.encode()).decode()
    except (InvalidToken, ValueError) as exc:
        raise SecretUnreadable("A stored platform secret could not be decrypted.") from exc
