"""Pure rules: the yes/no/abstain pass rule and sealing."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.voting.domain.seal import SealBroken, new_data_key, seal, unseal
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


@given(st.binary(max_size=300))
def test_seal_round_trip(plaintext):
    key = new_data_key()
    assert unseal(key, seal(key, plaintext)) == plaintext


def test_seal_refuses_another_key_and_tampering():
    key = new_data_key()
    sealed = seal(key, b'{"choice": "unsatisfied"}')
    assert seal(key, b"same") != seal(key, b"same")  # fresh nonce each time
    with pytest.raises(SealBroken):
        unseal(new_data_key(), sealed)
    raw = bytearray(base64.urlsafe_b64decode(sealed))
    raw[-1] ^= 0x01  # flip one bit of the sealed body
    with pytest.raises(SealBroken):
        unseal(key, base64.urlsafe_b64encode(bytes(raw)).decode())
