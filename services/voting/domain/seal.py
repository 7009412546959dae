"""Sealing secret choices until the ballot closes: pure functions.

A choice is sealed with AES-256-GCM (`cryptography`) under a per-ballot data
key, with the ballot's id as associated data: a sealed row copied into
another ballot does not open, even under the same key. The data key is kept
only wrapped (sealed the same way) under a key derived from the service's
secret with HKDF-SHA256, and is erased at close (or void), so the sealed rows
left behind, and their old row versions, can no longer be opened by anyone,
even with the database and the secret.

Sealed text reads `v2:<base64url(nonce ‖ ciphertext ‖ tag)>`. Text without
the prefix is the format before it (HMAC-SHA256 keystream and tag, bare-HMAC
key derivation): ballots open during the upgrade were sealed that way, so it
is still read (`unseal`, `server_key_v1`), never written. Once every ballot
opened before the upgrade has closed, the reader can go.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "v2:"
NONCE_BYTES = 12  # random per seal: a ballot seals thousands of values at most under one key


class SealBroken(ValueError):
    """The sealed text was altered, sealed under another key, or for another ballot."""


def seal(key: bytes, plaintext: bytes, *, associated_data: bytes) -> str:
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext, associated_data)
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def unseal(key: bytes, sealed: str, *, associated_data: bytes) -> bytes:
    """Open a sealed value; `associated_data` must be what it was sealed with."""
    if not is_current(sealed):
        return _unseal_v1(key, sealed)
    try:
        raw = base64.urlsafe_b64decode(sealed[len(PREFIX):].encode("ascii"))
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data)
    except (InvalidTag, ValueError) as exc:
        raise SealBroken("sealed text does not match its key or ballot") from exc


def is_current(sealed: str) -> bool:
    return sealed.startswith(PREFIX)


def server_key(secret: str, purpose: str) -> bytes:
    """A 256-bit key for one purpose derived from a configured secret (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"pingyi:{purpose}".encode()).derive(
        secret.encode("utf-8"))


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


# --- the format before `v2:`, read only ------------------------------------------


def server_key_v1(secret: str, purpose: str) -> bytes:
    """How keys were derived before HKDF: wrapped keys of ballots opened before the upgrade need it."""
    return hmac.new(secret.encode("utf-8"), purpose.encode("utf-8"), hashlib.sha256).digest()


def _unseal_v1(key: bytes, sealed: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
    except ValueError as exc:
        raise SealBroken("sealed text is not base64") from exc
    nonce, tag, body = raw[:16], raw[16:48], raw[48:]
    enc_key = hmac.new(key, b"pingyi-seal-enc", hashlib.sha256).digest()
    mac_key = hmac.new(key, b"pingyi-seal-mac", hashlib.sha256).digest()
    if len(raw) < 48 or not hmac.compare_digest(tag, hmac.new(mac_key, nonce + body, hashlib.sha256).digest()):
        raise SealBroken("sealed text does not match its key")
    stream = b"".join(hmac.new(enc_key, nonce + i.to_bytes(4, "big"), hashlib.sha256).digest()
                      for i in range((len(body) + 31) // 32))
    return bytes(a ^ b for a, b in zip(body, stream[: len(body)], strict=True))
