from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.voting.ballots.schemas import OptionCount
from shared.web.text import DateTime, DepartmentName, Identifier, RequestModel, name


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A department's name: 1 to 200 characters, not only spaces.
OptionName = DepartmentName
# A voting pass from POST /v1/public-polls/{poll_id}/verifications.
PassToken = Annotated[str, StringConstraints(min_length=1, max_length=1_000)]


class PublicPollCreate(RequestModel):
    """An online public vote on candidate departments; `meeting_id`: the meeting whose
    competitive selection it feeds. Options must be distinct (`duplicate-options`)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "meeting_id": "3f2b8c1e-7d4a-4e8b-9c21-5a6f0d9e1b42",
            "title": "2021年度专项工作评议对象网上社会投票",
            "evaluation_year": 2021,
            "plan_id": "b6a1c9e2-3d4f-4a5b-8c6d-7e8f9a0b1c2d",
            "batch": 1,
            "options": ["淄博市住房和城乡建设局", "淄博市教育局", "淄博市卫生健康委员会", "淄博市生态环境局", "淄博市市场监督管理局"],
            "max_choices": 3,
            "opens_at": "2021-02-01T08:00:00+08:00",
            "closes_at": "2021-02-10T18:00:00+08:00",
        },
    ]})

    meeting_id: Identifier = Field(description="the meeting whose competitive selection the vote feeds")
    title: name(500) | None = Field(None, description="the vote's title (1-500 characters); default from the year; "
                                                      "public")
    evaluation_year: int = Field(ge=2000, le=2100, description="the evaluation year, 2000-2100; public")
    plan_id: Identifier | None = Field(None, description="scoring's year plan the result counts towards")
    batch: int | None = Field(None, ge=1, le=12, description="the plan's batch, 1-12")
    options: list[OptionName] = Field(min_length=2, max_length=200, json_schema_extra={"uniqueItems": True},
                                      description="the candidate departments, 2-200, distinct; public")
    max_choices: int = Field(ge=1, le=100,
                             description="departments a citizen may choose, 1-100, at most the options; public")
    opens_at: DateTime = Field(description="when voting opens (ISO 8601 with offset, e.g. "
                                           "2021-02-01T08:00:00+08:00); public")
    closes_at: DateTime = Field(description="when voting closes, after opens_at (ISO 8601 with offset); public")

    @model_validator(mode="after")
    def _consistent(self) -> PublicPollCreate:
        if self.closes_at <= self.opens_at:
            raise ValueError("closes_at must be after opens_at")
        if self.max_choices > len(self.options):
            raise ValueError("max_choices cannot exceed the number of options")
        return self


class PublicPollSchedule(RequestModel):
    """Move the scheduled open or close (e.g. close now) before the poll is tallied."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"closes_at": "2021-02-12T18:00:00+08:00"}]})

    opens_at: DateTime | None = Field(None, description="the new opening time (ISO 8601 with offset); omitted: "
                                                        "unchanged")
    closes_at: DateTime | None = Field(None, description="the new closing time (ISO 8601 with offset), after the "
                                                         "opening; omitted: unchanged")


class PassIn(StrictModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra={"examples": [{"pass": "vp1.eyJwb2xsIjoiYjNkMiJ9.Qm9ndXNFeGFtcGxlU2lnbmF0dXJl"}]})

    pass_: PassToken | None = Field(None, alias="pass", description=(
        "the voting pass from POST /v1/public-polls/{poll_id}/verifications (SMS code or government ID token); "
        "without a valid one: 401 verification-required"))


class PublicVoteCast(PassIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"pass": "vp1.eyJwb2xsIjoiYjNkMiJ9.Qm9ndXNFeGFtcGxlU2lnbmF0dXJl", "choices": ["淄博市住房和城乡建设局", "淄博市教育局"]}]})

    choices: list[OptionName] = Field(min_length=1, max_length=100, json_schema_extra={"uniqueItems": True},
                                      description="distinct options (`duplicate-choices`), at most the poll's max_choices")


class BallotPaper(BaseModel):
    poll_id: str = Field(description="the public vote")
    max_choices: int = Field(description="departments this voter may choose")
    options: list[str] = Field(description="in this voter's own random order")


class PublicVoteAccepted(BaseModel):
    poll_id: str = Field(description="the public vote")
    accepted: bool = Field(True, description="always true: the vote is committed (it is counted at the tally)")


PollStatus = Literal["scheduled", "open", "closed", "tallied"]


class Turnout(BaseModel):
    poll_id: str = Field(description="the public vote; public")
    status: PollStatus = Field(description="scheduled, open, closed (waiting for the tally) or tallied; public")
    votes_cast: int = Field(description="votes committed so far; public")
    opens_at: dt.datetime = Field(description="when voting opens (ISO 8601, UTC); public")
    closes_at: dt.datetime = Field(description="when voting closes (ISO 8601, UTC); public")


class PublicPollOut(BaseModel):
    id: str = Field(description="the public vote's id (UUID); public")
    meeting_id: str = Field(description="the meeting whose selection it feeds; public")
    title: str = Field(description="the vote's title; public")
    evaluation_year: int = Field(description="the evaluation year; public")
    plan_id: str | None = Field(description="the year plan; null if none; public")
    batch: int | None = Field(description="the plan's batch; null if none; public")
    options: list[str] = Field(description="the candidate departments, in the order set; public")
    max_choices: int = Field(description="departments a citizen may choose; public")
    opens_at: dt.datetime = Field(description="when voting opens (ISO 8601, UTC); public")
    closes_at: dt.datetime = Field(description="when voting closes (ISO 8601, UTC); public")
    status: PollStatus = Field(description="scheduled, open, closed (waiting for the tally) or tallied; public")
    votes_cast: int = Field(description="votes committed so far; public")
    results: list[OptionCount] | None = Field(None, description="only once tallied after the close")
    tallied_at: dt.datetime | None = Field(description="when it was tallied (ISO 8601, UTC); null until then; "
                                                       "public")
