"""Sealing secret choices until the ballot closes: pure functions, stdlib only.

A choice is sealed with a per-ballot data key (HMAC-SHA256 in counter mode as
the keystream, then an HMAC-SHA256 tag: encrypt-then-MAC). The data key is
kept only wrapped under the service's secret and is erased at close (or void),
so the sealed rows left behind, and their old row versions, can no longer be
opened by anyone, even with the database and the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


class SealBroken(ValueError):
    """The sealed text was altered or sealed under another key."""


def _subkeys(key: bytes) -> tuple[bytes, bytes]:
    return (hmac.new(key, b"pingyi-seal-enc", hashlib.sha256).digest(),
            hmac.new(key, b"pingyi-seal-mac", hashlib.sha256).digest())


def _keystream(enc_key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = []
    for counter in range((length + 31) // 32):
        blocks.append(hmac.new(enc_key, nonce + counter.to_bytes(4, "big"), hashlib.sha256).digest())
    return b"".join(blocks)[:length]


def seal(key: bytes, plaintext: bytes) -> str:
    enc_key, mac_key = _subkeys(key)
    nonce = secrets.token_bytes(16)
    body = bytes(a ^ b for a, b in zip(plaintext, _keystream(enc_key, nonce, len(plaintext)), strict=True))
    tag = hmac.new(mac_key, nonce + body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(nonce + tag + body).decode("ascii")


def unseal(key: bytes, sealed: str) -> bytes:
    raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
    nonce, tag, body = raw[:16], raw[16:48], raw[48:]
    enc_key, mac_key = _subkeys(key)
    if not hmac.compare_digest(tag, hmac.new(mac_key, nonce + body, hashlib.sha256).digest()):
        raise SealBroken("sealed text does not match its key")
    return bytes(a ^ b for a, b in zip(body, _keystream(enc_key, nonce, len(body)), strict=True))


def server_key(secret: str, purpose: str) -> bytes:
    """A key for one purpose derived from a configured secret."""
    return hmac.new(secret.encode("utf-8"), purpose.encode("utf-8"), hashlib.sha256).digest()


def new_data_key() -> bytes:
    return secrets.token_bytes(32)
