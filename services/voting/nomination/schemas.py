from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from services.voting.ballots.schemas import UNIQUE_ITEMS, distinct
from shared.text import DepartmentName, Identifier, PersonName, RequestModel, name

# The four constituencies whose polls feed the composite score; the public votes online.
PollConstituency = Literal["npc_deputies", "working_committees", "districts_and_enterprises"]
CONSTITUENCY_LABELS = {
    "npc_deputies": "人大代表",
    "working_committees": "常委会有关委室",
    "districts_and_enterprises": "市直、各区县人大及驻淄企业",
}


class PollVoterIn(RequestModel):
    voter_id: Identifier
    name: PersonName


class NominationPollCreate(RequestModel):
    """A nomination poll (推荐投票) of one constituency: each voter on its roster
    chooses up to `max_choices` departments. `meeting_id`: the meeting whose
    competitive selection the poll feeds."""

    meeting_id: Identifier
    constituency: PollConstituency
    title: name(500) | None = None
    evaluation_year: int = Field(ge=2000, le=2100)
    plan_id: Identifier | None = None
    batch: int | None = Field(None, ge=1, le=12)
    departments: list[DepartmentName] = Field(min_length=2, max_length=200, json_schema_extra=UNIQUE_ITEMS)
    max_choices: int = Field(ge=1, le=100)
    voters: list[PollVoterIn] = Field(min_length=1, max_length=5000)

    @field_validator("departments")
    @classmethod
    def _distinct_departments(cls, departments: list[str]) -> list[str]:
        return distinct(departments, "a department")

    # Rules across fields or entries (JSON Schema cannot say them): inconsistent-request.
    @model_validator(mode="after")
    def _distinct_voters(self) -> NominationPollCreate:
        ids = [v.voter_id for v in self.voters]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"voters: voter_id listed twice: {', '.join(duplicates)}")
        return self

    @model_validator(mode="after")
    def _choices_fewer_than_departments(self) -> NominationPollCreate:
        if self.max_choices > len(self.departments):
            raise ValueError("max_choices cannot exceed the number of departments")
        return self
