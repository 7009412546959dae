"""API keys and member tokens: stored hashed, scoped, revocable, bound to one member."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase

from shared.security.credentials import (
    ApiKeyMixin,
    authenticate_api_key,
    authenticate_member_token,
    create_api_key,
    hash_key,
    issue_member_token,
    revoke_api_key,
)
from shared.db import Database, new_metadata
from shared.web.problems import Problem


class Base(DeclarativeBase):
    metadata = new_metadata()


class ApiKey(ApiKeyMixin, Base):
    pass


@pytest.fixture
def keys_db(backend, fresh_database_url):
    db = Database(fresh_database_url(backend, "keys"))
    Base.metadata.create_all(db.engine)
    yield db
    db.dispose()


def test_a_key_is_shown_once_and_stored_only_hashed(keys_db):
    with keys_db.session() as session:
        key = create_api_key(session, ApiKey, name="12345平台", scopes=["scoring:import", "read"])
    with keys_db.session() as session:
        row = session.scalars(select(ApiKey)).one()
        assert key not in (row.id, row.key_hash, row.name)
        assert row.key_hash == hash_key(key)
        principal = authenticate_api_key(session, ApiKey, key)
    assert principal.name == "12345平台"
    assert principal.has("scoring:import") and principal.has("read")
    assert not principal.has("voting:cast")


def test_unknown_tampered_and_revoked_keys_are_refused(keys_db):
    with keys_db.session() as session:
        key = create_api_key(session, ApiKey, name="portal", scopes=["read"])
    for wrong in ("nonsense", key[:-1] + ("A" if key[-1] != "A" else "B"), "pyk_00000000_" + key.rsplit("_", 1)[1]):
        with keys_db.session() as session, pytest.raises(Problem) as refused:
            authenticate_api_key(session, ApiKey, wrong)
        assert refused.value.status == 401 and refused.value.headers["WWW-Authenticate"].startswith("Bearer")
    with keys_db.session() as session:
        assert revoke_api_key(session, ApiKey, "portal") is True
    with keys_db.session() as session, pytest.raises(Problem):
        authenticate_api_key(session, ApiKey, key)


def test_a_missing_scope_is_403_naming_it(keys_db):
    with keys_db.session() as session:
        principal = authenticate_api_key(session, ApiKey, create_api_key(session, ApiKey, name="reader", scopes=["read"]))
    with pytest.raises(Problem) as refused:
        principal.require("tracking:write")
    assert refused.value.status == 403 and refused.value.extensions["required_scope"] == "tracking:write"


def test_an_admin_scope_covers_its_service_only(keys_db):
    with keys_db.session() as session:
        principal = authenticate_api_key(session, ApiKey, create_api_key(session, ApiKey, name="clerk", scopes=["voting:admin"]))
    assert principal.has("voting:cast") and not principal.has("scoring:import")


SECRET = "member-token-secret-for-tests-0123456789"


def test_member_tokens_bind_one_member_and_expire():
    token = issue_member_token(SECRET, member_id="m07", meeting_id="mtg-44", scopes=["voting:cast"])
    principal = authenticate_member_token(SECRET, token)
    assert (principal.member_id, principal.meeting_id, principal.has("voting:cast")) == ("m07", "mtg-44", True)
    with pytest.raises(Problem):
        authenticate_member_token("other-secret-for-tests-only-0123456789", token)
    expired = issue_member_token(SECRET, member_id="m07", meeting_id="mtg-44", scopes=[], ttl=dt.timedelta(seconds=-1))
    with pytest.raises(Problem) as refused:
        authenticate_member_token(SECRET, expired)
    assert "expired" in refused.value.detail
