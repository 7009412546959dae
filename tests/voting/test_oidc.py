"""Verification by an ID token of the government identity platform (OpenID Connect),
against keys the test makes and serves as a JWKS over HTTP on 127.0.0.1: a valid
token yields a pass that votes; each bad token is refused with 401 naming why; a
new `kid` after a key rotation is fetched; an unreachable key set is 503."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from services.voting.models import PublicVote, PublicVoter

from ._support import assert_problem, count_rows
from .test_verification import create_poll, verify, vote, with_settings

ISSUER = "https://tyrz.zwfw.shandong.gov.cn"
AUDIENCE = "pingyi-public-vote"


class KeyServer:
    """A JWKS endpoint whose key set the test can swap (rotation) or take down."""

    def __init__(self) -> None:
        self.keys: list[dict] = []
        self.fetches = 0
        self.down = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.fetches += 1
                if server.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                body = json.dumps({"keys": server.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def publish(self, *keys: tuple[str, object]) -> None:
        self.keys = []
        for kid, private in keys:
            algorithm = jwt.algorithms.RSAAlgorithm if isinstance(private, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
            jwk = algorithm.to_jwk(private.public_key(), as_dict=True) | {"kid": kid, "use": "sig"}
            jwk["alg"] = "RS256" if isinstance(private, rsa.RSAPrivateKey) else "ES256"
            self.keys.append(jwk)


@pytest.fixture
def key_server() -> Iterator[KeyServer]:
    server = KeyServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.fixture
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def oidc(voting, key_server, rsa_key):
    key_server.publish(("k1", rsa_key))
    with_settings(voting.app, oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=key_server.url,
                  oidc_jwks_refetch_cooldown_seconds=0)
    return voting


def id_token(private, *, kid: str = "k1", alg: str | None = None, **claims) -> str:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "370302199001011234-subject", "iat": now, "nbf": now,
            "exp": now + 300} | claims
    body = {k: v for k, v in body.items() if v is not None}
    alg = alg or ("RS256" if isinstance(private, rsa.RSAPrivateKey) else "ES256")
    return jwt.encode(body, private, algorithm=alg, headers={"kid": kid})


def b64(part: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def refused(oidc, poll_id: str, token: str) -> str:
    return assert_problem(verify(oidc.anonymous, poll_id, {"id_token": token}), 401, "id-token-refused")["reason"]


def test_a_valid_id_token_yields_a_pass_that_votes_once(oidc, rsa_key):
    poll = create_poll(oidc.client)
    resp = verify(oidc.anonymous, poll["id"], {"id_token": id_token(rsa_key)})
    assert resp.status_code == 201, resp.text
    assert vote(oidc.anonymous, poll["id"], resp.json()["pass"]).status_code == 201
    # The same person again (same issuer and sub, a new token): the same voter.
    again = verify(oidc.anonymous, poll["id"], {"id_token": id_token(rsa_key, jti="second")}).json()["pass"]
    assert_problem(vote(oidc.anonymous, poll["id"], again), 409, "identity-already-voted")
    # Another person votes.
    other = verify(oidc.anonymous, poll["id"], {"id_token": id_token(rsa_key, sub="someone-else")}).json()["pass"]
    assert vote(oidc.anonymous, poll["id"], other).status_code == 201
    assert count_rows(oidc.db, PublicVoter) == 2 and count_rows(oidc.db, PublicVote) == 2


def test_es256_is_accepted(oidc, key_server, rsa_key):
    ec_key = ec.generate_private_key(ec.SECP256R1())
    key_server.publish(("k1", rsa_key), ("ec1", ec_key))
    poll = create_poll(oidc.client)
    assert verify(oidc.anonymous, poll["id"], {"id_token": id_token(ec_key, kid="ec1")}).status_code == 201


def test_bad_tokens_are_refused_naming_the_reason(oidc, rsa_key):
    poll = create_poll(oidc.client)
    now = int(dt.datetime.now(dt.UTC).timestamp())
    assert refused(oidc, poll["id"], id_token(rsa_key, iat=now - 3600, nbf=now - 3600, exp=now - 60)) == "expired"
    assert refused(oidc, poll["id"], id_token(rsa_key, nbf=now + 600)) == "not-yet-valid"
    assert refused(oidc, poll["id"], id_token(rsa_key, aud="another-service")) == "wrong-audience"
    assert refused(oidc, poll["id"], id_token(rsa_key, iss="https://evil.example")) == "wrong-issuer"
    assert refused(oidc, poll["id"], id_token(rsa_key, sub=None)) == "missing-claim"
    # alg: none, unsigned.
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "iat": now, "exp": now + 300}
    assert refused(oidc, poll["id"], f"{b64(dict(alg='none', kid='k1'))}.{b64(body)}.") == "algorithm-not-allowed"
    # HS256 "signed" with the platform's public key as the shared secret.
    public_pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{b64(dict(alg='HS256', kid='k1', typ='JWT'))}.{b64(body)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert refused(oidc, poll["id"], f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}") == "algorithm-not-allowed"
    # Signed by a key the platform never published under that kid.
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert refused(oidc, poll["id"], id_token(stranger)) == "bad-signature"
    assert refused(oidc, poll["id"], "not-a.jwt-at.all") == "malformed"
    assert count_rows(oidc.db, PublicVoter) == 0


def test_a_new_kid_after_rotation_is_fetched(oidc, key_server, rsa_key):
    poll = create_poll(oidc.client)
    assert verify(oidc.anonymous, poll["id"], {"id_token": id_token(rsa_key)}).status_code == 201
    fetched = key_server.fetches
    # Served from the cache while the kid is known.
    assert verify(oidc.anonymous, poll["id"], {"id_token": id_token(rsa_key, sub="b")}).status_code == 201
    assert key_server.fetches == fetched
    # The platform rotates: k2 replaces k1.
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_server.publish(("k2", new_key))
    assert verify(oidc.anonymous, poll["id"], {"id_token": id_token(new_key, kid="k2", sub="c")}).status_code == 201
    assert key_server.fetches == fetched + 1
    # A kid the platform does not publish, even after a fresh fetch.
    assert refused(oidc, poll["id"], id_token(new_key, kid="k9", sub="d")) == "unknown-key"


def test_an_unreachable_key_set_is_503(oidc, key_server, rsa_key):
    key_server.down = True
    poll = create_poll(oidc.client)
    resp = verify(oidc.anonymous, poll["id"], {"id_token": id_token(rsa_key)})
    assert_problem(resp, 503, "identity-platform-unavailable")
    assert count_rows(oidc.db, PublicVoter) == 0


def test_a_verified_phone_in_the_token_is_the_same_voter_as_by_sms(oidc, rsa_key):
    poll = create_poll(oidc.client)
    by_platform = verify(oidc.anonymous, poll["id"], {"id_token": id_token(
        rsa_key, phone_number="+86 139 0000 2222", phone_number_verified=True)}).json()["pass"]
    assert vote(oidc.anonymous, poll["id"], by_platform).status_code == 201
    from services.voting.verification.service import verification

    by_sms, _ = verification(oidc.app).issue_pass(poll["id"], "+8613900002222", dt.datetime.now(dt.UTC))
    assert_problem(vote(oidc.anonymous, poll["id"], by_sms), 409, "identity-already-voted")
