from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.voting.ballots.schemas import UNIQUE_ITEMS, FloorRule, distinct
from shared.web.text import DepartmentName, Identifier, RequestModel, name


class SlateRef(RequestModel):
    plan_id: Identifier = Field(description="scoring's year plan whose latest slate gives the candidates")
    batch: int | None = Field(None, ge=1, le=12,
                              description="the plan's batch, 1-12; null: the plan's slate without a batch")


class SelectionBallotCreate(RequestModel):
    """A competitive selection (差额票决) of evaluation targets: give `candidates`, or
    `slate` to take them (and by default the seats) from scoring's latest slate."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "title": "2021年度专项工作评议对象差额票决（第一批）",
            "evaluation_year": 2021,
            "candidates": ["淄博市住房和城乡建设局", "淄博市教育局", "淄博市卫生健康委员会", "淄博市生态环境局", "淄博市市场监督管理局"],
            "seats": 3,
        },
        {"slate": {"plan_id": "b6a1c9e2-3d4f-4a5b-8c6d-7e8f9a0b1c2d", "batch": 1}},
    ]})

    agenda_item_id: Identifier | None = Field(None, description="an agenda item of this meeting the ballot belongs "
                                                                "to; it can give the evaluation year")
    title: name(500) | None = Field(None, description="the ballot's title (1-500 characters); default: "
                                                      "<year>年度专项工作评议对象差额票决; public")
    evaluation_year: int | None = Field(None, ge=2000, le=2100,
                                        description="the evaluation year, 2000-2100; default: the slate's, else the"
                                                    " agenda item's")
    candidates: list[DepartmentName] | None = Field(None, min_length=2, max_length=100, json_schema_extra=UNIQUE_ITEMS,
                                                    description="the candidate departments in ballot order, 2-100, "
                                                                "distinct; give these or `slate`; public")
    slate: SlateRef | None = Field(None, description="take the candidates (and, by default, seats and ratios) from "
                                                     "scoring's latest slate for this plan and batch")
    seats: int | None = Field(None, ge=1, le=99,
                              description="departments to choose, 1-99, fewer than the candidates; default: the "
                                          "slate's")
    floor_rule: FloorRule = Field("majority_of_members", description="default: more than half of all members; or plurality")
    surplus_min_percent: int | None = Field(None, ge=0, le=200, description="competitive ratio for a supplementary round (default: the slate's plan, else 20)")
    surplus_max_percent: int | None = Field(None, ge=0, le=200, description="competitive ratio for a supplementary round (default: the slate's plan, else 50)")

    @field_validator("candidates")
    @classmethod
    def _distinct(cls, candidates: list[str] | None) -> list[str] | None:
        return distinct(candidates, "a candidate")


class SlateOut(BaseModel):
    plan_id: str = Field(description="the year plan the slate is for")
    batch: int | None = Field(description="the plan's batch; null if the plan has none")
    evaluation_year: int | None = Field(description="the evaluation year")
    seats: int | None = Field(description="departments the selection chooses; null if the plan does not say")
    candidates: list[str] = Field(description="the candidate departments, in ranking order")
    surplus_min_percent: int | None = Field(None, description="the plan's competitive ratio floor (percent) for a "
                                                              "supplementary round")
    surplus_max_percent: int | None = Field(None, description="the plan's competitive ratio cap (percent) for a "
                                                              "supplementary round")
    computation_id: str = Field(description="the score.computed computation the slate came from")
    computed_at: dt.datetime = Field(description="when scoring computed it (ISO 8601, UTC)")
