from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.scoring.domain.composite import DEFAULT_WEIGHTS, Normalisation, Source
from shared.web.text import DepartmentName, RequestModel, name, text

# A source's weight in percentage points; the plan's weights sum to 100.
Weight = Annotated[float, Field(ge=0, le=100)]
Department = DepartmentName
# What follows a second 不满意 (BRIEF §1.6); tracking applies it.
EscalationPolicy = Literal["written_self_examination", "admonition_talk", "interpellation_motion", "disciplinary_recommendation"]


class BatchIn(RequestModel):
    batch: int = Field(ge=1, le=12, description="the batch's number, 1-12, unique in the plan")
    selection_month: int = Field(ge=1, le=12, description="month of the meeting that chooses this batch")
    seats: int = Field(ge=1, le=100, description="departments the batch's selection chooses, 1-100")
    review_month: int = Field(ge=1, le=12, description="month of the meeting that hears the reports")


def _default_batches() -> list[BatchIn]:
    return [
        BatchIn(batch=1, selection_month=2, seats=6, review_month=8),
        BatchIn(batch=2, selection_month=4, seats=6, review_month=10),
    ]


class YearPlanCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "evaluation_year": 2021,
            "title": "淄博市人大常委会2021年度专项工作评议工作方案",
            "batches": [
                {"batch": 1, "selection_month": 2, "seats": 3, "review_month": 8},
                {"batch": 2, "selection_month": 4, "seats": 3, "review_month": 10},
            ],
            "weights": {
                "net_complaints": 35,
                "npc_deputies": 20,
                "working_committees": 20,
                "districts_and_enterprises": 15,
                "public": 10,
            },
            "departments": [
                "淄博市住房和城乡建设局",
                "淄博市教育局",
                "淄博市卫生健康委员会",
                "淄博市生态环境局",
                "淄博市市场监督管理局",
                "淄博市交通运输局",
                "淄博市人力资源和社会保障局",
                "淄博市自然资源和规划局",
            ],
            "satisfaction_denominator": "all_members",
            "satisfaction_grades": 3,
            "escalation_policy": "written_self_examination",
        },
    ]})

    evaluation_year: int = Field(ge=2000, le=2100,
                                 description="the year evaluated, 2000-2100; one plan per year; public")
    title: text(200) = Field("", description="the plan's title (at most 200 characters), e.g. 2021年度专项工作评议工作方案; "
                                             "public")
    batches: list[BatchIn] = Field(default_factory=_default_batches, min_length=1, max_length=12,
                                   description="the batches, 1-12 (default: two, chosen in February and April, "
                                               "reviewed in August and October); public")
    weights: dict[Source, Weight] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS), description="percentage points, must sum to 100")
    departments: list[Department] = Field(default_factory=list, max_length=500, description="candidate departments")
    normalisation: Normalisation = Field("min_max", description="how raw figures become 0-1 before weighting: "
                                                                "min_max or rank")
    surplus_min_percent: int = Field(20, ge=0, le=200,
                                     description="competitive ratio floor (percent, 0-200, default 20): how many "
                                                 "more candidates than seats a supplementary round has")
    surplus_max_percent: int = Field(50, ge=0, le=200,
                                     description="competitive ratio cap (percent, 0-200, default 50), at least "
                                                 "surplus_min_percent")
    satisfaction_denominator: Literal["all_members", "present", "valid_votes"] = Field("all_members", description="the base of a satisfaction grade: "
                                                                                                                  "all_members (全体组成人员), present (出席人数) or "
                                                                                                                  "valid_votes (有效票)")
    satisfaction_grades: Literal[2, 3] = Field(3, description="3: 满意 / 基本满意 / 不满意; 2: 满意 / 不满意")
    escalation_policy: EscalationPolicy = Field("written_self_examination", description="what follows a second 不满意: "
                                                                                        "written_self_examination (书面检查), "
                                                                                        "admonition_talk (约谈), "
                                                                                        "interpellation_motion (质询案) or "
                                                                                        "disciplinary_recommendation (建议有关机关依法处理); "
                                                                                        "tracking applies it")


class YearPlanUpdate(RequestModel):
    """The fields to change; an omitted field keeps its value. The evaluation
    year is the plan's identity and cannot change. The merged plan is checked
    like a new one (weights sum to 100, departments, batches, surplus range)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "weights": {
                "net_complaints": 40,
                "npc_deputies": 20,
                "working_committees": 15,
                "districts_and_enterprises": 15,
                "public": 10,
            },
        },
    ]})

    # Declared without `| None`: a field may be omitted, not set to null.
    title: name(200) = Field(None, description="the new title (1-200 characters)")
    batches: list[BatchIn] = Field(None, min_length=1, max_length=12, description="the new batches, 1-12")
    weights: dict[Source, Weight] = Field(None, description="percentage points, must sum to 100")
    departments: list[Department] = Field(None, max_length=500, description="candidate departments")
    normalisation: Normalisation = Field(None, description="min_max or rank")
    surplus_min_percent: int = Field(None, ge=0, le=200, description="competitive ratio floor, percent, 0-200")
    surplus_max_percent: int = Field(None, ge=0, le=200, description="competitive ratio cap, percent, 0-200")
    satisfaction_denominator: Literal["all_members", "present", "valid_votes"] = Field(None,
                                                                                       description="the base of a satisfaction grade: "
                                                                                                   "all_members (全体组成人员), present (出席人数) or "
                                                                                                   "valid_votes (有效票)")
    satisfaction_grades: Literal[2, 3] = Field(None, description="3 or 2 grades")
    escalation_policy: EscalationPolicy = Field(None,
                                                description="what follows a second 不满意: written_self_examination "
                                                            "(书面检查), admonition_talk (约谈), interpellation_motion "
                                                            "(质询案) or disciplinary_recommendation (建议有关机关依法处理); tracking "
                                                            "applies it")


class BatchOut(BaseModel):
    batch: int = Field(description="the batch's number; public")
    selection_month: int = Field(description="month (1-12) of the meeting that chooses this batch; public")
    seats: int = Field(description="departments the batch's selection chooses; public")
    review_month: int = Field(description="month (1-12) of the meeting that hears the reports; public")


class YearPlanOut(BaseModel):
    id: str = Field(description="the plan's id (UUID)")
    evaluation_year: int = Field(description="the year evaluated")
    title: str = Field(description="the plan's title")
    batches: list[BatchOut] = Field(description="the batches")
    weights: dict[str, float] = Field(description="source -> weight in percentage points (sum 100)")
    departments: list[str] = Field(description="the candidate departments")
    normalisation: str = Field(description="min_max or rank")
    surplus_min_percent: int = Field(description="competitive ratio floor, percent")
    surplus_max_percent: int = Field(description="competitive ratio cap, percent")
    satisfaction_denominator: str = Field(description="the base of a satisfaction grade: all_members (全体组成人员), "
                                                      "present (出席人数) or valid_votes (有效票)")
    satisfaction_grades: int = Field(description="3 or 2 grades")
    escalation_policy: str = Field(description="what follows a second 不满意: written_self_examination (书面检查), "
                                               "admonition_talk (约谈), interpellation_motion (质询案) or "
                                               "disciplinary_recommendation (建议有关机关依法处理); tracking applies it")
    created_at: dt.datetime = Field(description="when the plan was created (ISO 8601, UTC)")
