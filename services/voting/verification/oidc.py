"""ID tokens of the provincial government-service login (unified identity platform,
OpenID Connect), checked with PyJWT against the platform's published keys.

The keys (JWKS) are fetched and cached by PyJWT's PyJWKClient; a token whose `kid`
is not in the cached set makes it fetch the set again (after a short cooldown, so a
stream of made-up kids cannot hammer the platform): key rotation needs no restart.
Only RS256 and ES256 are accepted, decided from our list, never the token's header:
`alg: none` and an HS256 token "signed" with the public key are refused before any
key is looked up.
"""

from __future__ import annotations

from dataclasses import dataclass

import jwt
import structlog

log = structlog.get_logger(__name__)

ALGORITHMS = ("RS256", "ES256")


class IdTokenRefused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


class IdentityPlatformUnavailable(Exception):
    pass


@dataclass(frozen=True)
class VerifiedIdToken:
    issuer: str
    subject: str
    # The platform's verified mobile, when it says so (`phone_number` + `phone_number_verified`).
    phone_number: str | None


class OidcVerifier:
    def __init__(self, *, issuer: str, audience: str, jwks_url: str, leeway_seconds: float = 30,
                 timeout_seconds: float = 5, cache_seconds: float = 300, refetch_cooldown_seconds: float = 10) -> None:
        self.issuer, self.audience, self.leeway = issuer, audience, leeway_seconds
        self.jwks = jwt.PyJWKClient(jwks_url, cache_keys=False, cache_jwk_set=True, lifespan=cache_seconds,
                                    timeout=timeout_seconds, cooldown_duration=refetch_cooldown_seconds)

    def verify(self, token: str) -> VerifiedIdToken:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise IdTokenRefused("malformed", "the id_token is not a JWT") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise IdTokenRefused("algorithm-not-allowed", f"alg {alg!r} is not accepted; only {', '.join(ALGORITHMS)}")
        try:
            key = self.jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as exc:
            log.warning("oidc_jwks_unreachable", error=str(exc))
            raise IdentityPlatformUnavailable(str(exc)) from None
        except (jwt.PyJWKClientError, jwt.PyJWKError, jwt.DecodeError):
            raise IdTokenRefused("unknown-key", f"no key {header.get('kid')!r} in the identity platform's key set") from None
        try:
            claims = jwt.decode(token, key, algorithms=list(ALGORITHMS), audience=self.audience, issuer=self.issuer,
                                leeway=self.leeway, options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise IdTokenRefused("expired", "the id_token has expired") from None
        except jwt.ImmatureSignatureError:
            raise IdTokenRefused("not-yet-valid", "the id_token is not valid yet (nbf or iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise IdTokenRefused("wrong-audience", "the id_token was not issued for this service (aud)") from None
        except jwt.InvalidIssuerError:
            raise IdTokenRefused("wrong-issuer", "the id_token was not issued by the configured identity platform (iss)") from None
        except jwt.MissingRequiredClaimError as exc:
            raise IdTokenRefused("missing-claim", f"the id_token has no {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise IdTokenRefused("bad-signature", "the id_token's signature does not verify") from None
        except jwt.InvalidTokenError as exc:
            raise IdTokenRefused("invalid", f"the id_token is not valid: {type(exc).__name__}") from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject or len(subject) > 255:
            raise IdTokenRefused("missing-claim", "the id_token's sub is empty or not a string")
        phone = claims.get("phone_number") if claims.get("phone_number_verified") is True else None
        return VerifiedIdToken(claims["iss"], subject, phone if isinstance(phone, str) else None)
