"""Credentials: API keys for integrating systems and signed member tokens.

API keys look like `pyk_<prefix>_<secret>`; only a SHA-256 of the whole key is
stored (keys are long random strings, so a fast hash is enough), with its
scopes and, for a department's key, the department it may act for.

Member tokens are JWTs (HS256) bound to one roster member of one meeting,
issued to members and clerks for casting or running votes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

import jwt
from sqlalchemy import JSON, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.db import UTCDateTime, utcnow
from shared.web.problems import Problem

KEY_PREFIX = "pyk"
READ_SCOPE = "read"
# What each scope lets a caller do; `<service>:admin` covers its service's others, and
# any scope of a service lets its holder read that service (`<service>:read`), within the
# credential's binding: a department's key its own department, a member token its own meeting.
KNOWN_SCOPES = {
    "read": "read every service, except tracking's internal data (staff dashboards): voting:read, scoring:read, tracking:read",
    "voting:read": "meetings, agendas, ballots and receipts, slates (a member token: its own meeting's only)",
    "scoring:read": "year plans, computations, rankings, hotline figures, satisfaction results",
    "tracking:read": "cases, commitments, progress, reviews, motions, audit cases, without internal data "
                     "(a department's key: its own department's only)",
    "tracking:read-internal": "also internal notes and investigation findings (the committee's staff)",
    "voting:cast": "cast one's own vote (member tokens)",
    "voting:run": "run a meeting's votes: check-in, open, close, show of hands (clerks)",
    "voting:admin": "everything in voting: meetings, rosters, ballots, polls, voids",
    "scoring:import": "import 12345 work orders",
    "scoring:write": "submit source figures, aliases, computations",
    "scoring:admin": "everything in scoring: year plans included",
    "tracking:write": "a department's commitments and progress (bound to its department)",
    "tracking:admin": "everything in tracking: cases, milestones, reviews, motions, audits",
}


class ApiKeyMixin:
    """Columns of a service's `api_keys` table; the service declares the model."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True, doc="the key's public prefix")
    name: Mapped[str] = mapped_column(String(200), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list] = mapped_column(JSON)
    department: Mapped[str | None] = mapped_column(String(200), doc="a department's key acts for it only")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Principal:
    """Who is calling."""

    kind: str  # "api_key" or "member"
    name: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    department: str | None = None
    member_id: str | None = None
    meeting_id: str | None = None

    def has(self, scope: str) -> bool:
        service, _, action = scope.partition(":")
        if scope in self.scopes or f"{service}:admin" in self.scopes:
            return True
        if action == "read":  # reading a service: `read`, or any scope of that service
            return READ_SCOPE in self.scopes or any(s.partition(":")[0] == service for s in self.scopes)
        return False

    def require(self, scope: str) -> None:
        if not self.has(scope):
            raise Problem(403, "missing-scope", "Forbidden 权限不足", f"this credential lacks the scope {scope}", required_scope=scope)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> tuple[str, str]:
    """A fresh key and its public prefix (the row id)."""
    prefix = secrets.token_hex(4)
    return prefix, f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"


def store_api_key(session: Session, model: type[ApiKeyMixin], key: str, *, name: str, scopes: list[str],
                  department: str | None = None) -> None:
    """Store a key's hash (the same key may be stored in each service's database)."""
    if session.scalar(select(model.id).where(model.name == name)) is not None:
        raise Problem(409, "key-name-taken", "Key name taken 名称已存在", f"an API key named {name!r} exists")
    session.add(model(id=key.split("_", 2)[1], name=name, key_hash=hash_key(key), scopes=sorted(set(scopes)),
                      department=department, created_at=utcnow()))
    session.flush()


def create_api_key(session: Session, model: type[ApiKeyMixin], *, name: str, scopes: list[str],
                   department: str | None = None) -> str:
    """Store a new key and return it in full: the only time it is shown."""
    _, key = new_api_key()
    store_api_key(session, model, key, name=name, scopes=scopes, department=department)
    return key


def revoke_api_key(session: Session, model: type[ApiKeyMixin], name: str) -> bool:
    row = session.scalars(select(model).where(model.name == name)).first()
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    return True


def authenticate_api_key(session: Session, model: type[ApiKeyMixin], key: str) -> Principal:
    parts = key.split("_", 2)
    row = session.get(model, parts[1]) if len(parts) == 3 and parts[0] == KEY_PREFIX else None
    # Compare in constant time even when the prefix is unknown.
    expected = row.key_hash if row is not None else "0" * 64
    if not hmac.compare_digest(expected, hash_key(key)) or row is None or row.revoked_at is not None:
        raise unauthenticated("the API key is unknown or revoked")
    return Principal(kind="api_key", name=row.name, scopes=frozenset(row.scopes), department=row.department)


def unauthenticated(detail: str) -> Problem:
    return Problem(401, "unauthenticated", "Unauthenticated 未认证", detail,
                   headers={"WWW-Authenticate": 'Bearer realm="pingyi"'})


# --- member tokens -----------------------------------------------------------

# What a member token may carry: reading its meeting, casting, and for a clerk running the
# meeting's votes. Voting's scopes only: a member token reads nothing in scoring or tracking.
MEMBER_SCOPES = frozenset({"voting:read", "voting:cast", "voting:run"})


def member_scopes(*, clerk: bool = False) -> list[str]:
    """The scopes issued to a member's token; a clerk's also runs the meeting's votes."""
    return ["voting:cast", "voting:read"] + (["voting:run"] if clerk else [])


def issue_member_token(secret: str, *, member_id: str, meeting_id: str, scopes: list[str],
                       ttl: dt.timedelta = dt.timedelta(hours=12), issuer: str = "pingyi") -> str:
    now = utcnow()
    claims = {"sub": member_id, "mtg": meeting_id, "scope": " ".join(sorted(scopes)), "iss": issuer,
              "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")


def authenticate_member_token(secret: str, token: str, *, issuer: str = "pingyi") -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], issuer=issuer, options={"require": ["sub", "exp", "mtg"]})
    except jwt.ExpiredSignatureError:
        raise unauthenticated("the member token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise unauthenticated(f"the member token is invalid: {exc}") from None
    # A token can grant a member's scopes only, whatever it claims.
    claimed = set(claims.get("scope", "").split())
    if READ_SCOPE in claimed:  # tokens issued before voting:read: their `read` was voting's
        claimed.add("voting:read")
    scopes = frozenset(claimed) & MEMBER_SCOPES
    return Principal(kind="member", name=f"member:{claims['sub']}", scopes=scopes,
                     member_id=claims["sub"], meeting_id=claims["mtg"])
