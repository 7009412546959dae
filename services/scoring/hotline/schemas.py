from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from shared.text import DepartmentName, RequestModel


class RejectedRowOut(BaseModel):
    line: int
    order_id: str | None
    reason: str


class ImportSummaryOut(BaseModel):
    accepted: int = Field(description="new orders stored")
    updated: int = Field(description="orders stored before whose fields changed")
    unchanged: int
    rejected: int
    rejections: list[RejectedRowOut] = Field(description="line and reason; the first 1000")
    unmatched_departments: list[str] = Field(description="names no alias or plan maps; map them with /v1/hotline/department-aliases")


class AliasCreate(RequestModel):
    alias: DepartmentName = Field(examples=["市教育局"])
    department: DepartmentName = Field(examples=["淄博市教育局"])


class AliasOut(BaseModel):
    alias: str
    department: str
    created_at: dt.datetime


class UnmatchedNameOut(BaseModel):
    name: str
    orders: int


class NetComplaintsOut(BaseModel):
    department: str
    net_complaints: int
    received: int
    excluded: dict[str, int] = Field(description="every exclusion counted: consultation, suggestion, help, invalid, duplicate, unfounded, redispatched_away")


class NetComplaintsReport(BaseModel):
    start: dt.datetime | None
    end: dt.datetime | None
    departments: list[NetComplaintsOut]
    unmatched: list[UnmatchedNameOut]
