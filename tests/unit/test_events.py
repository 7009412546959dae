"""The event envelope and payload contract (shared/messaging/events.py)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from pydantic import ValidationError

from shared.messaging.events import (
    ALL_TOPICS,
    PAYLOADS,
    BallotClosed,
    BallotSubject,
    Envelope,
    EventPayload,
    RereportScheduled,
    SatisfactionScore,
    ScoreComputed,
    Tally,
    Topic,
    VoteMarkedUnsatisfied,
)


def ballot_closed() -> BallotClosed:
    return BallotClosed(
        ballot_id=str(uuid.uuid4()),
        ballot_kind="satisfaction",
        meeting_id=str(uuid.uuid4()),
        meeting_number="第四十四次会议",
        meeting_date=dt.date(2021, 2, 26),
        subject=BallotSubject(department="淄博市生态环境局", evaluation_year=2021),
        tally=Tally(
            counts={"satisfied": 31, "basically_satisfied": 20, "unsatisfied": 5},
            invalid=1,
            votes_cast=57,
            present=57,
            members_total=60,
        ),
        closed_at=dt.datetime(2021, 2, 26, 3, 30, tzinfo=dt.UTC),
    )


# --- the envelope ------------------------------------------------------------


def test_envelope_round_trips_through_bytes() -> None:
    env = ballot_closed().envelope(producer="voting", key="ballot-1")
    raw = env.to_bytes()
    assert isinstance(raw, bytes)
    back = Envelope.from_bytes(raw)

    assert back == env
    assert back.event_id == env.event_id and isinstance(back.event_id, uuid.UUID)
    assert back.type == "ballot.closed"
    assert back.version == 1
    assert back.producer == "voting"
    assert back.key == "ballot-1"
    assert back.payload == env.payload
    assert back.occurred_at == env.occurred_at
    assert back.occurred_at.utcoffset() == dt.timedelta(0)


def test_envelope_occurred_at_defaults_to_now_in_utc() -> None:
    before = dt.datetime.now(dt.UTC)
    env = Envelope(type="ballot.closed", producer="voting", key="k", payload={})
    after = dt.datetime.now(dt.UTC)
    assert env.occurred_at.utcoffset() == dt.timedelta(0)
    assert before <= env.occurred_at <= after


def test_envelope_json_carries_all_seven_fields_and_utf8_text() -> None:
    env = ballot_closed().envelope(producer="voting", key="ballot-1")
    body = json.loads(env.to_bytes().decode("utf-8"))
    assert set(body) == {"event_id", "type", "version", "occurred_at", "producer", "key", "payload"}
    assert body["event_id"] == str(env.event_id)
    assert body["payload"]["subject"]["department"] == "淄博市生态环境局"


def test_each_envelope_gets_its_own_event_id() -> None:
    payload = ballot_closed()
    assert payload.envelope(producer="voting", key="k").event_id != payload.envelope(producer="voting", key="k").event_id


def test_unknown_field_in_envelope_is_rejected() -> None:
    body = json.loads(ballot_closed().envelope(producer="voting", key="k").to_bytes())
    body["surprise"] = 1
    with pytest.raises(ValidationError):
        Envelope.from_bytes(json.dumps(body).encode())
    with pytest.raises(ValidationError):
        Envelope.model_validate(body)


@pytest.mark.parametrize("missing", ["type", "producer", "key", "payload"])
def test_envelope_without_a_required_field_is_rejected(missing: str) -> None:
    body = json.loads(ballot_closed().envelope(producer="voting", key="k").to_bytes())
    del body[missing]
    with pytest.raises(ValidationError):
        Envelope.model_validate(body)


def test_envelope_is_immutable() -> None:
    env = ballot_closed().envelope(producer="voting", key="k")
    with pytest.raises(ValidationError):
        env.key = "other"


def test_garbage_bytes_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Envelope.from_bytes(b"not json")


# --- payloads ----------------------------------------------------------------


def test_from_envelope_reads_the_payload_back() -> None:
    payload = ballot_closed()
    env = Envelope.from_bytes(payload.envelope(producer="voting", key="k").to_bytes())
    assert BallotClosed.from_envelope(env) == payload


def test_from_envelope_refuses_the_wrong_type() -> None:
    env = ballot_closed().envelope(producer="voting", key="k")
    with pytest.raises(ValueError, match="expected a vote.marked_unsatisfied event"):
        VoteMarkedUnsatisfied.from_envelope(env)


def test_from_envelope_refuses_the_wrong_version() -> None:
    env = ballot_closed().envelope(producer="voting", key="k").model_copy(update={"version": 2})
    with pytest.raises(ValueError, match="unsupported ballot.closed version 2"):
        BallotClosed.from_envelope(env)


def test_from_envelope_refuses_an_unknown_payload_field() -> None:
    env = ballot_closed().envelope(producer="voting", key="k")
    tampered = env.model_copy(update={"payload": {**env.payload, "surprise": True}})
    with pytest.raises(ValidationError):
        BallotClosed.from_envelope(tampered)


def test_every_topic_has_a_payload_model() -> None:
    assert set(PAYLOADS) == {t.value for t in Topic} == set(ALL_TOPICS)
    for topic, model in PAYLOADS.items():
        assert issubclass(model, EventPayload)
        assert model.topic.value == topic


def test_envelope_type_and_version_come_from_the_payload_model() -> None:
    samples: list[EventPayload] = [
        ballot_closed(),
        ScoreComputed(
            computation_id="c1",
            kind="satisfaction",
            satisfaction=SatisfactionScore(
                ballot_id="b1",
                department="d",
                evaluation_year=2021,
                vote_round=1,
                meeting_id="m1",
                meeting_date=dt.date(2021, 8, 27),
                grade="unsatisfied",
                grade_label="不满意",
                counts={"unsatisfied": 40},
                denominator=60,
                denominator_basis="all_members",
            ),
        ),
        VoteMarkedUnsatisfied(
            department="d", evaluation_year=2021, unsatisfied_round=1, vote_round=1,
            ballot_id="b1", meeting_id="m1", meeting_date=dt.date(2021, 8, 27),
        ),
        RereportScheduled(
            case_id="c1", department="d", evaluation_year=2021, vote_round=2,
            after_meeting_id="m1", after_meeting_date=dt.date(2021, 8, 27),
        ),
    ]
    assert {type(s).topic.value for s in samples} == set(ALL_TOPICS)
    for sample in samples:
        env = Envelope.from_bytes(sample.envelope(producer="scoring", key="k").to_bytes())
        assert env.type == type(sample).topic.value
        assert env.version == type(sample).version
        assert PAYLOADS[env.type].from_envelope(env) == sample


def test_ballot_closed_payload_json_has_date_strings() -> None:
    env = ballot_closed().envelope(producer="voting", key="k")
    assert env.payload["meeting_date"] == "2021-02-26"
    assert isinstance(env.payload["closed_at"], str)
    assert dt.datetime.fromisoformat(env.payload["closed_at"]) == dt.datetime(2021, 2, 26, 3, 30, tzinfo=dt.UTC)
    # And the whole payload is plain JSON.
    assert json.loads(json.dumps(env.payload)) == env.payload


def test_payload_bounds_are_enforced() -> None:
    with pytest.raises(ValidationError):
        VoteMarkedUnsatisfied(
            department="d", evaluation_year=2021, unsatisfied_round=0, vote_round=1,
            ballot_id="b", meeting_id="m", meeting_date=dt.date(2021, 8, 27),
        )
    with pytest.raises(ValidationError):
        RereportScheduled(
            case_id="c", department="d", evaluation_year=2021, vote_round=1,
            after_meeting_id="m", after_meeting_date=dt.date(2021, 8, 27),
        )
    with pytest.raises(ValidationError):
        BallotClosed.model_validate({**ballot_closed().model_dump(), "ballot_kind": "straw_poll"})
