from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from services.voting.ballots.schemas import UNIQUE_ITEMS, distinct
from shared.web.text import DepartmentName, Identifier, PersonName, RequestModel, name

# The four constituencies whose polls feed the composite score; the public votes online.
PollConstituency = Literal["npc_deputies", "working_committees", "districts_and_enterprises"]
CONSTITUENCY_LABELS = {
    "npc_deputies": "人大代表",
    "working_committees": "常委会有关委室",
    "districts_and_enterprises": "市直、各区县人大及驻淄企业",
}


class PollVoterIn(RequestModel):
    voter_id: Identifier = Field(description="the voter's id in the clerk's system (1-100 characters), unique in "
                                             "the poll; their member token names it")
    name: PersonName = Field(description="the voter's name (1-100 characters); not public")


class NominationPollCreate(RequestModel):
    """A nomination poll (推荐投票) of one constituency: each voter on its roster
    chooses up to `max_choices` departments. `meeting_id`: the meeting whose
    competitive selection the poll feeds."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "meeting_id": "3f2b8c1e-7d4a-4e8b-9c21-5a6f0d9e1b42",
            "constituency": "npc_deputies",
            "evaluation_year": 2021,
            "plan_id": "b6a1c9e2-3d4f-4a5b-8c6d-7e8f9a0b1c2d",
            "batch": 1,
            "departments": ["淄博市住房和城乡建设局", "淄博市教育局", "淄博市卫生健康委员会", "淄博市生态环境局", "淄博市市场监督管理局"],
            "max_choices": 3,
            "voters": [
                {"voter_id": "db001", "name": "孙立新"},
                {"voter_id": "db002", "name": "周晓燕"},
                {"voter_id": "db003", "name": "吴国栋"},
            ],
        },
    ]})

    meeting_id: Identifier = Field(description="the meeting whose competitive selection the poll feeds; voters' "
                                               "tokens are issued for it")
    constituency: PollConstituency = Field(description="who votes: npc_deputies (人大代表), working_committees "
                                                       "(常委会有关委室) or districts_and_enterprises (市直、各区县人大及驻淄企业)")
    title: name(500) | None = Field(None, description="the poll's title (1-500 characters); default: "
                                                      "<year>年度专项工作评议对象推荐投票（<constituency>）; public")
    evaluation_year: int = Field(ge=2000, le=2100, description="the evaluation year, 2000-2100")
    plan_id: Identifier | None = Field(None, description="scoring's year plan the poll counts towards")
    batch: int | None = Field(None, ge=1, le=12, description="the plan's batch, 1-12")
    departments: list[DepartmentName] = Field(min_length=2, max_length=200, json_schema_extra=UNIQUE_ITEMS,
                                              description="the departments to choose from, 2-200, distinct; public")
    max_choices: int = Field(ge=1, le=100,
                             description="departments a voter may choose, 1-100, at most the number of departments")
    voters: list[PollVoterIn] = Field(min_length=1, max_length=5000,
                                      description="the poll's roster, 1-5000 voters, each voter_id once")

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
