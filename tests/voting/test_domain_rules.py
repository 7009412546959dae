"""Pure rules: the yes/no/abstain pass rule and sealing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.voting.domain.seal import SealBroken, new_data_key, seal, server_key, unseal
from services.voting.domain.tally import tally_question


def test_tally_question_hand_computed():
    result = tally_question(["yes"] * 5 + ["no"] * 3 + ["abstain"], basis="members_total", members_total=9, present=9)
    assert result.counts == {"yes": 5, "no": 3, "abstain": 1}
    assert (result.votes_cast, result.base, result.passed) == (9, 9, True)
    assert not tally_question(["yes"] * 4, basis="members_total", members_total=8, present=8).passed
    assert tally_question(["yes"] * 4, basis="votes_cast", members_total=8, present=8).passed
    assert not tally_question([], basis="votes_cast", members_total=8, present=8).passed


@given(yes=st.integers(0, 40), no=st.integers(0, 40), abstain=st.integers(0, 40), extra=st.integers(0, 40),
       basis=st.sampled_from(["members_total", "present", "votes_cast"]))
def test_passes_exactly_when_yes_is_more_than_half_of_the_base(yes, no, abstain, extra, basis):
    cast = yes + no + abstain
    present, members = cast + extra // 2, cast + extra
    result = tally_question(["yes"] * yes + ["no"] * no + ["abstain"] * abstain, basis=basis, members_total=members, present=present)
    base = {"members_total": members, "present": present, "votes_cast": cast}[basis]
    assert result.passed == (yes > base / 2)


@given(st.binary(max_size=300), st.binary(max_size=40))
def test_seal_round_trip(plaintext, ballot_id):
    key = new_data_key()
    assert unseal(key, seal(key, plaintext, associated_data=ballot_id), associated_data=ballot_id) == plaintext


def test_seal_refuses_another_key_another_ballot_and_tampering():
    key = new_data_key()
    sealed = seal(key, b'{"choice": "unsatisfied"}', associated_data=b"ballot-a")
    assert sealed.startswith("v2:")
    assert seal(key, b"same", associated_data=b"a") != seal(key, b"same", associated_data=b"a")  # fresh nonce
    with pytest.raises(SealBroken):
        unseal(new_data_key(), sealed, associated_data=b"ballot-a")
    # The same key, but bound to another ballot: a row moved between ballots does not open.
    with pytest.raises(SealBroken):
        unseal(key, sealed, associated_data=b"ballot-b")
    raw = bytearray(base64.urlsafe_b64decode(sealed.removeprefix("v2:")))
    raw[-1] ^= 0x01  # flip one bit of the tag
    with pytest.raises(SealBroken):
        unseal(key, "v2:" + base64.urlsafe_b64encode(bytes(raw)).decode(), associated_data=b"ballot-a")


def legacy_seal(key: bytes, plaintext: bytes) -> str:
    """The format sealed before AES-GCM (issue 13), pinned here to prove it is still read."""
    enc_key = hmac.new(key, b"pingyi-seal-enc", hashlib.sha256).digest()
    mac_key = hmac.new(key, b"pingyi-seal-mac", hashlib.sha256).digest()
    nonce = os.urandom(16)
    stream = b"".join(hmac.new(enc_key, nonce + i.to_bytes(4, "big"), hashlib.sha256).digest()
                      for i in range((len(plaintext) + 31) // 32))
    body = bytes(a ^ b for a, b in zip(plaintext, stream[: len(plaintext)], strict=True))
    tag = hmac.new(mac_key, nonce + body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(nonce + tag + body).decode("ascii")


def test_values_sealed_before_the_upgrade_still_open():
    key = new_data_key()
    old = legacy_seal(key, b'{"choice": "satisfied"}')
    assert unseal(key, old, associated_data=b"any") == b'{"choice": "satisfied"}'
    with pytest.raises(SealBroken):
        unseal(new_data_key(), old, associated_data=b"any")


def test_server_keys_are_derived_with_hkdf_one_per_purpose():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    expected = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"pingyi:wrap").derive(b"s" * 32)
    assert server_key("s" * 32, "wrap") == expected
    assert server_key("s" * 32, "wrap") != server_key("s" * 32, "other")
