from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from shared.web.text import DepartmentName, RequestModel

if TYPE_CHECKING:
    from services.scoring.hotline.service import ImportSummary


class RejectedRowOut(BaseModel):
    line: int = Field(description="the file's line number (1: the header)")
    order_id: str | None = Field(description="the row's 工单编号, if it could be read")
    reason: str = Field(description="why the row was refused (a missing field, a bad time, an unknown request "
                                    "type…)")


class ImportSummaryOut(BaseModel):
    accepted: int = Field(description="new orders stored")
    updated: int = Field(description="orders stored before whose fields changed")
    unchanged: int = Field(description="orders stored before with the same fields")
    rejected: int = Field(description="rows refused (nothing stored for them)")
    rejections: list[RejectedRowOut] = Field(description="line and reason; the first 1000")
    unmatched_departments: list[str] = Field(description="names no alias or plan maps; map them with /v1/hotline/department-aliases")


def summary_out(summary: ImportSummary) -> ImportSummaryOut:
    return ImportSummaryOut(
        accepted=summary.accepted,
        updated=summary.updated,
        unchanged=summary.unchanged,
        rejected=summary.rejected,
        rejections=[RejectedRowOut(line=r.line, order_id=r.order_id, reason=r.reason) for r in summary.rejections],
        unmatched_departments=summary.unmatched_departments,
    )


class AliasCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"alias": "市住建局", "department": "淄博市住房和城乡建设局"}]})

    alias: DepartmentName = Field(examples=["市教育局"],
                                  description="the name as 12345 work orders write it, e.g. 市教育局 (1-200 "
                                              "characters), unique")
    department: DepartmentName = Field(examples=["淄博市教育局"],
                                       description="the plan's department it stands for (1-200 characters); a "
                                                   "department's key maps to its own only")


class AliasOut(BaseModel):
    alias: str = Field(description="the hotline's name")
    department: str = Field(description="the department it is counted for")
    created_at: dt.datetime = Field(description="when it was mapped (ISO 8601, UTC)")


class UnmatchedNameOut(BaseModel):
    name: str = Field(description="a final-department name no alias or plan maps")
    orders: int = Field(description="work orders naming it")


class NetComplaintsOut(BaseModel):
    department: str = Field(description="the department")
    net_complaints: int = Field(description="群众净投诉量: complaints left after every exclusion")
    received: int = Field(description="work orders received for it in the period")
    excluded: dict[str, int] = Field(description="every exclusion counted: consultation, suggestion, help, invalid, duplicate, unfounded, redispatched_away")


class NetComplaintsReport(BaseModel):
    start: dt.datetime | None = Field(description="the period's start (received at or after, UTC); null: from the "
                                                  "first order")
    end: dt.datetime | None = Field(description="the period's end (received before, UTC); null: to the last order")
    departments: list[NetComplaintsOut] = Field(description="each department's count, most net complaints first")
    unmatched: list[UnmatchedNameOut] = Field(description="names not yet mapped to a department, most orders first")
