from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.voting.ballots.schemas import OptionCount
from shared.text import DateTime, DepartmentName, Identifier, RequestModel, name


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A department's name: 1 to 200 characters, not only spaces.
OptionName = DepartmentName
# A voting pass from POST /v1/public-polls/{poll_id}/verifications.
PassToken = Annotated[str, StringConstraints(min_length=1, max_length=1_000)]


class PublicPollCreate(RequestModel):
    """An online public vote on candidate departments; `meeting_id`: the meeting whose
    competitive selection it feeds. Options must be distinct (`duplicate-options`)."""

    meeting_id: Identifier
    title: name(500) | None = None
    evaluation_year: int = Field(ge=2000, le=2100)
    plan_id: Identifier | None = None
    batch: int | None = Field(None, ge=1, le=12)
    options: list[OptionName] = Field(min_length=2, max_length=200, json_schema_extra={"uniqueItems": True})
    max_choices: int = Field(ge=1, le=100)
    opens_at: DateTime
    closes_at: DateTime

    @model_validator(mode="after")
    def _consistent(self) -> PublicPollCreate:
        if self.closes_at <= self.opens_at:
            raise ValueError("closes_at must be after opens_at")
        if self.max_choices > len(self.options):
            raise ValueError("max_choices cannot exceed the number of options")
        return self


class PublicPollSchedule(RequestModel):
    """Move the scheduled open or close (e.g. close now) before the poll is tallied."""

    opens_at: DateTime | None = None
    closes_at: DateTime | None = None


class PassIn(StrictModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    pass_: PassToken | None = Field(None, alias="pass", description=(
        "the voting pass from POST /v1/public-polls/{poll_id}/verifications (SMS code or government ID token); "
        "without a valid one: 401 verification-required"))


class PublicVoteCast(PassIn):
    choices: list[OptionName] = Field(min_length=1, max_length=100, json_schema_extra={"uniqueItems": True},
                                      description="distinct options (`duplicate-choices`), at most the poll's max_choices")


class BallotPaper(BaseModel):
    poll_id: str
    max_choices: int
    options: list[str] = Field(description="in this voter's own random order")


class PublicVoteAccepted(BaseModel):
    poll_id: str
    accepted: bool = True


PollStatus = Literal["scheduled", "open", "closed", "tallied"]


class Turnout(BaseModel):
    poll_id: str
    status: PollStatus
    votes_cast: int
    opens_at: dt.datetime
    closes_at: dt.datetime


class PublicPollOut(BaseModel):
    id: str
    meeting_id: str
    title: str
    evaluation_year: int
    plan_id: str | None
    batch: int | None
    options: list[str]
    max_choices: int
    opens_at: dt.datetime
    closes_at: dt.datetime
    status: PollStatus
    votes_cast: int
    results: list[OptionCount] | None = Field(None, description="only once tallied after the close")
    tallied_at: dt.datetime | None
