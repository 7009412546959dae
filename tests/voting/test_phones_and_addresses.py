"""Pure rules: mainland mobiles to E.164 and masked for logs; the client address behind
trusted proxies (X-Forwarded-For and RFC 7239 Forwarded)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.voting.domain.phones import NotAMainlandMobile, mask_phone, normalise_mainland_mobile
from shared.web.forwarded import client_host, parse_trusted_proxies

FULL_WIDTH = str.maketrans("0123456789+", "０１２３４５６７８９＋")


@given(number=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), prefix=st.sampled_from(["", "+86", "0086", "+86 ", "0086-"]),
       separator=st.sampled_from(["", " ", "-", "\u3000"]), full_width=st.booleans())
def test_every_spelling_normalises_to_one_e164(number, prefix, separator, full_width):
    typed = prefix + separator.join([number[:3], number[3:7], number[7:]])
    if full_width:
        typed = typed.translate(FULL_WIDTH)
    assert normalise_mainland_mobile(typed) == "+86" + number


@pytest.mark.parametrize("typed, names", [
    ("139\u200b00002222", "ZERO WIDTH SPACE"), ("\u200e13900002222", "LEFT-TO-RIGHT MARK"),
    ("1390000222O", "LATIN CAPITAL LETTER O"), ("139\ufeff00002222", "ZERO WIDTH NO-BREAK SPACE"),
])
def test_refusals_name_the_character(typed, names):
    with pytest.raises(NotAMainlandMobile, match=names):
        normalise_mainland_mobile(typed)


def test_masked_for_logs():
    assert mask_phone("+8613900002222") == "139****2222"


TRUSTED = parse_trusted_proxies("10.0.0.0/8, 2001:db8:ffff::/48")


@pytest.mark.parametrize("peer, headers, client", [
    ("203.0.113.9", {"x-forwarded-for": "198.51.100.1"}, "203.0.113.9"),  # untrusted peer: headers ignored
    ("10.0.0.1", {}, "10.0.0.1"),
    ("10.0.0.1", {"x-forwarded-for": "198.51.100.1"}, "198.51.100.1"),
    ("10.0.0.1", {"x-forwarded-for": "6.6.6.6, 198.51.100.1, 10.2.2.2"}, "198.51.100.1"),  # left of the first untrusted: forged
    ("10.0.0.1", {"forwarded": 'for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8::1]:4711"'}, "2001:db8::1"),
    ("10.0.0.1", {"forwarded": "for=192.0.2.60:8080", "x-forwarded-for": "6.6.6.6"}, "192.0.2.60"),  # Forwarded wins
    ("10.0.0.1", {"x-forwarded-for": "unknown"}, "10.0.0.1"),  # garbage: the proxy is all we know
    ("10.0.0.1", {"x-forwarded-for": "10.3.3.3"}, "10.3.3.3"),  # all trusted: the farthest
])
def test_client_behind_trusted_proxies(peer, headers, client):
    assert client_host(peer, headers, TRUSTED) == client


def test_no_trusted_proxies_means_the_peer():
    assert client_host("127.0.0.1", {"x-forwarded-for": "203.0.113.1"}, ()) == "127.0.0.1"
    with pytest.raises(ValueError, match="'nope'"):
        parse_trusted_proxies("10.0.0.1, nope")
