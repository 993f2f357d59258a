"""Encryption at rest for free text members write (check-in notes, "I need to talk" context).

One column type, `EncryptedText`, used for every such field. Values are Fernet tokens
(AES-128-CBC with an HMAC), so a copy of the database file reveals nothing without the key.
Keys come from the ENCRYPTION_KEY setting: the first key encrypts, every listed key decrypts,
which is what lets a key be rotated without downtime.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Dialect, Text
from sqlalchemy.types import TypeDecorator


class EncryptionKeyMissing(RuntimeError):
    """Encrypted data was read or written before `configure_keys` was called."""


_cipher: MultiFernet | None = None


def generate_key() -> str:
    return Fernet.generate_key().decode()


def is_valid_key(key: str) -> bool:
    try:
        Fernet(key.encode())
    except (ValueError, TypeError):
        return False
    return True


def configure_keys(keys: list[str] | tuple[str, ...]) -> None:
    """Install the keys (newest first). Called once at start, and by tests."""
    global _cipher
    _cipher = MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None


def _require_cipher() -> MultiFernet:
    if _cipher is None:
        raise EncryptionKeyMissing("ENCRYPTION_KEY is not configured")
    return _cipher


def encrypt(plaintext: str) -> str:
    return _require_cipher().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _require_cipher().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise EncryptionKeyMissing(
            "stored text cannot be decrypted with the configured ENCRYPTION_KEY"
        ) from error


class EncryptedText(TypeDecorator[str]):
    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else decrypt(value)


def rotate(token: str) -> str:
    """Re-encrypt a stored token with the newest key (it may have been made with any)."""
    try:
        return _require_cipher().rotate(token.encode()).decode()
    except InvalidToken as error:
        raise EncryptionKeyMissing(
            "stored text cannot be decrypted with any configured ENCRYPTION_KEY"
        ) from error
