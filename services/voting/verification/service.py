"""Verification for the public vote: SMS one-time codes (sent, checked, locked after
too many wrong tries) and ID tokens, each yielding a voting pass.

Only keyed hashes are stored: of the phone (keyed apart from the voter's hash, so
code rows cannot be joined to voter rows) and of the code. Counting is done with
single UPDATE statements, so concurrent requests cannot both use one code or
slip extra wrong guesses past the lock, on Postgres and SQLite alike.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import threading
from dataclasses import dataclass

import structlog
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.voting.domain.phones import NotAMainlandMobile, mask_phone, normalise_mainland_mobile
from services.voting.domain.public import identity_hash, oidc_identity, phone_identity
from services.voting.models import PublicPoll, PublicVerificationCode
from services.voting.public.service import not_open, poll_status
from services.voting.settings import VotingSettings
from services.voting.verification.oidc import OidcVerifier, VerifiedIdToken
from services.voting.verification.passes import PassSealer
from services.voting.verification.sms import SmsGateway, SmsUnavailable, code_message, gateway_from
from shared.db import new_id
from shared.web.problems import Problem, not_found

log = structlog.get_logger(__name__)

BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


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


_lock = threading.Lock()


def verification(app: FastAPI) -> Verification:
    found = getattr(app.state, "verification", None)
    if found is None:
        with _lock:
            found = getattr(app.state, "verification", None)
            if found is None:
                found = app.state.verification = Verification.of(app.state.settings)
    return found


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


def _code_row(session: Session, poll_id: str, subject: str) -> PublicVerificationCode:
    """The phone's row for the poll, made on first use (concurrent first uses make one)."""
    table = PublicVerificationCode.__table__
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(table).values(id=new_id(), poll_id=poll_id, phone_hash=subject, sent_that_day=0,
                                                 wrong_codes=0).on_conflict_do_nothing())
    return session.scalars(select(PublicVerificationCode).where(
        PublicVerificationCode.poll_id == poll_id, PublicVerificationCode.phone_hash == subject)
        .with_for_update()).one()


def request_code(session: Session, v: Verification, poll_id: str, e164: str, now: dt.datetime) -> int:
    """Send a new code to the phone; the seconds until another may be asked for.

    The send is reserved first (cooldown and day count taken, new code stored) and
    committed, so a concurrent request for the same phone waits its turn; if the
    gateway then fails, the reservation is put back: the voter is charged nothing."""
    if v.gateway is None:
        raise method_off("sms")
    s = v.settings
    open_poll(session, poll_id, now)
    row = _code_row(session, poll_id, _phone_subject(v, e164))
    if row.locked_until is not None and row.locked_until > now:
        raise locked(row.locked_until, now)
    if row.sent_at is not None and now < row.sent_at + dt.timedelta(seconds=s.verification_code_resend_seconds):
        wait = _seconds_until(row.sent_at + dt.timedelta(seconds=s.verification_code_resend_seconds), now)
        raise Problem(429, "code-resend-too-soon", "Code requested too soon 请稍后再获取验证码",
                      f"a code was sent to this phone moments ago; a new one can be requested in {wait} s",
                      headers={"Retry-After": str(wait)}, retry_after=wait)
    today = now.astimezone(BEIJING).date()
    sent_today = row.sent_that_day if row.sent_on == today else 0
    if sent_today >= s.verification_codes_per_phone_per_day:
        midnight = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), BEIJING)
        wait = _seconds_until(midnight, now)
        raise Problem(429, "daily-code-limit", "Daily code limit reached 今日验证码次数已用完",
                      f"{s.verification_codes_per_phone_per_day} codes a day per phone; try again tomorrow",
                      headers={"Retry-After": str(wait)}, retry_after=wait)
    before = {c: getattr(row, c) for c in ("code_hash", "code_expires_at", "sent_at", "sent_on", "sent_that_day",
                                           "wrong_codes")}
    code = f"{secrets.randbelow(10 ** 6):06d}"
    row.code_hash = _code_hash(v, row.id, code)
    row.code_expires_at = now + dt.timedelta(seconds=s.verification_code_ttl_seconds)
    row.sent_at, row.sent_on, row.sent_that_day, row.wrong_codes = now, today, sent_today + 1, 0
    row_id = row.id
    session.commit()
    try:
        v.gateway.send(e164, code_message(code, max(1, s.verification_code_ttl_seconds // 60)))
    except SmsUnavailable:
        session.execute(update(PublicVerificationCode).where(PublicVerificationCode.id == row_id,
                                                             PublicVerificationCode.sent_at == now).values(**before))
        session.commit()
        raise Problem(503, "sms-unavailable", "SMS unavailable 短信发送失败，请稍后重试",
                      "the SMS gateway could not deliver the code; nothing was counted against this phone",
                      headers={"Retry-After": "5"}) from None
    log.info("verification_code_sent", phone=mask_phone(e164), poll_id=poll_id)
    return s.verification_code_resend_seconds


def no_valid_code() -> Problem:
    return Problem(401, "code-expired", "No valid code 验证码无效或已过期",
                   "there is no unused, unexpired code for this phone in this poll: request a new one")


def check_code(session: Session, v: Verification, poll_id: str, e164: str, code: str, now: dt.datetime) -> str:
    """The verified identity when `code` is this phone's current code; else the refusal,
    counting a wrong code and locking the phone for the poll at the limit."""
    if v.gateway is None:
        raise method_off("sms")
    s = v.settings
    open_poll(session, poll_id, now)
    subject = _phone_subject(v, e164)
    table = PublicVerificationCode
    row = session.scalars(select(table).where(table.poll_id == poll_id, table.phone_hash == subject)).first()
    if row is None:
        raise no_valid_code()
    if row.locked_until is not None and row.locked_until > now:
        raise locked(row.locked_until, now)
    if row.code_hash is None or row.code_expires_at is None or row.code_expires_at <= now:
        raise no_valid_code()
    if hmac.compare_digest(row.code_hash, _code_hash(v, row.id, code)):
        used = session.execute(
            update(table).where(table.id == row.id, table.code_hash == row.code_hash, table.code_expires_at > now,
                                table.wrong_codes < s.verification_max_wrong_codes)
            .values(code_hash=None, wrong_codes=0).returning(table.id)).first()
        session.commit()
        if used is None:  # a concurrent request used it, or wrong tries locked it meanwhile
            raise no_valid_code()
        return phone_identity(e164)
    wrong = session.execute(update(table).where(table.id == row.id).values(wrong_codes=table.wrong_codes + 1)
                            .returning(table.wrong_codes)).scalar_one()
    if wrong >= s.verification_max_wrong_codes:
        until = now + dt.timedelta(seconds=s.verification_lock_seconds)
        # The code is void and the count starts again after the lock.
        session.execute(update(table).where(table.id == row.id).values(locked_until=until, code_hash=None, wrong_codes=0))
        session.commit()
        log.info("verification_locked", phone=mask_phone(e164), poll_id=poll_id)
        raise locked(until, now)
    session.commit()
    left = s.verification_max_wrong_codes - wrong
    raise Problem(401, "wrong-code", "Wrong code 验证码错误", f"the code is wrong; {left} tries left before this phone is locked",
                  attempts_left=left)


def token_identity(claims: VerifiedIdToken) -> str:
    """Issuer + sub; or the platform's verified mainland mobile, so that one person who
    verifies by SMS and by the platform is still one voter."""
    if claims.phone_number is not None:
        try:
            return phone_identity(normalise_mainland_mobile(claims.phone_number))
        except NotAMainlandMobile:
            pass
    return oidc_identity(claims.issuer, claims.subject)
