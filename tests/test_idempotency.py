"""Idempotency-Key: replay, reuse with another body, in flight, and failures leaving no key."""

from __future__ import annotations

import threading
import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from shared.db import Database, new_metadata
from shared.security.idempotency import IdempotencyDep, IdempotencyKeyMixin
from shared.web.problems import Problem, install_problem_handlers


class Base(DeclarativeBase):
    metadata = new_metadata()


class Thing(Base):
    __tablename__ = "things"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class IdempotencyKey(IdempotencyKeyMixin, Base):
    pass


class ThingIn(BaseModel):
    name: str


def make_app(db: Database, hold: threading.Event | None = None, entered: threading.Event | None = None) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things", status_code=201)
    def create(data: ThingIn, idem: IdempotencyDep):
        with Session(db.engine) as session:
            if (stored := idem.replay(session, IdempotencyKey)) is not None:
                return stored
            if data.name == "boom":
                raise Problem(422, "boom", "Boom", "refused on purpose")
            thing = Thing(id=str(uuid.uuid4()), name=data.name)
            session.add(thing)
            body = {"id": thing.id, "name": thing.name}
            idem.record(session, IdempotencyKey, 201, body)
            if entered is not None:
                entered.set()
                hold.wait(10)
            session.commit()
            return body

    return app


@pytest.fixture
def db(backend, fresh_database_url):
    database = Database(fresh_database_url(backend, "idem"))
    Base.metadata.create_all(database.engine)
    yield database
    database.dispose()


def things(db: Database) -> int:
    with Session(db.engine) as session:
        return session.scalar(select(func.count(Thing.id)))


def test_same_key_and_body_returns_the_stored_response(db):
    client = TestClient(make_app(db))
    first = client.post("/things", json={"name": "甲"}, headers={"Idempotency-Key": "k1"})
    again = client.post("/things", content='{ "name" : "甲" }', headers={"Idempotency-Key": "k1", "content-type": "application/json"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert things(db) == 1


def test_same_key_other_body_is_422_and_changes_nothing(db):
    client = TestClient(make_app(db))
    client.post("/things", json={"name": "甲"}, headers={"Idempotency-Key": "k1"})
    other = client.post("/things", json={"name": "乙"}, headers={"Idempotency-Key": "k1"})
    assert other.status_code == 422
    assert other.json()["type"].endswith(":idempotency-key-reused")
    assert things(db) == 1


def test_without_a_key_each_post_creates(db):
    client = TestClient(make_app(db))
    client.post("/things", json={"name": "甲"})
    client.post("/things", json={"name": "甲"})
    assert things(db) == 2


def test_a_failed_request_leaves_no_key_behind(db):
    client = TestClient(make_app(db))
    assert client.post("/things", json={"name": "boom"}, headers={"Idempotency-Key": "k2"}).status_code == 422
    with Session(db.engine) as session:
        assert session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_retry_while_the_first_is_in_flight_is_409(db):
    hold, entered = threading.Event(), threading.Event()
    client = TestClient(make_app(db, hold, entered))
    results = {}
    first = threading.Thread(target=lambda: results.setdefault("first", client.post("/things", json={"name": "甲"}, headers={"Idempotency-Key": "k3"})))
    first.start()
    assert entered.wait(10)
    second = client.post("/things", json={"name": "甲"}, headers={"Idempotency-Key": "k3"})
    hold.set()
    first.join(10)
    assert second.status_code == 409
    assert second.json()["type"].endswith(":idempotency-key-in-flight")
    assert results["first"].status_code == 201
    assert things(db) == 1
    # Once the first has finished, the retry gets its response.
    assert client.post("/things", json={"name": "甲"}, headers={"Idempotency-Key": "k3"}).json() == results["first"].json()
