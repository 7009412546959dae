"""The event contract between the three services.

One topic per event type. Every message is a JSON `Envelope`; its `event_id`
also travels as a Kafka header so consumers and operators can see it without
parsing the body. Payload models are versioned: a breaking change to a payload
adds a new version, consumers check `version` before reading.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from shared.db import utcnow  # noqa: F401  (the services' models and handlers take it from here too)


class Topic(StrEnum):
    BALLOT_CLOSED = "ballot.closed"
    SCORE_COMPUTED = "score.computed"
    VOTE_MARKED_UNSATISFIED = "vote.marked_unsatisfied"
    REREPORT_SCHEDULED = "rereport.scheduled"


ALL_TOPICS: tuple[str, ...] = tuple(t.value for t in Topic)

Producer = Literal["voting", "scoring", "tracking"]

EVENT_ID_HEADER = "event_id"
EVENT_TYPE_HEADER = "event_type"
REQUEST_ID_HEADER = "request_id"


class Envelope(BaseModel):
    """The JSON body of every message on every topic."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int = 1
    occurred_at: AwareDatetime = Field(default_factory=utcnow)
    producer: str
    key: str
    payload: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, value: dt.datetime) -> dt.datetime:
        return value.astimezone(dt.UTC)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        return cls.model_validate_json(raw)


class EventPayload(BaseModel):
    """Base of every payload: knows its topic and version."""

    model_config = ConfigDict(extra="forbid")

    topic: ClassVar[Topic]
    version: ClassVar[int] = 1

    def envelope(self, *, producer: Producer, key: str) -> Envelope:
        return Envelope(
            type=self.topic.value,
            version=self.version,
            producer=producer,
            key=key,
            payload=self.model_dump(mode="json"),
        )

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> EventPayload:
        if envelope.type != cls.topic.value:
            raise ValueError(f"expected a {cls.topic.value} event, got {envelope.type}")
        if envelope.version != cls.version:
            raise ValueError(f"unsupported {envelope.type} version {envelope.version}")
        return cls.model_validate(envelope.payload)


# --- ballot.closed -----------------------------------------------------------

BallotKind = Literal[
    "satisfaction",
    "resolution",
    "competitive_selection",
    "nomination_poll",
    "public_vote",
]


class BallotSubject(BaseModel):
    """What a satisfaction ballot judges: one department's special work report."""

    model_config = ConfigDict(extra="forbid")

    department: str
    evaluation_year: int
    vote_round: int = Field(1, ge=1, description="1 for the first vote, 2 for the re-vote, …")


class Tally(BaseModel):
    model_config = ConfigDict(extra="forbid")

    counts: dict[str, int] = Field(description="votes per option code")
    invalid: int = 0
    votes_cast: int
    present: int
    members_total: int
    show_of_hands: bool = False


class BallotOption(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="option code: a grade, yes/no/abstain, or a department name")
    label: str


class QuestionTally(BaseModel):
    """One question of a yes/no/abstain ballot (e.g. one appointee)."""

    model_config = ConfigDict(extra="forbid")

    question_id: str
    text: str
    counts: dict[str, int]
    passed: bool


Constituency = Literal["npc_deputies", "working_committees", "districts_and_enterprises", "public"]


# list_runoff: runners-up tied at the end of a supplementary round's list vote for its last places (no seat is won).
RoundKind = Literal["main", "runoff", "supplementary", "list_runoff"]


class BallotClosed(EventPayload):
    """Any ballot's close. Fields after `closed_at` are optional and filled by
    the kinds they concern (additive within version 1)."""

    topic: ClassVar[Topic] = Topic.BALLOT_CLOSED

    ballot_id: str
    ballot_kind: BallotKind
    meeting_id: str
    meeting_number: str
    meeting_date: dt.date
    subject: BallotSubject | None = None
    tally: Tally
    closed_at: dt.datetime
    # competitive selection, nomination polls and the public vote
    evaluation_year: int | None = None
    plan_id: str | None = None
    batch: int | None = None
    options: list[BallotOption] | None = None
    seats: int | None = None
    winners: list[str] | None = Field(None, description="departments chosen (competitive selection)")
    round_kind: RoundKind | None = None
    parent_ballot_id: str | None = None
    constituency: Constituency | None = None
    # resolutions, review opinions, appointments
    questions: list[QuestionTally] | None = None


# --- score.computed ----------------------------------------------------------

SatisfactionGrade = Literal["satisfied", "basically_satisfied", "unsatisfied"]


class SatisfactionScore(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ballot_id: str
    department: str
    evaluation_year: int
    vote_round: int
    meeting_id: str
    meeting_date: dt.date
    grade: SatisfactionGrade
    grade_label: str
    counts: dict[str, int]
    denominator: int
    denominator_basis: str


class ScoreComputed(EventPayload):
    """A satisfaction ballot graded (满意/基本满意/不满意), or a year plan's batch ranked by its composite score
    with the slate for the competitive selection."""

    topic: ClassVar[Topic] = Topic.SCORE_COMPUTED

    computation_id: str
    kind: Literal["satisfaction", "composite_ranking"]
    satisfaction: SatisfactionScore | None = None
    # composite_ranking: each entry explains one department's score
    plan_id: str | None = None
    evaluation_year: int | None = None
    batch: int | None = None
    seats: int | None = None
    ranking: list[dict[str, Any]] | None = None
    slate: list[str] | None = Field(None, description="candidates for the competitive selection, seats plus surplus")
    surplus_min_percent: int | None = Field(None, description="the plan's competitive ratio: fewest extra candidates, percent of seats")
    surplus_max_percent: int | None = Field(None, description="the plan's competitive ratio: most extra candidates, percent of seats")
    escalation_policy: str | None = Field(None, description="the year plan's step after a second 不满意")
    review_month: int | None = Field(None, ge=1, le=12, description="month of the meeting that hears this batch's reports")


# --- vote.marked_unsatisfied -------------------------------------------------


class VoteMarkedUnsatisfied(EventPayload):
    """A department's special work report was graded 不满意: tracking opens the investigation and the re-report."""

    topic: ClassVar[Topic] = Topic.VOTE_MARKED_UNSATISFIED

    department: str
    evaluation_year: int
    unsatisfied_round: int = Field(ge=1, description="1 for the first 不满意 of this department and year, 2 for the second, …")
    vote_round: int = Field(ge=1)
    ballot_id: str
    meeting_id: str
    meeting_date: dt.date


# --- rereport.scheduled ------------------------------------------------------

RereportMode = Literal["inquiry_or_interpellation", "inquiry", "interpellation"]


class RereportScheduled(EventPayload):
    """A department must re-report, face an inquiry or interpellation, and be voted on again at the next meeting."""

    topic: ClassVar[Topic] = Topic.REREPORT_SCHEDULED

    case_id: str
    department: str
    evaluation_year: int
    vote_round: int = Field(ge=2, description="the round of the re-vote")
    after_meeting_id: str
    after_meeting_date: dt.date
    mode: RereportMode = "inquiry_or_interpellation"
    investigation_id: str | None = None


PAYLOADS: dict[str, type[EventPayload]] = {
    p.topic.value: p for p in (BallotClosed, ScoreComputed, VoteMarkedUnsatisfied, RereportScheduled)
}


# --- who produces what, and what the key is --------------------------------------

PRODUCERS: dict[str, Producer] = {
    Topic.BALLOT_CLOSED.value: "voting",
    Topic.SCORE_COMPUTED.value: "scoring",
    Topic.VOTE_MARKED_UNSATISFIED.value: "scoring",
    Topic.REREPORT_SCHEDULED.value: "tracking",
}

MESSAGE_KEYS: dict[str, str] = {
    Topic.BALLOT_CLOSED.value: "the department of a satisfaction ballot; the year plan id of a selection, nomination or public vote; the meeting id of a resolution",
    Topic.SCORE_COMPUTED.value: "the department (satisfaction) or the year plan id (composite ranking)",
    Topic.VOTE_MARKED_UNSATISFIED.value: "the department, so one department's events stay in order",
    Topic.REREPORT_SCHEDULED.value: "the department, so one department's events stay in order",
}


def topics_produced_by(service: str) -> tuple[str, ...]:
    return tuple(topic for topic, producer in PRODUCERS.items() if producer == service)
