"""The audit hash chain holds, and names the first row that was tampered with."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import DeclarativeBase

from shared.security.audit import GENESIS_HASH, AuditMixin, append, canonical_json, entry_hash, link_all, link_pending, verify
from shared.db import Database, new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


class AuditEntry(AuditMixin, Base):
    pass


@pytest.fixture
def audit_db(backend, fresh_database_url):
    db = Database(fresh_database_url(backend, "audit"))
    Base.metadata.create_all(db.engine)
    with db.session() as session:
        for i in range(5):
            append(session, AuditEntry, actor="clerk-key", action="POST /v1/meetings", subject=f"meeting-{i}",
                   detail={"number": f"第{i}次会议", "members": i})
    link_all(db, AuditEntry)
    yield db
    db.dispose()


def test_canonical_json_is_one_spelling():
    assert canonical_json({"b": 1, "a": "评议"}) == canonical_json({"a": "评议", "b": 1}) == '{"a":"评议","b":1}'
    assert entry_hash(GENESIS_HASH, {"a": 1}) != entry_hash(GENESIS_HASH, {"a": 2})


def test_an_untouched_chain_verifies(audit_db):
    with audit_db.session() as session:
        check = verify(session, AuditEntry, batch=2)
    assert check.intact and check.entries == 5


def test_an_edited_row_is_named(audit_db):
    with audit_db.session() as session:
        session.execute(text("UPDATE audit_log SET detail = :d WHERE subject = 'meeting-2'"), {"d": '{"members":99,"number":"第2次会议"}'})
        target = session.execute(text("SELECT id FROM audit_log WHERE subject = 'meeting-2'")).scalar()
    with audit_db.session() as session:
        check = verify(session, AuditEntry)
    assert (check.first_broken_id, check.entries) == (target, 2)
    assert "edited" in check.reason


def test_a_removed_row_is_named_by_the_one_after_it(audit_db):
    with audit_db.session() as session:
        removed = session.execute(text("SELECT id FROM audit_log WHERE subject = 'meeting-1'")).scalar()
        session.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": removed})
        after = session.execute(text("SELECT min(id) FROM audit_log WHERE id > :id"), {"id": removed}).scalar()
    with audit_db.session() as session:
        check = verify(session, AuditEntry)
    assert check.first_broken_id == after
    assert "removed" in check.reason


def test_a_rehashed_edit_still_breaks_the_next_link(audit_db):
    # Someone edits a row and recomputes its own hash: the following row no longer chains to it.
    with audit_db.session() as session:
        row = session.query(AuditEntry).filter_by(subject="meeting-3").one()
        row.actor = "intruder"
        row.hash = entry_hash(row.previous_hash, row.content())
        following = session.query(AuditEntry).filter(AuditEntry.id > row.id).order_by(AuditEntry.id).first().id
    with audit_db.session() as session:
        assert verify(session, AuditEntry).first_broken_id == following


def test_entries_wait_unlinked_until_linked_in_order(audit_db):
    with audit_db.session() as session:
        late = append(session, AuditEntry, actor="event:1", action="handle ballot.closed", subject="淄博市教育局")
        assert (late.seq, late.hash) == (None, None)
        check = verify(session, AuditEntry)
    assert check.intact and (check.entries, check.pending) == (5, 1)
    with audit_db.session() as session:
        assert link_pending(session, AuditEntry) == 1
        assert link_pending(session, AuditEntry) == 0
    with audit_db.session() as session:
        linked = session.get(AuditEntry, late.id)
        last_before = session.query(AuditEntry).filter(AuditEntry.seq == 5).one()
        assert linked.seq == 6 and linked.previous_hash == last_before.hash
        assert linked.hash == entry_hash(last_before.hash, linked.content())
        assert verify(session, AuditEntry).entries == 6



def test_the_linker_seals_new_entries_by_itself_and_on_stop(audit_db):
    import time

    from shared.security.audit import AuditLinker

    linker = AuditLinker(audit_db, AuditEntry, name="test", interval=0.05)
    linker.start()
    try:
        with audit_db.session() as session:
            entry = append(session, AuditEntry, actor="clerk-key", action="POST /v1/ballots/{ballot_id}/close")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with audit_db.session() as session:
                if session.get(AuditEntry, entry.id).seq is not None:
                    break
            time.sleep(0.05)
        with audit_db.session() as session:
            assert session.get(AuditEntry, entry.id).seq == 6
        with audit_db.session() as session:
            last = append(session, AuditEntry, actor="clerk-key", action="POST /v1/meetings")
    finally:
        linker.stop()
    with audit_db.session() as session:
        assert session.get(AuditEntry, last.id).seq == 7  # the stop linked what was left
        assert verify(session, AuditEntry).intact
