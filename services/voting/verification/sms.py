"""SMS gateways for one-time codes, chosen by one setting (VOTING_SMS_GATEWAY):

- `file:PATH`: one JSON line per message appended to PATH (the embedded default:
  a person trying the system locally reads their code there);
- `http://…` / `https://…`: an HTTP SMS platform: a JSON POST signed with
  HMAC-SHA256 (VOTING_SMS_GATEWAY_SECRET), with a timeout and bounded retries;
- `none`: SMS verification is off.

A gateway that cannot deliver raises SmsUnavailable; the caller then stores and
counts nothing. Phones and codes never reach the logs (masked: 139****2222).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import hmac
import json
import threading
import time
from pathlib import Path
from typing import Protocol

import httpx
import structlog

from services.voting.domain.phones import mask_phone

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "X-Pingyi-Signature"
TIMESTAMP_HEADER = "X-Pingyi-Timestamp"


class SmsUnavailable(Exception):
    pass


class SmsGateway(Protocol):
    def send(self, to: str, text: str) -> None: ...


class FileGateway:
    """Appends {"to", "text", "sent_at"} lines; a file lock keeps lines whole across processes."""

    # A local append: the verification writer sends a batch's codes as one append right
    # after the batch commits (`send_many`), rather than each request opening the file.
    local = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def send(self, to: str, text: str) -> None:
        self.send_many([(to, text)])

    def send_many(self, messages: list[tuple[str, str]]) -> None:
        """Append every message, all or none (one write of whole lines)."""
        sent_at = dt.datetime.now(dt.UTC).isoformat()
        lines = "".join(json.dumps({"to": to, "text": text, "sent_at": sent_at}, ensure_ascii=False) + "\n"
                        for to, text in messages)
        try:
            try:
                self._append(lines)
            except FileNotFoundError:  # the folder is made on first use (and again if it was removed)
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._append(lines)
        except OSError as exc:
            log.warning("sms_file_unwritable", messages=len(messages), error=type(exc).__name__)
            raise SmsUnavailable(f"cannot write {self.path}") from exc
        for to, _ in messages:
            log.info("sms_written", to=mask_phone(to))

    def _append(self, lines: str) -> None:
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(lines)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """What the platform checks: HMAC-SHA256 over "<timestamp>.<body>", hex, as `sha256=<hex>`."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class HttpGateway:
    """POST {"to", "text"} as JSON; 2xx is delivered. Transport errors, timeouts and 5xx are
    retried up to `retries` times; a 4xx is not (the platform refused this request)."""

    def __init__(self, url: str, *, secret: str, timeout: float, retries: int) -> None:
        self.url, self.secret, self.retries = url, secret, retries
        self.client = httpx.Client(timeout=timeout, follow_redirects=False)

    def send(self, to: str, text: str) -> None:
        body = json.dumps({"to": to, "text": text}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        last = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(0.2 * 2 ** (attempt - 1), 1.0))
            timestamp = str(int(time.time()))
            headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
                       SIGNATURE_HEADER: signature(self.secret, timestamp, body)}
            try:
                resp = self.client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                last = type(exc).__name__
                continue
            if resp.is_success:
                log.info("sms_sent", to=mask_phone(to), attempts=attempt + 1)
                return
            last = f"HTTP {resp.status_code}"
            if resp.status_code < 500:
                break
        log.warning("sms_not_sent", to=mask_phone(to), error=last, attempts=attempt + 1)
        raise SmsUnavailable(last)

    def close(self) -> None:
        self.client.close()


def gateway_from(setting: str, *, secret: str = "", timeout: float = 5.0, retries: int = 2) -> SmsGateway | None:
    """The gateway VOTING_SMS_GATEWAY names; None for `none` (SMS verification off)."""
    if setting == "none":
        return None
    if setting.startswith("file:"):
        return FileGateway(Path(setting[len("file:"):]))
    if setting.startswith(("http://", "https://")):
        return HttpGateway(setting, secret=secret, timeout=timeout, retries=retries)
    raise ValueError("must be file:PATH, http(s)://… or none")


def code_message(code: str, minutes: int) -> str:
    return f"【评议】您的网上社会投票验证码为 {code}，{minutes}分钟内有效。请勿告诉他人。"
