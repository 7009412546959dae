"""Verification for the public vote: SMS one-time codes (sent, checked, locked after
too many wrong tries) and ID tokens, each yielding a voting pass.

Only keyed hashes are stored: of the phone (keyed apart from the voter's hash, so
code rows cannot be joined to voter rows) and of the code.

Code requests and code checks are written in batches by the process's group-commit
writers (`writer.py`): one transaction for many requests, each phone's row locked to
the commit, so concurrent requests cannot both use one code or slip extra wrong
guesses past the lock, across replicas, on Postgres and SQLite alike. A code is sent
only after its reservation has committed.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace

import structlog
from fastapi import FastAPI
from sqlalchemy import bindparam, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.voting.domain.phones import NotAMainlandMobile, mask_phone, normalise_mainland_mobile
from services.voting.domain.public import identity_hash, oidc_identity, phone_identity
from services.voting.models import AuditEntry, PublicPoll, PublicVerificationCode
from services.voting.public.service import not_open, poll_status
from services.voting.settings import VotingSettings
from services.voting.verification.oidc import OidcVerifier, VerifiedIdToken
from services.voting.verification.passes import PassSealer
from services.voting.verification.sms import SmsGateway, SmsUnavailable, code_message, gateway_from
from shared.db import Database, new_id
from shared.security import audit
from shared.web.group_commit import app_part
from shared.web.problems import Problem, not_found

log = structlog.get_logger(__name__)

BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
CODE_ROUTE = "POST /v1/public-polls/{poll_id}/verification-codes"
VERIFY_ROUTE = "POST /v1/public-polls/{poll_id}/verifications"


@dataclass
class Verification:
    """One app's verification parts, made from its settings."""

    settings: VotingSettings
    sealer: PassSealer
    gateway: SmsGateway | None
    oidc: OidcVerifier | None

    @classmethod
    def of(cls, settings: VotingSettings) -> Verification:
        oidc = None
        if settings.oidc_issuer:
            oidc = OidcVerifier(issuer=settings.oidc_issuer, audience=settings.oidc_audience,
                                jwks_url=settings.oidc_jwks_url, leeway_seconds=settings.oidc_leeway_seconds,
                                timeout_seconds=settings.oidc_jwks_timeout_seconds,
                                cache_seconds=settings.oidc_jwks_cache_seconds,
                                refetch_cooldown_seconds=settings.oidc_jwks_refetch_cooldown_seconds)
        gateway = gateway_from(settings.sms_gateway, secret=settings.sms_gateway_secret,
                               timeout=settings.sms_gateway_timeout_seconds, retries=settings.sms_gateway_retries)
        return cls(settings, PassSealer(settings.identity_hash_key), gateway, oidc)

    def voter_hash(self, identity: str) -> str:
        return identity_hash(self.settings.identity_hash_key, identity)

    def issue_pass(self, poll_id: str, identity: str, now: dt.datetime) -> tuple[str, dt.datetime]:
        return self.sealer.issue(poll_id, self.voter_hash(identity), now=now,
                                 ttl_seconds=self.settings.public_vote_pass_ttl_seconds)

    def close(self) -> None:
        close = getattr(self.gateway, "close", None)
        if close is not None:
            close()


def verification(app: FastAPI) -> Verification:
    return app_part(app, "verification", lambda: Verification.of(app.state.settings))


def method_off(method: str) -> Problem:
    return Problem(409, "verification-method-off", "Verification method off 该验证方式未启用",
                   f"{method} verification is not configured on this service", method=method)


def open_poll(session: Session, poll_id: str, now: dt.datetime) -> PublicPoll:
    poll = session.get(PublicPoll, poll_id)
    if poll is None:
        raise not_found("public poll", poll_id)
    status = poll_status(poll, now)
    if status != "open":
        raise not_open(poll, status)
    return poll


def _phone_subject(v: Verification, e164: str) -> str:
    return identity_hash(v.settings.identity_hash_key, "sms-code:" + e164)


def _code_hash(v: Verification, row_id: str, code: str) -> str:
    return identity_hash(v.settings.identity_hash_key, f"sms-code:{row_id}:{code}")


def _seconds_until(moment: dt.datetime, now: dt.datetime) -> int:
    return max(1, int((moment - now).total_seconds() + 0.999))


def locked(until: dt.datetime, now: dt.datetime) -> Problem:
    wait = _seconds_until(until, now)
    return Problem(429, "verification-locked", "Too many wrong codes 验证码错误次数过多，已锁定",
                   f"too many wrong codes for this phone in this poll; try again in {wait} s",
                   headers={"Retry-After": str(wait)}, retry_after=wait, locked_until=until)


@dataclass
class CodeRequestIn:
    """A phone's request for a code, checked (the phone normalised) and waiting for its batch;
    the batch fills in what was reserved."""

    v: Verification
    poll_id: str
    e164: str
    at: dt.datetime
    code: str | None = None  # the code to send, once reserved
    row_id: str | None = None
    before: dict | None = None  # the row as it was, to put back if the gateway fails
    sent: bool = False
    send_failed: bool = False


@dataclass
class CodeCheckIn:
    """A phone's code to check, waiting for its batch; the batch fills in the identity."""

    v: Verification
    poll_id: str
    e164: str
    code: str
    at: dt.datetime
    identity: str | None = None


def _open_polls(session: Session, items: Sequence[CodeRequestIn | CodeCheckIn]) -> list[Problem | None]:
    """Per item, the refusal when its poll is missing or not open at its time."""
    table = PublicPoll.__table__
    polls = {p.id: p for p in session.execute(select(table.c.id, table.c.opens_at, table.c.closes_at, table.c.tallied_at)
                                              .where(table.c.id.in_({i.poll_id for i in items})))}
    outcomes: list[Problem | None] = []
    for item in items:
        poll = polls.get(item.poll_id)
        status = poll_status(poll, item.at) if poll is not None else None
        outcomes.append(not_found("public poll", item.poll_id) if poll is None
                        else None if status == "open" else not_open(poll, status))
    return outcomes


_CODES = PublicVerificationCode.__table__
_CHANGEABLE = ("code_hash", "code_expires_at", "sent_at", "sent_on", "sent_that_day", "wrong_codes", "locked_until")
# What a reservation changes, put back if the gateway fails; never the lock (one taken meanwhile stays).
_RESERVED = tuple(c for c in _CHANGEABLE if c != "locked_until")
# A batch's changed rows in one statement of fixed text over arrays (prepared once per
# connection); the ORM's unit of work was a third of the writer's time.
_PG_UPDATE_CODES = text(
    "UPDATE public_verification_codes AS c SET code_hash = u.code_hash, code_expires_at = u.code_expires_at, "
    "sent_at = u.sent_at, sent_on = u.sent_on, sent_that_day = u.sent_that_day, wrong_codes = u.wrong_codes, "
    "locked_until = u.locked_until "
    "FROM unnest(CAST(:ids AS varchar[]), CAST(:code_hash AS varchar[]), CAST(:code_expires_at AS timestamptz[]), "
    "CAST(:sent_at AS timestamptz[]), CAST(:sent_on AS date[]), CAST(:sent_that_day AS integer[]), "
    "CAST(:wrong_codes AS integer[]), CAST(:locked_until AS timestamptz[])) "
    "AS u(id, code_hash, code_expires_at, sent_at, sent_on, sent_that_day, wrong_codes, locked_until) "
    "WHERE c.id = u.id"
)
_SQLITE_UPDATE_CODES = update(_CODES).where(_CODES.c.id == bindparam("row_id")).values(
    {c: bindparam(c, type_=_CODES.c[c].type) for c in _CHANGEABLE})


class CodeRow(SimpleNamespace):
    """One phone's code row as read for a batch; the batch writes back what it changed."""


def _code_rows(session: Session, keys: set[tuple[str, str]], create: set[tuple[str, str]]) -> dict[tuple[str, str], CodeRow]:
    """The phones' rows for their polls, locked to the commit (in id order, so batches of two
    replicas cannot deadlock); those in `create` made first where missing (concurrent first
    uses make one)."""
    if not keys:
        return {}
    if create:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(dialect.insert(_CODES).on_conflict_do_nothing(), [
            {"id": new_id(), "poll_id": poll_id, "phone_hash": subject, "sent_that_day": 0, "wrong_codes": 0}
            for poll_id, subject in sorted(create)])
    rows = session.execute(select(_CODES).where(tuple_(_CODES.c.poll_id, _CODES.c.phone_hash).in_(sorted(keys)))
                           .order_by(_CODES.c.id).with_for_update())
    return {(row.poll_id, row.phone_hash): CodeRow(**row._asdict()) for row in rows}


def _write_code_rows(session: Session, rows: list[CodeRow]) -> None:
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_PG_UPDATE_CODES, {"ids": [r.id for r in rows],
                                           **{c: [getattr(r, c) for r in rows] for c in _CHANGEABLE}})
    else:
        session.execute(_SQLITE_UPDATE_CODES, [{"row_id": r.id, **{c: getattr(r, c) for c in _CHANGEABLE}} for r in rows])


def _reserve(row: CodeRow, item: CodeRequestIn) -> Problem | None:
    """Take the cooldown and the day's count and store a new code on the row; or the refusal."""
    s, now = item.v.settings, item.at
    if row.locked_until is not None and row.locked_until > now:
        return locked(row.locked_until, now)
    resend_at = row.sent_at + dt.timedelta(seconds=s.verification_code_resend_seconds) if row.sent_at else None
    if resend_at is not None and now < resend_at:
        wait = _seconds_until(resend_at, now)
        return Problem(429, "code-resend-too-soon", "Code requested too soon 请稍后再获取验证码",
                       f"a code was sent to this phone moments ago; a new one can be requested in {wait} s",
                       headers={"Retry-After": str(wait)}, retry_after=wait)
    today = now.astimezone(BEIJING).date()
    sent_today = row.sent_that_day if row.sent_on == today else 0
    if sent_today >= s.verification_codes_per_phone_per_day:
        midnight = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), BEIJING)
        wait = _seconds_until(midnight, now)
        return Problem(429, "daily-code-limit", "Daily code limit reached 今日验证码次数已用完",
                       f"{s.verification_codes_per_phone_per_day} codes a day per phone; try again tomorrow",
                       headers={"Retry-After": str(wait)}, retry_after=wait)
    item.before = {c: getattr(row, c) for c in _RESERVED}
    item.code, item.row_id = f"{secrets.randbelow(10 ** 6):06d}", row.id
    row.code_hash = _code_hash(item.v, row.id, item.code)
    row.code_expires_at = now + dt.timedelta(seconds=s.verification_code_ttl_seconds)
    row.sent_at, row.sent_on, row.sent_that_day, row.wrong_codes = now, today, sent_today + 1, 0
    return None


def _audit_batch(session: Session, action: str, by_poll: dict[str, dict]) -> None:
    one = next(iter(by_poll)) if len(by_poll) == 1 else None
    subject = action.split(" ", 1)[1].replace("{poll_id}", one) if one else "/v1/public-polls"
    audit.append(session, AuditEntry, actor="public", action=action, subject=subject,
                 detail={"batch": dict(sorted(by_poll.items()))})


def _message(item: CodeRequestIn) -> str:
    return code_message(item.code, max(1, item.v.settings.verification_code_ttl_seconds // 60))


def send_code(item: CodeRequestIn) -> None:
    """Send a reserved code (after its batch committed); SmsUnavailable when the gateway fails."""
    item.v.gateway.send(item.e164, _message(item))
    item.sent = True
    log.info("verification_code_sent", phone=mask_phone(item.e164), poll_id=item.poll_id)


def send_local_codes(items: Sequence[CodeRequestIn | CodeCheckIn]) -> None:
    """Right after a batch commits: send its reserved codes that go to a local gateway (the
    file) in one append per gateway; the rest are sent by their requests (`send_code`)."""
    by_gateway: dict[int, list[CodeRequestIn]] = {}
    for item in items:
        if isinstance(item, CodeRequestIn) and item.code is not None and getattr(item.v.gateway, "local", False):
            by_gateway.setdefault(id(item.v.gateway), []).append(item)
    for codes in by_gateway.values():
        try:
            codes[0].v.gateway.send_many([(item.e164, _message(item)) for item in codes])
        except SmsUnavailable:
            for item in codes:
                item.send_failed = True
            continue
        for item in codes:
            item.sent = True
            log.info("verification_code_sent", phone=mask_phone(item.e164), poll_id=item.poll_id)


def withdraw_code(db: Database, item: CodeRequestIn) -> Problem:
    """The gateway failed: put the phone's row back as it was, so nothing is counted against
    the phone; the refusal to answer."""
    with db.session() as session:
        session.execute(update(PublicVerificationCode).where(
            PublicVerificationCode.id == item.row_id, PublicVerificationCode.sent_at == item.at).values(**item.before))
        _audit_batch(session, CODE_ROUTE, {item.poll_id: {"codes_withdrawn": 1, "reason": "sms-unavailable"}})
    return Problem(503, "sms-unavailable", "SMS unavailable 短信发送失败，请稍后重试",
                   "the SMS gateway could not deliver the code; nothing was counted against this phone",
                   headers={"Retry-After": "5"})


def no_valid_code() -> Problem:
    return Problem(401, "code-expired", "No valid code 验证码无效或已过期",
                   "there is no unused, unexpired code for this phone in this poll: request a new one")


def _check(row: CodeRow | None, item: CodeCheckIn) -> Problem | None:
    """Use the row's code when `item.code` is it; else the refusal, counting a wrong code and
    locking the phone for the poll at the limit."""
    s, now = item.v.settings, item.at
    if row is None:
        return no_valid_code()
    if row.locked_until is not None and row.locked_until > now:
        return locked(row.locked_until, now)
    if row.code_hash is None or row.code_expires_at is None or row.code_expires_at <= now:
        return no_valid_code()
    if hmac.compare_digest(row.code_hash, _code_hash(item.v, row.id, item.code)):
        row.code_hash, row.wrong_codes = None, 0
        item.identity = phone_identity(item.e164)
        return None
    row.wrong_codes += 1
    if row.wrong_codes >= s.verification_max_wrong_codes:
        until = now + dt.timedelta(seconds=s.verification_lock_seconds)
        # The code is void and the count starts again after the lock.
        row.locked_until, row.code_hash, row.wrong_codes = until, None, 0
        log.info("verification_locked", phone=mask_phone(item.e164), poll_id=item.poll_id)
        return locked(until, now)
    left = s.verification_max_wrong_codes - row.wrong_codes
    return Problem(401, "wrong-code", "Wrong code 验证码错误", f"the code is wrong; {left} tries left before this phone is locked",
                   attempts_left=left)


def write_verifications(session: Session, items: Sequence[CodeRequestIn | CodeCheckIn]) -> list[Problem | None]:
    """Write a batch of code checks and code requests in the session's transaction (the writer
    commits): per item None (a check's code used and `item.identity` set; a request's code
    stored, cooldown and day's count taken) or the refusal it gets.

    Each phone's row is locked to the commit, so a code is used once and no wrong guess
    slips past the lock, across replicas. Checks go first (one in the same batch as a new
    code's request can only be of the code before), each kind in arrival order: a second
    request for one phone meets the first's cooldown. Codes are sent after the commit
    (`send_code`). One audit entry per kind counts the outcomes per poll (no phone, no code)."""
    outcomes = _open_polls(session, items)
    subjects = [_phone_subject(item.v, item.e164) for item in items]
    keys = {(item.poll_id, subject) for item, subject, outcome in zip(items, subjects, outcomes) if outcome is None}
    create = {(item.poll_id, subject) for item, subject, outcome in zip(items, subjects, outcomes)
              if outcome is None and isinstance(item, CodeRequestIn)}
    rows = _code_rows(session, keys, create)
    before = {key: dict(vars(row)) for key, row in rows.items()}
    counted: dict[str, dict[str, dict[str, int]]] = {CODE_ROUTE: {}, VERIFY_ROUTE: {}}
    for kind in (CodeCheckIn, CodeRequestIn):
        for i, (item, subject) in enumerate(zip(items, subjects)):
            if outcomes[i] is not None or not isinstance(item, kind):
                continue
            row = rows.get((item.poll_id, subject))
            if kind is CodeCheckIn:
                outcomes[i] = _check(row, item)
                name = "verified" if outcomes[i] is None else outcomes[i].slug
                route = VERIFY_ROUTE
                if name not in ("verified", "wrong-code", "verification-locked"):
                    continue  # nothing changed
            else:
                outcomes[i] = _reserve(row, item)
                if outcomes[i] is not None:
                    continue
                name, route = "codes_reserved", CODE_ROUTE
            tally = counted[route].setdefault(item.poll_id, {})
            tally[name] = tally.get(name, 0) + 1
    _write_code_rows(session, [row for key, row in rows.items() if vars(row) != before[key]])
    if any(counted.values()):
        for route, by_poll in counted.items():
            if by_poll:
                _audit_batch(session, route, by_poll)
    return outcomes


def token_identity(claims: VerifiedIdToken) -> str:
    """Issuer + sub; or the platform's verified mainland mobile, so that one person who
    verifies by SMS and by the platform is still one voter."""
    if claims.phone_number is not None:
        try:
            return phone_identity(normalise_mainland_mobile(claims.phone_number))
        except NotAMainlandMobile:
            pass
    return oidc_identity(claims.issuer, claims.subject)
