from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from shared.web.text import RequestModel, mapping, name


class SourceFiguresSubmit(RequestModel):
    """Raw figures of one source, e.g. working committees' opinions as scores."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "figures": {"淄博市住房和城乡建设局": 86.5, "淄博市教育局": 78.0, "淄博市卫生健康委员会": 81.5, "淄博市生态环境局": 74.0, "淄博市市场监督管理局": 69.5},
            "submitted_by": "淄博市人大常委会城乡建设环境保护工作委员会",
        },
    ]})

    figures: mapping(float, max_length=500, key_max_length=200, names=True) = Field(description="department → raw figure (votes, score or net complaints)")
    submitted_by: name(150) = Field(description="who submits (integrator or office)")


class SourceFiguresOut(BaseModel):
    plan_id: str = Field(description="the year plan")
    batch: int = Field(description="the plan's batch")
    source: str = Field(description="the source")
    figures: dict[str, float] = Field(description="department -> raw figure")
    submitted_by: str = Field(description="who submitted them")
    updated_at: dt.datetime = Field(description="when they were last changed (ISO 8601, UTC)")


class ContributionOut(BaseModel):
    source: str = Field(description="net_complaints, npc_deputies, working_committees, districts_and_enterprises or"
                                    " public")
    source_label: str = Field(description="the source in Chinese, e.g. 12345热线群众净投诉量")
    raw: float = Field(description="the department's raw figure from the source (net complaints count against it)")
    normalised: float = Field(description="the figure normalised to 0-1 under the plan's normalisation")
    weight: float = Field(description="the source's weight, percentage points")
    contribution: float = Field(description="normalised × weight: the points it adds to the score")


class RankedDepartmentOut(BaseModel):
    rank: int = Field(description="place in the ranking, from 1 (tied scores share a rank)")
    department: str = Field(description="the candidate department")
    score: float = Field(description="the composite score, 0-100: the sum of the contributions")
    on_slate: bool = Field(description="among the candidates put to the selection vote")
    explanation: list[ContributionOut] = Field(description="each source's contribution to the score")


class ComputationOut(BaseModel):
    id: str = Field(description="the computation's id (UUID), also score.computed's computation_id")
    plan_id: str = Field(description="the year plan")
    batch: int = Field(description="the plan's batch")
    seats: int = Field(description="the batch's seats")
    triggered_by: str = Field(description="what caused it: figures submitted, a plan change, a poll's close")
    inputs: dict = Field(description="the figures and weights it was computed from, kept for audit")
    ranking: list[RankedDepartmentOut] = Field(description="the departments, best score first")
    slate: list[str] = Field(description="the candidates for the selection vote, in ranking order")
    computed_at: dt.datetime = Field(description="when it was computed (ISO 8601, UTC)")


class WeightSensitivityOut(BaseModel):
    source: str = Field(description="the source")
    weight: float = Field(description="its weight now, percentage points")
    increase_until_change: float | None = Field(description="smallest rise in points (0.5 steps) that changes the slate; null if none")
    decrease_until_change: float | None = Field(description="smallest fall in points (0.5 steps) that changes the "
                                                            "slate; null if none")
    slate_plus_5: list[str] | None = Field(description="the slate with this weight 5 points higher (others "
                                                       "rescaled); null if impossible")
    slate_minus_5: list[str] | None = Field(description="the slate with this weight 5 points lower; null if "
                                                        "impossible")


class SensitivityOut(BaseModel):
    plan_id: str = Field(description="the year plan")
    batch: int = Field(description="the plan's batch")
    computation_id: str = Field(description="the latest computation it starts from")
    slate: list[str] = Field(description="that computation's slate")
    weights: list[WeightSensitivityOut] = Field(description="one entry per source")
