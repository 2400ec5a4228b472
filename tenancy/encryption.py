"""Encryption at rest of personal data (PIPL art. 51), and the blind indexes that find it.

Values are sealed with AES-256-GCM: `enc1:<key id>:<base64 of nonce + ciphertext + tag>`.
The key id travels with every value, so a rotation (`manage.py rotate_field_keys`) can
re-encrypt rows in batches while the site reads both generations. The column's name is the
associated data: a value copied into another column (a name pasted over a phone) fails
authentication instead of being read as something it is not.

Keys come from the environment (crm_site/settings.py):
- FIELD_ENCRYPTION_KEYS: `kid:base64key,kid:base64key`, newest first; the first encrypts,
  all of them decrypt.
- FIELD_BLIND_INDEX_KEY: base64 HMAC key for the blind indexes (phone, name). It is not
  rotated with the encryption keys: every index value would change at once.

A value that cannot be decrypted (unknown key id, wrong key, tampered text) is never shown
as if it were data: it is read as an `Unreadable` placeholder ("无法读取") and logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext

logger = logging.getLogger(__name__)

PREFIX = "enc1:"
_NONCE_BYTES = 12
_KEY_BYTES = 32
# 16 bytes of HMAC-SHA256 as hex: collisions are out of reach at any member count, and the
# index stays half the size of the full digest.
BLIND_INDEX_LENGTH = 32


class Unreadable(str):
    """What an encrypted field reads when its value cannot be decrypted.

    The text is "无法读取" ("Cannot be read", in the reader's language) wherever the value is
    shown; the stored text is kept so that saving the row again writes it back unchanged
    instead of encrypting the placeholder over the member's data.
    """

    stored: str

    def __new__(cls, stored: str) -> Unreadable:
        self = super().__new__(cls, gettext("Cannot be read"))
        self.stored = stored
        return self

    def __getitem__(self, item) -> Unreadable:
        # A slice of the placeholder is the placeholder (masks take [:3] and [-4:]).
        return self

    def __repr__(self) -> str:
        return "Unreadable()"


@dataclass(frozen=True)
class Keyring:
    current_id: str
    keys: dict[str, bytes]
    blind_index_key: bytes


def _decode_key(text: str, what: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured(f"{what} is not valid base64.") from exc
    if len(key) != _KEY_BYTES:
        raise ImproperlyConfigured(
            f"{what} must be {_KEY_BYTES} bytes (base64 of 32 random bytes)."
        )
    return key


def parse_keyring(keys: list[str], blind_index_key: str) -> Keyring:
    """The keyring from the settings' text; ImproperlyConfigured names what is wrong."""
    if not keys:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS is empty: set it to `kid:base64key` (newest first)."
        )
    parsed: dict[str, bytes] = {}
    for entry in keys:
        kid, sep, text = entry.strip().partition(":")
        if not sep or not kid or not kid.isalnum():
            raise ImproperlyConfigured(
                "FIELD_ENCRYPTION_KEYS entries are `kid:base64key`, the key id letters and "
                "digits only."
            )
        if kid in parsed:
            raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS names key id {kid!r} twice.")
        parsed[kid] = _decode_key(text, f"FIELD_ENCRYPTION_KEYS key {kid!r}")
    if not blind_index_key:
        raise ImproperlyConfigured("FIELD_BLIND_INDEX_KEY is empty.")
    first = keys[0].strip().partition(":")[0]
    return Keyring(first, parsed, _decode_key(blind_index_key, "FIELD_BLIND_INDEX_KEY"))


@lru_cache(maxsize=4)
def _keyring_for(keys: tuple[str, ...], blind_index_key: str) -> Keyring:
    return parse_keyring(list(keys), blind_index_key)


def keyring() -> Keyring:
    """The keyring of the current settings (cached per settings value, so tests that
    override the settings get theirs)."""
    return _keyring_for(tuple(settings.FIELD_ENCRYPTION_KEYS), settings.FIELD_BLIND_INDEX_KEY)


@lru_cache(maxsize=16)
def _cipher(key: bytes) -> AESGCM:
    return AESGCM(key)


def encrypt(plaintext: str, *, context: str, ring: Keyring | None = None) -> str:
    """Seal `plaintext` under the current key; `context` (table.column) is authenticated."""
    ring = ring or keyring()
    nonce = os.urandom(_NONCE_BYTES)
    sealed = _cipher(ring.keys[ring.current_id]).encrypt(
        nonce, plaintext.encode("utf-8"), context.encode("ascii")
    )
    return f"{PREFIX}{ring.current_id}:{base64.b64encode(nonce + sealed).decode('ascii')}"


class DecryptionError(ValueError):
    pass


def decrypt(stored: str, *, context: str, ring: Keyring | None = None) -> str:
    """The plaintext of a sealed value; DecryptionError when it cannot be opened."""
    ring = ring or keyring()
    if not stored.startswith(PREFIX):
        raise DecryptionError("not an encrypted value")
    kid, sep, body = stored[len(PREFIX) :].partition(":")
    key = ring.keys.get(kid)
    if not sep or key is None:
        raise DecryptionError(f"unknown key id {kid!r}")
    try:
        raw = base64.b64decode(body, validate=True)
        plain = _cipher(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
    except (binascii.Error, ValueError, InvalidTag) as exc:
        raise DecryptionError(f"key {kid!r} does not open it") from exc
    return plain.decode("utf-8")


def key_id_of(stored: str) -> str | None:
    """The key id a stored value was sealed with; None for a value that is not sealed."""
    if not stored.startswith(PREFIX):
        return None
    return stored[len(PREFIX) :].partition(":")[0]


def open_or_placeholder(stored: str, *, context: str) -> str:
    """The plaintext, or an Unreadable placeholder (logged) when it cannot be decrypted."""
    try:
        return decrypt(stored, context=context)
    except DecryptionError as exc:
        # Only the column and the reason: never the stored text or any part of a value.
        logger.error("Encrypted value in %s cannot be read: %s", context, exc)
        return Unreadable(stored)


def normalise_name(name: str) -> str:
    """The form of a name that its blind index hashes: NFKC, trimmed, spaces collapsed,
    case-folded, so "王芳 ", "王　芳" typed with a full-width space and "王芳" meet."""
    text = unicodedata.normalize("NFKC", name or "")
    return "".join(text.split()).casefold()


def blind_index(value: str, *, purpose: str, ring: Keyring | None = None) -> str:
    """Keyed hash (HMAC-SHA256, truncated) of `value` for an equality lookup; `purpose`
    separates the indexes so equal texts in two columns do not hash alike."""
    ring = ring or keyring()
    digest = hmac.new(
        ring.blind_index_key, f"{purpose}\x00{value}".encode(), hashlib.sha256
    ).hexdigest()
    return digest[:BLIND_INDEX_LENGTH]


def phone_index(phone: str | None) -> str | None:
    """The blind index of a normalised phone (11 digits); None without a phone."""
    return blind_index(phone, purpose="phone") if phone else None


def name_index(name: str | None) -> str:
    """The blind index of a name (normalised); "" without a name."""
    normalised = normalise_name(name or "")
    return blind_index(normalised, purpose="name") if normalised else ""
