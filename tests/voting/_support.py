"""Helpers shared by the voting tests: roster data, HTTP shortcuts, problem checks,
and an app on a database that really commits (for the concurrency tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module
from dataclasses import dataclass

import threading
import uuid

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request

from shared.security.credentials import create_api_key, issue_member_token, member_scopes
from shared.db import Database
from shared.ops.migrations import upgrade
from shared.web.problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE
from shared.ops.runtime import get_session

try:  # the root conftest, as pytest imported it
    from conftest import create_app_for, settings_for
except ImportError:  # pragma: no cover - when tests/ becomes a package
    from tests.conftest import create_app_for, settings_for


def roster(n: int, prefix: str = "m") -> list[dict]:
    return [{"member_id": f"{prefix}{i:02d}", "name": f"委员{i:02d}"} for i in range(1, n + 1)]


def member_ids(n: int, prefix: str = "m") -> list[str]:
    return [m["member_id"] for m in roster(n, prefix)]


def create_meeting(client: TestClient, *, number: str = "第四十四次会议", held_on: str = "2021-02-26",
                   members: int = 4, place: str | None = "淄博") -> dict:
    resp = client.post("/v1/meetings", json={"number": number, "held_on": held_on, "place": place, "members": roster(members)})
    assert resp.status_code == 201, resp.text
    return resp.json()


def check_in(client: TestClient, meeting_id: str, ids: list[str]) -> dict:
    resp = client.post(f"/v1/meetings/{meeting_id}/check-ins", json={"member_ids": ids})
    assert resp.status_code == 200, resp.text
    return resp.json()


def create_ballot(client: TestClient, meeting_id: str, **fields) -> dict:
    body = {"department": "市住房和城乡建设局", "evaluation_year": 2021} | fields
    resp = client.post(f"/v1/meetings/{meeting_id}/ballots", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def open_ballot(client: TestClient, ballot_id: str) -> dict:
    resp = client.post(f"/v1/ballots/{ballot_id}/open")
    assert resp.status_code == 200, resp.text
    return resp.json()


def get_ballot(client: TestClient, ballot_id: str) -> dict:
    resp = client.get(f"/v1/ballots/{ballot_id}")
    assert resp.status_code == 200, resp.text
    return resp.json()


def member_headers(client: TestClient, member_id: str, meeting_id: str, *, clerk: bool = False) -> dict[str, str]:
    """A member token for `member_id` on `meeting_id`, as the clerk's system would issue it."""
    scopes = member_scopes(clerk=clerk)
    token = issue_member_token(client.app.state.settings.auth_token_secret, member_id=member_id, meeting_id=meeting_id,
                               scopes=scopes)
    return {"Authorization": f"Bearer {token}"}


def meeting_of(client: TestClient, ballot_id: str) -> str:
    resp = client.get(f"/v1/ballots/{ballot_id}")
    return resp.json()["meeting_id"] if resp.status_code == 200 else "no-such-meeting"


def vote(client: TestClient, ballot_id: str, body: dict, *, headers: dict[str, str] | None = None):
    """POST a vote as its member does: with their own token for the ballot's meeting."""
    headers = headers or member_headers(client, body["member_id"], meeting_of(client, ballot_id))
    return client.post(f"/v1/ballots/{ballot_id}/votes", json=body, headers=headers)


def cast(client: TestClient, ballot_id: str, member_id: str, choice: str | None, **kwargs):
    return vote(client, ballot_id, {"member_id": member_id, "choice": choice}, **kwargs)


def mark(client: TestClient, ballot_id: str, member_id: str, marks: list[str], **kwargs):
    return vote(client, ballot_id, {"member_id": member_id, "marks": marks}, **kwargs)


def open_meeting_ballot(client: TestClient, *, members: int = 4, present: int | None = None, **ballot_fields) -> tuple[dict, dict]:
    """A meeting with `present` (default: all) members checked in and an open satisfaction ballot."""
    meeting = create_meeting(client, members=members)
    check_in(client, meeting["id"], member_ids(members)[: members if present is None else present])
    ballot = create_ballot(client, meeting["id"], **ballot_fields)
    return meeting, open_ballot(client, ballot["id"])


def assert_problem(resp, status: int, slug: str) -> dict:
    """The response is an RFC 9457 problem with this status and type slug."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE), resp.headers["content-type"]
    body = resp.json()
    assert body["type"] == PROBLEM_TYPE_BASE + slug, body
    assert body["status"] == status
    assert body["title"]
    return body


def count_rows(db: Database, model, **where) -> int:
    with db.session() as session:
        stmt = select(func.count()).select_from(model)
        for column, value in where.items():
            stmt = stmt.where(getattr(model, column) == value)
        return session.scalar(stmt)


@dataclass
class CommittedVoting:
    app: FastAPI
    client: TestClient
    db: Database


@contextmanager
def committed_voting(url: str) -> Iterator[CommittedVoting]:
    """The voting app on a freshly migrated database where every request really commits."""
    upgrade("voting", url)
    db = Database(url)
    app = create_app_for("voting", settings_for("voting", db.url), db)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            with db.session() as session:  # the client acts as the operator, as the harness's does
                key = create_api_key(session, app.state.security_models.api_key, name="voting-operator",
                                     scopes=["voting:admin", "read"])
            client.headers.update({"Authorization": f"Bearer {key}"})
            yield CommittedVoting(app, client, db)
    finally:
        db.dispose()


def gate_commits(v: CommittedVoting, path_suffix: str, at_commit: threading.Event, release: threading.Event) -> None:
    """POST requests whose path ends with `path_suffix` do all their work, then hold
    their transaction open just before committing until `release` is set."""

    class GatedSession(Session):
        def commit(self) -> None:
            at_commit.set()
            assert release.wait(30), "the test never released the request"
            super().commit()

    gated = sessionmaker(v.db.engine, class_=GatedSession, expire_on_commit=False)

    def session_for(request: Request):
        hold = request.method == "POST" and request.url.path.endswith(path_suffix)
        with (gated if hold else v.db.sessionmaker)() as session:
            yield session

    v.app.dependency_overrides[get_session] = session_for
    if path_suffix == "/votes":
        # Casts are written in batches by the process's cast writer, not in the request's session.
        from services.voting.ballots.endpoints import cast_writer

        cast_writer(v.app).session_factory = gated


class Background(threading.Thread):
    """Runs a call in a thread and keeps its result (or exception)."""

    def __init__(self, fn, *args) -> None:
        super().__init__(daemon=True)
        self.fn, self.args = fn, args
        self.result = self.error = None

    def run(self) -> None:
        try:
            self.result = self.fn(*self.args)
        except BaseException as exc:  # re-raised by outcome()
            self.error = exc

    def outcome(self, timeout: float = 30):
        self.join(timeout)
        assert not self.is_alive(), f"{self.fn} did not finish"
        if self.error is not None:
            raise self.error
        return self.result


@dataclass
class Committed:
    app: FastAPI
    client: TestClient
    db: Database
    operator: dict[str, str]

    def from_address(self, host: str) -> TestClient:
        """A client with no credential calling from another address."""
        return TestClient(self.app, raise_server_exceptions=False, client=(host, 50000))


@contextmanager
def committed(url: str, **settings) -> Iterator[Committed]:
    """The voting app on a freshly migrated database; its client acts as the operator."""
    upgrade("voting", url)
    db = Database(url)
    with db.session() as session:
        key = create_api_key(session, import_module("services.voting.models").SECURITY_MODELS.api_key, name=f"operator-{uuid.uuid4().hex[:8]}", scopes=["voting:admin", "read"])
    operator = {"Authorization": f"Bearer {key}"}
    app = create_app_for("voting", settings_for("voting", db.url, **settings), db)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            client.headers.update(operator)
            yield Committed(app, client, db, operator)
    finally:
        db.dispose()
